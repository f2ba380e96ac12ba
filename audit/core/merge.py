"""``llm360-audit merge``: combine the reports of a split audit (``--shard I/N``) into the report a
single run would have written. Every check runs again over the release's structure, with the shards'
digests, chunk recounts and replayed segments standing in for the expensive work, so verdicts,
criteria and aggregate findings are recomputed, not concatenated."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pydantic

from audit.core.auditor import Auditor
from audit.core.evidence import Recorded
from audit.core.options import AuditOptions, GateOptions, ScopeOptions
from audit.core.progress import Progress
from audit.readers.bounded import TooLarge, load_json
from audit.spec.manifest_loader import load_manifest
from audit.replay.options import ReplayOptions
from audit.spec.report import Report
from audit.core.shard import ShardError, scan_from_json



def read_shard_reports(paths: list[Path]) -> list[Report]:
    """Load report.json files (a directory stands for its report.json); one-line ShardError on bad input."""
    reports = []
    for p in paths:
        f = p / "report.json" if p.is_dir() else p
        try:
            data = load_json(f)
        except OSError as exc:
            raise ShardError(f"{f}: {exc.strerror}") from None
        except TooLarge as exc:
            raise ShardError(f"{f}: {exc}; not a shard report") from None
        except (ValueError, RecursionError):
            raise ShardError(f"{f}: not a report.json of llm360-audit (not JSON)") from None
        try:
            report = Report.from_json(data) if isinstance(data, dict) else None
        except pydantic.ValidationError as exc:
            err = exc.errors()[0]
            where = ".".join(str(p) for p in err["loc"]) or "(top level)"
            raise ShardError(f"{f}: not a report.json of llm360-audit ({where}: {err['msg'].lower()})") from None
        if report is None:
            raise ShardError(f"{f}: not a report.json of llm360-audit (not a JSON object)")
        if report.shard is None:
            raise ShardError(f"{f}: not the report of a shard (run the audit with --shard I/N)")
        reports.append(report)
    return reports


def _same(reports: list[Report], what: str, get) -> None:
    values = {json.dumps(get(r), sort_keys=True, default=str) for r in reports}
    if len(values) > 1:
        raise ShardError(f"the shard reports differ in {what}: {', '.join(sorted(values))}")


def check_complete(reports: list[Report]) -> int:
    """The reports are shards 1..N of one audit of one manifest with one set of options; returns N."""
    if not reports:
        raise ShardError("no shard reports given")
    _same(reports, "shard count", lambda r: r.shard.count)
    n = reports[0].shard.count
    seen = sorted(r.shard.index for r in reports)
    if seen != list(range(1, n + 1)):
        missing = sorted(set(range(1, n + 1)) - set(seen))
        twice = sorted({i for i in seen if seen.count(i) > 1})
        detail = (f"missing {', '.join(f'{i}/{n}' for i in missing)}" if missing else "") + \
                 ("; " if missing and twice else "") + (f"repeated {', '.join(f'{i}/{n}' for i in twice)}" if twice else "")
        raise ShardError(f"the shard reports are not shards 1..{n} exactly once: {detail}")
    _same(reports, "manifest (llm360.yaml sha256)", lambda r: r.release.manifest_sha256)
    _same(reports, "tool version", lambda r: r.tool.version)
    _same(reports, "hashing / data sample", lambda r: [r.scope.hashing, r.scope.data_sample, r.scope.data_sample_seed])
    _same(reports, "replay options", lambda r: [r.replay.mode, r.replay.seed, r.replay.steps, r.replay.device])
    _same(reports, "gate settings", lambda r: [r.gate.fail_on, r.gate.require_level])
    return n


def recorded_evidence(reports: list[Report]) -> Recorded:
    rec = Recorded()
    for r in sorted(reports, key=lambda r: r.shard.index):
        rec.recorded_hashes.update(r.shard.hashes)
        rec.recorded_scans.update({p: scan_from_json(s) for p, s in r.shard.chunk_scans.items()})
        rec.segments.update({s.start_step: s for s in r.replay.segments})
        if r.replay.segments and not rec.environment:
            rec.environment = r.replay.environment
    return rec


def merge_reports(reports: list[Report], root: Path, options: AuditOptions, progress: Progress | None = None) -> Report:
    """The single-run report of ``root`` from its shards' reports (raises ShardError)."""
    check_complete(reports)
    first = reports[0]
    _, digest, _ = load_manifest(root)
    if digest != first.release.manifest_sha256:
        raise ShardError(f"{root}/llm360.yaml is not the manifest the shards audited (sha256 differs)")
    options = replace(
        options,
        scope=ScopeOptions(hash_files=first.scope.hashing == "full", cache_dir=None, data_sample=first.scope.data_sample,
                           data_sample_seed=first.scope.data_sample_seed or 0),
        replay=ReplayOptions(mode=first.replay.mode, seed=first.replay.seed or 0, steps=first.replay.steps,
                             device=first.replay.device or "cpu"),
        gate=GateOptions(policy=options.gate.policy, today=options.gate.today, fail_on=first.gate.fail_on,
                         require_level=first.gate.require_level),
        evidence=recorded_evidence(reports),
    )  # fmt: skip
    report = Auditor(progress=progress).audit(root, options)
    report.scope.bytes_hashed += sum(r.scope.bytes_hashed for r in reports)
    report.scope.hashes_from_cache += sum(r.scope.hashes_from_cache for r in reports)
    return report
