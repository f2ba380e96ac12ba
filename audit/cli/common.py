"""What the audit and merge commands share: their options, the checks on RELEASE and --out, and the
ending (write the artifacts, print, exit with the verdict's code)."""

from __future__ import annotations

import hashlib
import os
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from audit import interrupts
from audit.cli.root import EXIT_FAIL, EXIT_INTERNAL, EXIT_INTERRUPTED, EXIT_PASS, err, usage
from audit.cli.choices import OutputFormat

Out = Annotated[Optional[Path], typer.Option(
    metavar="DIR", help="Directory for every report artifact (default: ./llm360-audit-report, or a directory in the cache "
         "when the current directory is inside the release).", show_default=False)]  # fmt: skip
PolicyFile = Annotated[Optional[Path], typer.Option(
    metavar="FILE", help="Gate policy file (default: .llm360-audit.yaml next to the release directory).")]  # fmt: skip
ResolveLocal = Annotated[Optional[list[str]], typer.Option(
    metavar="PATH|REF=PATH", help="A local clone of a remote component (code, checkpoints_source, data.source): PATH (its git remotes "
         "say which) or REF=PATH. Repeatable. Nothing is ever downloaded.")]  # fmt: skip
Quiet = Annotated[bool, typer.Option("--quiet", "-q", help="Print only the verdict line; no progress.")]
DEFAULT_OUT = Path("llm360-audit-report")


def _inside(root: Path, path: Path) -> bool:
    return path == root or root in path.parents


def default_out(root: Path) -> Path:
    """./llm360-audit-report, unless that lies inside the release (``cd release && llm360-audit .``, the
    pre-commit hook): then a directory of the user's cache named for the release."""
    here = DEFAULT_OUT.resolve()
    if not _inside(root, here):
        return here
    from audit.storage.hashing import default_cache_dir

    tag = hashlib.sha256(str(root).encode()).hexdigest()[:8]
    return default_cache_dir() / "reports" / f"{root.name or 'release'}-{tag}"


def writable_dir_problem(out_dir: Path) -> str | None:
    """Why the artifacts cannot be written into ``out_dir`` (created if absent), or None."""
    if out_dir.exists():
        if not out_dir.is_dir():
            return "is a file, not a directory"
        return None if os.access(out_dir, os.W_OK | os.X_OK) else "is not writable"
    parent = next(p for p in out_dir.parents if p.exists())  # "/" exists
    if not parent.is_dir():
        return f"cannot be created: {parent} is a file"
    return None if os.access(parent, os.W_OK | os.X_OK) else f"cannot be created: {parent} is not writable"


def release_and_out(release: Path, out: Path | None) -> tuple[Path, Path]:
    """The release directory and the output directory, resolved and checked before any work: the output is
    a writable directory (or can be made one) outside the release."""
    if not release.is_dir():
        raise usage(f"{release} is not a directory")
    root = release.resolve()
    out_dir = out.resolve() if out is not None else default_out(root)
    if _inside(root, out_dir):
        raise usage(f"--out {out} is inside the release; the audit never writes into a release")
    problem = writable_dir_problem(out_dir)
    if problem:
        raise usage(f"--out {out if out is not None else out_dir} {problem}")
    if out is None and out_dir != DEFAULT_OUT.resolve():
        err.print(f"llm360-audit: the current directory is inside the release; the report goes to {out_dir}")
    return root, out_dir


def resolver(values: list[str] | None):
    from audit.storage.remote import ResolveError, Resolver

    try:
        return Resolver.from_options(values or [])
    except ResolveError as exc:
        raise usage(str(exc)) from None


def signer(key_path: Path | None, sigstore: bool):
    """The signer of --sign-key or --sigstore, or None (a one-line usage error when it cannot be used)."""
    if key_path is None and not sigstore:
        return None
    from audit.attest.keyless import KeylessProblem, KeylessSigner, identity_token
    from audit.attest.keys import KeyProblem, load_signing_key
    from audit.attest.seal import KeySigner

    try:
        if key_path is not None:
            return KeySigner(load_signing_key(key_path))
        return KeylessSigner(identity_token()) if sigstore else None
    except (KeyProblem, KeylessProblem) as exc:
        raise usage(str(exc)) from None


def policy(root: Path, path: Path | None):
    from audit.core.policy import PolicyError, find_policy, load_policy

    try:
        return load_policy(find_policy(root, path))
    except PolicyError as exc:
        raise usage(str(exc)) from None


def progress(quiet: bool, output_format: OutputFormat):
    from audit.core.progress import LogProgress, Progress, RichProgress

    if quiet or output_format != OutputFormat.text:
        return Progress() if quiet else LogProgress(sys.stderr)
    return RichProgress(err.instance()) if err.is_terminal else LogProgress(sys.stderr)


def finish(make_report, out_dir: Path, output_format: OutputFormat, quiet: bool, seal=None) -> None:
    """Run the audit (or merge), write the artifacts (with ``seal``'s signatures), print, exit with the verdict's code."""
    from audit.attest import SealError
    from audit.core.artifacts import write_artifacts
    from audit.render import render_json
    from audit.render.terminal import print_summary
    from audit.spec.rules import INTERNAL_ERROR

    try:
        report = make_report()
        paths = write_artifacts(report, out_dir, seal)  # refuses to start once an interrupt is pending
    except KeyboardInterrupt:
        interrupts.say(f"llm360-audit: interrupted; no report written (any previous report in {out_dir} is intact)")
        raise typer.Exit(EXIT_INTERRUPTED) from None
    except SealError as exc:
        raise usage(f"cannot sign: {exc}; no report written") from None
    except OSError as exc:
        err.print(f"llm360-audit: error: cannot write the report into {out_dir}: {exc.strerror or exc} "
                  "(any previous report there is intact)")  # fmt: skip
        raise typer.Exit(EXIT_INTERNAL) from None
    if interrupts.requested():  # arrived while the finished report was being renamed into place
        interrupts.say(f"llm360-audit: interrupted; the report in {out_dir} is complete")
        raise typer.Exit(EXIT_INTERRUPTED)
    if report.scope.hash_cache_problem:
        err.print(f"llm360-audit: note: hashed without the cache ({report.scope.hash_cache_problem})")
    summary_file = os.environ.get("GITHUB_STEP_SUMMARY")
    if summary_file:
        from audit.render.markdown import render_markdown

        with open(summary_file, "a", encoding="utf-8") as f:
            f.write(render_markdown(report) + "\n")
    from rich.console import Console

    console = Console(highlight=False)
    if output_format == OutputFormat.json:
        sys.stdout.write(render_json(report))
    elif output_format == OutputFormat.sarif:
        from audit.render.sarif import render_sarif

        sys.stdout.write(render_sarif(report))
    elif output_format == OutputFormat.github:
        from audit.render.github import render_github

        sys.stdout.write(render_github(report, Path.cwd()))
    elif quiet:
        part = f" · shard {report.shard.index}/{report.shard.count}" if report.shard else ""
        part += " · findings filtered (--select/--ignore)" if report.gate.select or report.gate.ignore else ""
        console.print(f"{report.verdict.upper()} · level {report.level}{part}")
    else:
        print_summary(report, console)
        console.print(f"report: {out_dir}/report.html ({len(paths)} files in {out_dir})", soft_wrap=True)
    if any(f.id == INTERNAL_ERROR for f in report.findings):
        raise typer.Exit(EXIT_INTERNAL)
    raise typer.Exit(EXIT_PASS if report.verdict == "pass" else EXIT_FAIL)
