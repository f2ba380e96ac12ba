"""Command line: one module per command, each parsing its options into the core's objects, running
them, printing and exiting. Exit codes: 0 pass, 1 fail, 2 usage, 3 internal, 130 interrupted."""

from __future__ import annotations

import sys
from typing import Annotated, Optional

import typer

from audit import __version__, interrupts
from audit.cli import audit_cmd, example_cmd, init_cmd, merge_cmd, rules_cmd, verify_cmd  # noqa: F401  (each registers its command)
from audit.cli.root import EXIT_INTERNAL, EXIT_INTERRUPTED, EXIT_PASS, EXIT_USAGE, app, err

SUBCOMMANDS = {"audit", "init", "merge", "example", "rules", "verify"}


def _version(show: bool) -> None:
    if show:
        print(f"llm360-audit {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[Optional[bool], typer.Option("--version", callback=_version, is_eager=True,
                                                    help="Print the version and exit.")] = None,
) -> None:
    pass


def main(argv: list[str] | None = None) -> int:
    """Entry point: ``llm360-audit RELEASE ...`` means ``llm360-audit audit RELEASE ...``."""
    interrupts.install()  # SIGTERM is handled like Ctrl-C: a clean message, no report
    args = list(sys.argv[1:] if argv is None else argv)
    if args[:1] == ["-h"]:
        args[0] = "--help"
    if args and args[0] == "--explain":  # `llm360-audit --explain RULE` = `llm360-audit rules --explain RULE`
        args.insert(0, "rules")
    if args and args[0] not in SUBCOMMANDS and args[0] not in ("--help", "-h", "--version"):
        args.insert(0, "audit")
    try:  # standalone mode: usage errors exit 2, typer.Exit carries our codes, both as SystemExit
        app(args=args, prog_name="llm360-audit")
        code = EXIT_PASS
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (EXIT_PASS if exc.code is None else EXIT_USAGE)
    except KeyboardInterrupt:
        code = EXIT_INTERRUPTED
    except Exception as exc:  # the auditor itself failed: one line, exit 3
        err.print(f"llm360-audit: internal error: {type(exc).__name__}: {exc}")
        code = EXIT_INTERNAL
    if argv is None:
        if code == EXIT_INTERRUPTED:  # typer turns an interrupt in its own code into a silent exit 130
            interrupts.say("llm360-audit: interrupted")
            interrupts.exit_interrupted(code)
        sys.exit(code)
    return code


__all__ = ["app", "main"]
