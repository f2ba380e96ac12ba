"""``llm360-audit rules [--explain RULE]``: every rule the audit can report, or one rule's rationale and fix."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from audit.cli.root import app, usage


@app.command("rules", short_help="List the rules, or explain one.")
def rules_cmd(
    explain: Annotated[Optional[str], typer.Option(
        metavar="RULE", help="Show the rationale and the fix of one rule id (e.g. checkpoints.sha256-mismatch).")] = None,
) -> None:
    """List every rule id the audit can report (severity, criterion, check), or explain one."""
    from audit.spec.rules import catalog, find

    if explain is None:
        for info in catalog():
            print(f"{info.rule.id:44s} {info.rule.severity:8s} {info.criterion:22s} {info.title}")
        return
    info = find(explain)
    if info is None:
        raise usage(f"unknown rule {explain!r}; `llm360-audit rules` lists them")
    print(f"{info.rule.id} ({info.rule.severity}, criterion {info.criterion}: {info.title})\n")
    print(f"why: {info.rationale}")
    print(f"fix: {info.rule.remediation}")
