"""Command line: parse options, call the core, print, exit. Exit codes: 0 pass, 1 fail, 2 usage, 3 internal."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console

from audit import __version__
from audit.replay.options import DEFAULT_SAMPLE, ReplayOptions

EXIT_PASS, EXIT_FAIL, EXIT_USAGE, EXIT_INTERNAL = 0, 1, 2, 3
EXIT_INTERRUPTED = 130
SUBCOMMANDS = {"audit", "init", "merge", "example"}

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    help="Audit an LLM release against the LLM360 fully-open spec.\n\n"
    "Usage: llm360-audit RELEASE [--out DIR] [--replay all|none|N] (the `audit` command is the default).",
)
example_app = typer.Typer(help="Build the example release.", no_args_is_help=True)
app.add_typer(example_app, name="example")

err = Console(stderr=True, highlight=False, soft_wrap=True)


def _usage(message: str) -> typer.Exit:
    err.print(f"llm360-audit: error: {message}")
    return typer.Exit(EXIT_USAGE)


def _cuda_available() -> bool:
    import torch

    return torch.cuda.is_available()


def _replay_mode(value: str) -> str:
    if value in ("all", "none") or (value.isdigit() and int(value) > 0):
        return value
    raise typer.BadParameter("must be all, none or a positive number of segments")


LEVEL_CHOICES = ("closed", "open-weights", "open-training", "fully-open", "reproduced")


@app.command("audit")
def audit_cmd(
    release: Annotated[Path, typer.Argument(help="Release directory (holds llm360.yaml).")],
    out: Annotated[Path, typer.Option(help="Directory for every report artifact.")] = Path("llm360-audit-report"),
    replay: Annotated[str, typer.Option(
        callback=_replay_mode, help="Segments to replay: all, none, or N (the first plus a seeded sample).")] = DEFAULT_SAMPLE,
    replay_steps: Annotated[Optional[int], typer.Option(
        min=1, help="Replay only the first K steps of each segment (compared with the training log).")] = None,
    replay_seed: Annotated[int, typer.Option(help="Seed of the segment sample.")] = 0,
    device: Annotated[str, typer.Option(help="Device for the replay: cpu or cuda.")] = "cpu",
    tolerance: Annotated[float, typer.Option(
        min=0.0, help="Relative tolerance accepted when the replay environment differs.")] = ReplayOptions.tolerance,
    allow_exec: Annotated[bool, typer.Option(
        "--allow-exec", help="Allow running the release's own replay command (code.replay_command).")] = False,
    no_hash: Annotated[bool, typer.Option("--no-hash", help="Check structure only; do not hash files.")] = False,
    cache_dir: Annotated[Optional[Path], typer.Option(
        help="Hash cache directory (default: $XDG_CACHE_HOME/llm360-audit).")] = None,
    no_cache: Annotated[bool, typer.Option("--no-cache", help="Hash every file; neither read nor write the cache.")] = False,
    data_sample: Annotated[float, typer.Option(
        min=0.0, max=1.0, help="Recount tokens in this fraction of the data chunks (seeded); all are hashed.")] = 1.0,
    data_sample_seed: Annotated[int, typer.Option(help="Seed of the chunk sample.")] = 0,
    fail_on: Annotated[Optional[str], typer.Option(
        help="Fail on unwaived findings of this severity or worse: error (default) or warning.")] = None,
    require_level: Annotated[Optional[str], typer.Option(
        help=f"Fail below this openness level: {', '.join(LEVEL_CHOICES)}.")] = None,
    policy: Annotated[Optional[Path], typer.Option(
        help="Gate policy file (default: .llm360-audit.yaml next to the release directory).")] = None,
    output_format: Annotated[str, typer.Option(
        "--format", help="text: a summary on the terminal; json: report.json on stdout.")] = "text",
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Print only the verdict line; no progress.")] = False,
    resolve_local: Annotated[Optional[list[str]], typer.Option(
        metavar="PATH|REF=PATH", help="A local clone of a remote component (code, checkpoints_source, data.source): PATH (its git remotes "
             "say which) or REF=PATH. Repeatable. Nothing is ever downloaded.")] = None,
    shard: Annotated[Optional[str], typer.Option(
        help="Do part I of N of the hashing, recounting and replay (e.g. 1/3); combine with `llm360-audit merge`.")] = None,
) -> None:
    """Audit RELEASE, write every report artifact to --out, exit 0 (pass) or 1 (fail)."""
    import datetime as dt

    from audit.core.auditor import AuditOptions, Auditor
    from audit.storage.hashing import default_cache_dir
    from audit.core.shard import Shard, ShardError

    resolver = _resolver(resolve_local)
    if device not in ("cpu", "cuda") and not device.startswith("cuda:"):
        raise _usage(f"--device {device}: use cpu or cuda")
    if fail_on not in (None, "error", "warning"):
        raise _usage(f"--fail-on {fail_on}: use error or warning")
    if require_level not in (None, *LEVEL_CHOICES):
        raise _usage(f"--require-level {require_level}: use one of {', '.join(LEVEL_CHOICES)}")
    if data_sample <= 0:
        raise _usage("--data-sample must be a fraction in (0, 1]")
    try:
        part = Shard.parse(shard) if shard is not None else None
    except ShardError as exc:
        raise _usage(str(exc)) from None
    root, out_dir = _release_and_out(release, out, output_format)
    if device.startswith("cuda") and not _cuda_available():
        raise _usage(f"--device {device}: no CUDA device is available")
    options = AuditOptions(
        hash_files=not no_hash,
        replay=ReplayOptions(mode=replay, steps=replay_steps, device=device, seed=replay_seed,
                             tolerance=tolerance, allow_exec=allow_exec),
        policy=_policy(root, policy), fail_on=fail_on, require_level=require_level, today=dt.date.today(),
        cache_dir=None if no_cache else (cache_dir or default_cache_dir()),
        data_sample=data_sample, data_sample_seed=data_sample_seed, shard=part, resolver=resolver,
    )  # fmt: skip
    progress = _progress(quiet, output_format)
    _finish(lambda: Auditor(progress=progress).audit(root, options), out_dir, output_format, quiet)


@app.command("merge")
def merge_cmd(
    reports: Annotated[list[Path], typer.Argument(help="The shards' report.json files (or their --out directories).")],
    out: Annotated[Path, typer.Option(help="Directory for every report artifact.")] = Path("llm360-audit-report"),
    release: Annotated[Optional[Path], typer.Option(
        help="The release directory (default: the path recorded in the shard reports).")] = None,
    policy: Annotated[Optional[Path], typer.Option(
        help="Gate policy file (default: .llm360-audit.yaml next to the release directory).")] = None,
    output_format: Annotated[str, typer.Option("--format", help="text or json (report.json on stdout).")] = "text",
    resolve_local: Annotated[Optional[list[str]], typer.Option(
        metavar="PATH|REF=PATH", help="A local clone of a remote component (code, checkpoints_source, data.source): PATH (its git remotes "
             "say which) or REF=PATH. Repeatable. Nothing is ever downloaded.")] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Print only the verdict line; no progress.")] = False,
) -> None:
    """Combine the reports of `--shard 1/N` … `--shard N/N` into the report of a single run.

    Re-reads the release's structure (manifest, headers, logs; seconds) and takes the digests, token
    recounts and replayed segments from the shards. Exit codes as for the audit."""
    import datetime as dt

    from audit.core.auditor import AuditOptions
    from audit.core.merge import merge_reports, read_shard_reports
    from audit.core.shard import ShardError

    try:
        shards = read_shard_reports(reports)
    except ShardError as exc:
        raise _usage(str(exc)) from None
    root, out_dir = _release_and_out(release or Path(shards[0].release.path), out, output_format)
    options = AuditOptions(policy=_policy(root, policy), today=dt.date.today(), resolver=_resolver(resolve_local))
    progress = _progress(quiet, output_format)

    def run():
        try:
            return merge_reports(shards, root, options, progress)
        except ShardError as exc:
            raise _usage(str(exc)) from None

    _finish(run, out_dir, output_format, quiet)


def _release_and_out(release: Path, out: Path, output_format: str) -> tuple[Path, Path]:
    if output_format not in ("text", "json"):
        raise _usage(f"--format {output_format}: use text or json")
    if not release.is_dir():
        raise _usage(f"{release} is not a directory")
    root, out_dir = release.resolve(), out.resolve()
    if out_dir == root or root in out_dir.parents:
        raise _usage(f"--out {out} is inside the release; the audit never writes into a release")
    return root, out_dir


def _resolver(values: list[str] | None):
    from audit.storage.remote import ResolveError, Resolver

    try:
        return Resolver.from_options(values or [])
    except ResolveError as exc:
        raise _usage(str(exc)) from None


def _policy(root: Path, policy: Path | None):
    from audit.core.policy import PolicyError, find_policy, load_policy

    try:
        return load_policy(find_policy(root, policy))
    except PolicyError as exc:
        raise _usage(str(exc)) from None


def _progress(quiet: bool, output_format: str):
    from audit.core.progress import LogProgress, Progress, RichProgress

    if quiet or output_format == "json":
        return Progress() if quiet else LogProgress(sys.stderr)
    return RichProgress(err) if err.is_terminal else LogProgress(sys.stderr)


def _finish(make_report, out_dir: Path, output_format: str, quiet: bool) -> None:
    """Run the audit (or merge), write the artifacts, print, exit with the verdict's code."""
    import os

    from audit.core.auditor import INTERNAL_ERROR
    from audit.render import render_json, write_artifacts
    from audit.render.terminal import print_summary

    try:
        report = make_report()
        paths = write_artifacts(report, out_dir)
    except KeyboardInterrupt:
        err.print(f"llm360-audit: interrupted; no report written (any previous report in {out_dir} is intact)")
        raise typer.Exit(EXIT_INTERRUPTED) from None
    summary_file = os.environ.get("GITHUB_STEP_SUMMARY")
    if summary_file:
        from audit.render.markdown import render_markdown

        with open(summary_file, "a", encoding="utf-8") as f:
            f.write(render_markdown(report) + "\n")
    console = Console(highlight=False)
    if output_format == "json":
        sys.stdout.write(render_json(report))
    elif quiet:
        part = f" · shard {report.shard.index}/{report.shard.count}" if report.shard else ""
        console.print(f"{report.verdict.upper()} · level {report.level}{part}")
    else:
        print_summary(report, console)
        console.print(f"report: {out_dir}/report.html ({len(paths)} files in {out_dir})", soft_wrap=True)
    if any(f.id == INTERNAL_ERROR for f in report.findings):
        raise typer.Exit(EXIT_INTERNAL)
    raise typer.Exit(EXIT_PASS if report.verdict == "pass" else EXIT_FAIL)


@app.command("init")
def init_cmd(
    release: Annotated[Path, typer.Argument(help="Release directory.")],
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Print the manifest instead of writing it.")] = False,
    checkpoint_every: Annotated[Optional[int], typer.Option(
        min=1, help="Steps between index-numbered checkpoints (ckpt_N is at step (N+1)×STEPS) when no data "
                    "chunks pair with them.")] = None,
) -> None:
    """Write or refresh RELEASE/llm360.yaml from the files found (hashes, sizes, tokens, steps)."""
    from audit.init import InitError, init_release

    if not release.is_dir():
        raise _usage(f"{release} is not a directory")
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


@example_app.command("build")
def example_build_cmd(
    directory: Annotated[Path, typer.Argument(help="Where to write the example release (must be empty or absent).")],
    force: Annotated[bool, typer.Option("--force", help="Replace an existing directory.")] = False,
) -> None:
    """Train a tiny LLaMA for real and write a complete example release."""
    from audit.example.build import build_example

    if directory.exists() and any(directory.iterdir()) and not force:
        raise _usage(f"{directory} is not empty (use --force to replace it)")
    build_example(directory, progress=lambda msg: err.print(msg, highlight=False))
    err.print(f"example release written to {directory}")


def _version(value: bool) -> None:
    if value:
        print(f"llm360-audit {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[Optional[bool], typer.Option("--version", callback=_version, is_eager=True)] = None,
) -> None:
    pass


def _terminate(signum, frame) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    """Entry point: ``llm360-audit RELEASE ...`` means ``llm360-audit audit RELEASE ...``."""
    import signal

    signal.signal(signal.SIGTERM, _terminate)  # SIGTERM is handled like Ctrl-C: a clean message, no report
    args = list(sys.argv[1:] if argv is None else argv)
    if args and args[0] not in SUBCOMMANDS and args[0] not in ("--help", "-h", "--version"):
        args.insert(0, "audit")
    try:  # standalone mode: usage errors exit 2, typer.Exit carries our codes, both as SystemExit
        app(args=args, prog_name="llm360-audit")
        code = EXIT_PASS
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (EXIT_PASS if exc.code is None else EXIT_USAGE)
    except KeyboardInterrupt:
        err.print("llm360-audit: interrupted")
        code = EXIT_INTERRUPTED
    except Exception as exc:  # the auditor itself failed: one line, exit 3
        err.print(f"llm360-audit: internal error: {type(exc).__name__}: {exc}")
        code = EXIT_INTERNAL
    if argv is None:
        sys.exit(code)
    return code
