"""``llm360-audit example build DIR``: train the tiny model and write a complete release."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from audit.cli.root import err, example_app, usage


@example_app.command("build", short_help="Train the tiny model, write a release.")
def example_build_cmd(
    directory: Annotated[Path, typer.Argument(metavar="DIR", help="Where to write the example release (must be empty or absent).")],
    force: Annotated[bool, typer.Option("--force", help="Replace an existing directory.")] = False,
) -> None:
    """Train a tiny LLaMA for real and write a complete example release."""
    from audit.example.build import build_example

    if directory.exists() and any(directory.iterdir()) and not force:
        raise usage(f"{directory} is not empty (use --force to replace it)")
    build_example(directory, progress=lambda msg: err.print(msg, highlight=False))
    err.print(f"example release written to {directory}")
