"""``llm360-audit init RELEASE``: write or refresh the manifest from the files found."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from audit.cli.root import EXIT_FAIL, app, err, usage


@app.command("init", short_help="Write or refresh RELEASE/llm360.yaml.")
def init_cmd(
    release: Annotated[Path, typer.Argument(metavar="RELEASE", help="Release directory.")],
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Print the manifest instead of writing it.")] = False,
    checkpoint_every: Annotated[Optional[int], typer.Option(
        min=1, metavar="STEPS", help="Steps between index-numbered checkpoints (ckpt_N is at step (N+1)×STEPS) when no data "
                    "chunks pair with them.")] = None,
) -> None:
    """Write or refresh RELEASE/llm360.yaml from the files found (hashes, sizes, tokens, steps)."""
    from audit.init import InitError, init_release

    if not release.is_dir():
        raise usage(f"{release} is not a directory")
    try:
        result = init_release(release.resolve(), write=not dry_run, checkpoint_every=checkpoint_every)
    except InitError as exc:
        err.print(f"llm360-audit init: {exc}")
        raise typer.Exit(EXIT_FAIL) from None
    if dry_run:
        sys.stdout.write(result.text)
        return
    for change in result.changes:
        err.print(f"  {change}")
    err.print(f"wrote {result.path} ({len(result.changes)} change(s))")
