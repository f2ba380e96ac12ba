"""The one-screen summary printed after an audit."""

from __future__ import annotations

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from audit.spec.names import MANIFEST_NAME
from audit.spec.report import Finding, Report

STYLE = {"pass": "green", "fail": "red", "partial": "yellow", "skipped": "dim"}
SEGMENT_STYLE = {"bit-exact": "green", "within-tolerance": "yellow", "mismatch": "red", "skipped": "dim",
                 "error": "red"}  # fmt: skip
MAX_FINDINGS = 12
MAX_ALSO = 3  # consequences shown under their root cause


def _consequences(findings: list[Finding]) -> dict[tuple[str, str | None], list[Finding]]:
    """Root cause (id, path) → the findings that follow from it."""
    out: dict[tuple[str, str | None], list[Finding]] = {}
    for f in findings:
        if f.cause is not None:
            out.setdefault((f.cause.id, f.cause.path), []).append(f)
    return out


def print_summary(report: Report, console: Console) -> None:
    table = Table(title=f"LLM360 audit: {report.release.name or report.release.path}", title_justify="left")
    table.add_column("criterion")
    table.add_column("status")
    table.add_column("summary", overflow="fold")
    for cid, res in report.criteria.items():
        table.add_row(cid, f"[{STYLE[res.status]}]{res.status}[/]", res.summary)
    console.print(table)
    for seg in report.replay.segments:
        detail = seg.reason or (f"{seg.tensors_compared} tensors equal" if seg.status == "bit-exact" else "")
        if seg.first_divergent_step is not None:
            detail = f"first divergent step {seg.first_divergent_step}, max abs diff {seg.max_abs_diff:g}; {detail}"
        console.print(f"replay {seg.start_step}→{seg.end_step}: [{SEGMENT_STYLE[seg.status]}]{seg.status}[/] {detail}",
                      highlight=False, soft_wrap=True)  # fmt: skip
    listed = [f for f in report.findings if f.severity != "info"]
    shown = [f for f in listed if f.cause is None][:MAX_FINDINGS]
    following = _consequences(report.findings)  # notes too: "replay 8→12 skipped" follows from a missing file
    explained: set[str] = set()
    for f in shown:  # as ruff and pytest print them: where, severity, rule, message; then what to do, once per rule
        colour = "dim" if f.waiver else "red" if f.severity == "error" else "yellow"
        where = (f.path or MANIFEST_NAME) + (f":{f.line}" if f.line else "")
        label = f"{f.severity} (waived)" if f.waiver else f.severity  # not counted below: the policy waives it
        console.print(f"{escape(where)}: [{colour}]{label}[/] {f.id}: {escape(f.message)}",
                      highlight=False, soft_wrap=True)  # fmt: skip
        if f.remediation and f.id not in explained and not f.waiver:
            explained.add(f.id)
            console.print(f"  fix: {escape(f.remediation)}", highlight=False, soft_wrap=True)
        also = following.get((f.id, f.path), [])
        for c in also[:MAX_ALSO]:
            console.print(f"  also: {c.id}: {escape(c.message)}", highlight=False, soft_wrap=True)
        if len(also) > MAX_ALSO:
            console.print(f"  also: … and {len(also) - MAX_ALSO} more following from it", highlight=False)
    told = {id(c) for f in shown for c in following.get((f.id, f.path), [])}
    rest = len(listed) - len(shown) - sum(1 for f in listed if id(f) in told)
    if rest > 0:
        console.print(f"… and {rest} more finding(s) in the report", highlight=False)
    if report.partial_note():
        console.print(f"[yellow]{report.partial_note()}[/]", highlight=False, soft_wrap=True)
    c = report.counts()
    colour = "green" if report.verdict == "pass" else "red"
    console.print(
        f"[bold {colour}]{report.verdict.upper()}[/] · level {report.level} · "
        f"{c['error']} error(s), {c['warning']} warning(s)" + (f", {c['waived']} waived" if c.get("waived") else ""),
        highlight=False,
    )
    if report.sample_note():
        console.print(f"sampled: {escape(report.sample_note())} (--replay all replays every segment)",
                      highlight=False, soft_wrap=True)  # fmt: skip
