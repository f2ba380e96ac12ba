"""``llm360-audit merge``: combine the reports of ``--shard 1/N`` … ``N/N`` into a single run's report."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from audit.cli import common
from audit.cli.root import app, usage
from audit.cli.choices import OutputFormat


@app.command("merge", short_help="Combine the reports of --shard 1/N … N/N.")
def merge_cmd(
    reports: Annotated[list[Path], typer.Argument(metavar="REPORT...", help="The shards' report.json files (or their --out directories).")],
    out: common.Out = None,
    release: Annotated[Optional[Path], typer.Option(
        metavar="DIR", help="The release directory (default: the path recorded in the shard reports).")] = None,
    policy: common.PolicyFile = None,
    output_format: Annotated[OutputFormat, typer.Option(
        "--format", help="text or json (report.json on stdout).")] = OutputFormat.text,
    resolve_local: common.ResolveLocal = None,
    quiet: common.Quiet = False,
) -> None:
    """Combine the reports of `--shard 1/N` … `--shard N/N` into the report of a single run.

    Re-reads the release's structure (manifest, headers, logs; seconds) and takes the digests, token
    recounts and replayed segments from the shards. Exit codes as for the audit."""
    import datetime as dt

    from audit.core.merge import merge_reports, read_shard_reports
    from audit.core.options import AuditOptions, GateOptions
    from audit.core.shard import ShardError

    try:
        shards = read_shard_reports(reports)
    except ShardError as exc:
        raise usage(str(exc)) from None
    root, out_dir = common.release_and_out(release or Path(shards[0].release.path), out)
    options = AuditOptions(gate=GateOptions(policy=common.policy(root, policy), today=dt.date.today()),
                           resolver=common.resolver(resolve_local))  # fmt: skip
    progress = common.progress(quiet, output_format)

    def run():
        try:
            return merge_reports(shards, root, options, progress)
        except ShardError as exc:
            raise usage(str(exc)) from None

    common.finish(run, out_dir, output_format, quiet)
