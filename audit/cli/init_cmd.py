"""``llm360-audit init RELEASE``: write or refresh the manifest from the files found."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from audit.cli.root import EXIT_FAIL, app, err, usage


#: Lines of changes (and of dropped items) printed before "… and N more".
SHOWN = 40


@app.command("init", short_help="Write or refresh RELEASE/llm360.yaml.")
def init_cmd(
    release: Annotated[Path, typer.Argument(metavar="RELEASE", help="Release directory.")],
    dry_run: Annotated[bool, typer.Option(
        "--dry-run", help="Print the manifest instead of writing it (what it would change goes to stderr, as always).")] = False,
    check: Annotated[bool, typer.Option(
        "--check", help="Write nothing; print what would change. Exit 0 when the manifest is up to date, 1 when "
                        "init would change it (like `ruff format --check`).")] = False,
    root_step: Annotated[Optional[int], typer.Option(
        "--root-step", min=0, metavar="N",
        help="The step of a checkpoint whose files lie at the release root (a model repository's main branch, "
             "e.g. the final model): declared as path: . with that step.")] = None,
    checkpoint_every: Annotated[Optional[int], typer.Option(
        min=1, metavar="STEPS", help="Steps between index-numbered checkpoints (ckpt_N is at step (N+1)×STEPS) when no "
                                     "data chunks pair with them.")] = None,
    no_hash: Annotated[bool, typer.Option(
        "--no-hash", help="Record sizes only (an audit then reports the missing digests unless it runs with --no-hash).")] = False,
    cache_dir: Annotated[Optional[Path], typer.Option(
        metavar="DIR", help="Hash cache directory, shared with the audit (default: $XDG_CACHE_HOME/llm360-audit).")] = None,
    no_cache: Annotated[bool, typer.Option("--no-cache", help="Hash every file; neither read nor write the cache.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Print errors only: no progress, no changes, no summary.")] = False,
) -> None:
    """Write or refresh RELEASE/llm360.yaml from the files found (hashes, sizes, tokens, steps).

    Prints every fact that differs from the manifest on disk (old → new, and where the new value came
    from), every file or directory left out and why, then the number of changes; an unchanged manifest
    is not rewritten. Files are hashed in parallel through the audit's hash cache, so an audit right
    after init hashes nothing. Exit 1 when nothing to audit was found (no checkpoint, no data): no
    manifest is written."""
    from audit.cli import common
    from audit.cli.choices import OutputFormat
    from audit.init import InitError, init_release
    from audit.storage.hashing import default_cache_dir

    if not release.is_dir():
        raise usage(f"{release} is not a directory")
    try:
        result = init_release(release.resolve(), write=not (dry_run or check), checkpoint_every=checkpoint_every,
                              hash_files=not no_hash, cache_dir=None if no_cache else (cache_dir or default_cache_dir()),
                              progress=common.progress(quiet, OutputFormat.text), root_step=root_step)  # fmt: skip
    except InitError as exc:
        err.print(f"llm360-audit init: {exc}", markup=False)
        raise typer.Exit(EXIT_FAIL) from None
    if dry_run:
        sys.stdout.write(result.text)
    if not quiet:
        _say(result)
    if result.empty:
        err.print(f"llm360-audit init: nothing to audit in {release} (no checkpoint, no data); no manifest written",
                  markup=False)  # fmt: skip
        raise typer.Exit(EXIT_FAIL)
    n = len(result.changes)
    if not quiet:
        done = (f"wrote {result.path} ({n} change(s))" if result.written else f"{result.path} unchanged (0 change(s))"
                if not n else f"would change {result.path} ({n} change(s)); nothing written "
                              f"({'--check' if check else '--dry-run'})")  # fmt: skip
        err.print(done, markup=False)
    if check and n:
        raise typer.Exit(EXIT_FAIL)


def _say(result) -> None:
    """One line per change and per item dropped, each list cut at SHOWN lines; the notes; the summary."""
    for items in (result.changes, result.dropped):
        for item in items[:SHOWN]:
            err.print(f"  {item}", markup=False)
        if len(items) > SHOWN:
            err.print(f"  … and {len(items) - SHOWN} more ({len(items)} in all)", markup=False)
    for note in result.notes:
        err.print(f"  {note}", markup=False)
    err.print("found: " + ("; ".join(result.found) if result.found else "nothing"), markup=False)
    if result.not_found:
        err.print("not found: " + "; ".join(result.not_found), markup=False)
