"""The typer application every command registers with, the exit codes, and the one-line error style."""

from __future__ import annotations

from typing import Any

import typer

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



class _Stderr:
    """The stderr console, made on first use: `--version` and `--help` never import rich."""

    _console: Any = None

    def instance(self) -> Any:
        """The rich Console itself (for what needs the object: live progress bars)."""
        if _Stderr._console is None:
            from rich.console import Console

            _Stderr._console = Console(stderr=True, highlight=False, soft_wrap=True)
        return _Stderr._console

    def __getattr__(self, name: str) -> Any:
        return getattr(self.instance(), name)


err = _Stderr()


def usage(message: str) -> typer.Exit:
    """Print ``llm360-audit: error: MESSAGE`` and return the exit to raise (code 2)."""
    err.print(f"llm360-audit: error: {message}")
    return typer.Exit(EXIT_USAGE)
