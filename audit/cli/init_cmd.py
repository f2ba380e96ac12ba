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
        min=1, metavar="STEPS", help="Steps between index-numbered checkpoints (ckpt_N is at step (N+1)×STEPS) when no "
                                     "data chunks pair with them.")] = None,
    no_hash: Annotated[bool, typer.Option(
        "--no-hash", help="Record sizes only (an audit then reports the missing digests unless it runs with --no-hash).")] = False,
    cache_dir: Annotated[Optional[Path], typer.Option(
        metavar="DIR", help="Hash cache directory, shared with the audit (default: $XDG_CACHE_HOME/llm360-audit).")] = None,
    no_cache: Annotated[bool, typer.Option("--no-cache", help="Hash every file; neither read nor write the cache.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress, no list of changes.")] = False,
) -> None:
    """Write or refresh RELEASE/llm360.yaml from the files found (hashes, sizes, tokens, steps).

    Files are hashed in parallel through the audit's hash cache, so an audit right after init hashes
    nothing. Exit 1 when nothing to audit was found (no checkpoint, no data): no manifest is written."""
    from audit.cli import common
    from audit.cli.choices import OutputFormat
    from audit.init import InitError, init_release
    from audit.storage.hashing import default_cache_dir

    if not release.is_dir():
        raise usage(f"{release} is not a directory")
    try:
        result = init_release(release.resolve(), write=not dry_run, checkpoint_every=checkpoint_every,
                              hash_files=not no_hash, cache_dir=None if no_cache else (cache_dir or default_cache_dir()),
                              progress=common.progress(quiet, OutputFormat.text))  # fmt: skip
    except InitError as exc:
        err.print(f"llm360-audit init: {exc}")
        raise typer.Exit(EXIT_FAIL) from None
    if dry_run:
        sys.stdout.write(result.text)
    if not quiet:
        for change in result.changes:
            err.print(f"  {change}")
    err.print("found: " + ("; ".join(result.found) if result.found else "nothing"))
    if result.not_found:
        err.print("not found: " + "; ".join(result.not_found))
    if result.empty:
        err.print(f"llm360-audit init: nothing to audit in {release} (no checkpoint, no data); no manifest written")
        raise typer.Exit(EXIT_FAIL)
    if result.written:
        err.print(f"wrote {result.path} ({len(result.changes)} change(s))")
