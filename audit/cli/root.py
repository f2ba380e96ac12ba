"""The typer application every command registers with, the exit codes, and the one-line error style."""

from __future__ import annotations

import typer
from rich.console import Console

EXIT_PASS, EXIT_FAIL, EXIT_USAGE, EXIT_INTERNAL = 0, 1, 2, 3
EXIT_INTERRUPTED = 130

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,  # plain click help: no stray metavars (<bool> after flags), arguments in capitals
    help="Audit an LLM release against the LLM360 fully-open spec.\n\n"
    "Usage: llm360-audit RELEASE [--out DIR] [--replay all|none|N] (the `audit` command is the default).",
)
example_app = typer.Typer(help="Build the example release.", no_args_is_help=True)
app.add_typer(example_app, name="example")

err = Console(stderr=True, highlight=False, soft_wrap=True)


def usage(message: str) -> typer.Exit:
    """Print ``llm360-audit: error: MESSAGE`` and return the exit to raise (code 2)."""
    err.print(f"llm360-audit: error: {message}")
    return typer.Exit(EXIT_USAGE)
