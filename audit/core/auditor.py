"""The core: open a release, run every check, assemble the report. No CLI, no output formats."""

from __future__ import annotations

import traceback
import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path

from audit import SPEC_VERSION, __version__
from audit.checks import Check, Outcome, default_checks
from audit.core.progress import Progress
from audit.storage.hashing import HashCache, Hasher
from audit.core.policy import Policy, gate_settings, mark_waived, policy_findings
from audit.core.release import Release, load_manifest
from audit.replay.options import ReplayOptions
from audit.spec.rules import Rule
from audit.spec.report import (CRITERIA, CriterionResult, Finding, ReleaseInfo, Replay, Report, Scope, ShardEvidence,
                          Tool)  # fmt: skip
from audit.storage.remote import Resolver
from audit.core.shard import Recorded, Shard, scan_to_json

INTERNAL_RULE = Rule("audit.internal-error", "error", "This is a bug in llm360-audit; please report it with this message.")
INTERNAL_ERROR = INTERNAL_RULE.id


@dataclass(frozen=True)
class AuditOptions:
    hash_files: bool = True
    replay: ReplayOptions = ReplayOptions()
    policy: Policy = field(default_factory=Policy)
    fail_on: str | None = None  # overrides the policy's
    require_level: str | None = None  # overrides the policy's
    today: dt.date | None = None  # for waiver expiry; None = today
    cache_dir: Path | None = None  # hash cache; None = no cache
    data_sample: float = 1.0  # fraction of the data chunks recounted (all are hashed)
    data_sample_seed: int = 0
    shard: Shard | None = None  # --shard I/N: this run does its part of the expensive work
    recorded: Recorded | None = None  # merge: evidence from the shards, used instead of recomputing
    resolver: Resolver = field(default_factory=Resolver)  # --resolve-local: remote components → local clones


def _summarize(outcomes: list[Outcome]) -> CriterionResult:
    findings = [f for o in outcomes for f in o.findings if f.waiver is None]
    evidence = {k: v for o in outcomes for k, v in o.evidence.items()}
    errors = [f for f in findings if f.severity == "error"]
    warnings = [f for f in findings if f.severity == "warning"]
    if errors:
        status = "fail"
        summary = f"{len(errors)} error(s): {errors[0].message}"
    elif all(o.skipped for o in outcomes):
        status, summary = "skipped", "; ".join(o.skipped for o in outcomes if o.skipped)
    elif warnings:
        status = "partial"
        summary = f"{len(warnings)} warning(s): {warnings[0].message}"
    else:
        status = "pass"
        summary = "; ".join(o.summary for o in outcomes if o.summary) or "all checks passed"
    return CriterionResult(status=status, summary=summary, evidence=evidence)


class Auditor:
    def __init__(self, checks: list[Check] | None = None, progress: Progress | None = None):
        self.checks = checks
        self.progress = progress or Progress()

    def audit(self, root: Path, options: AuditOptions = AuditOptions()) -> Report:
        root = root.resolve()
        manifest, digest, problems = load_manifest(root)
        info = ReleaseInfo(path=str(root), name=manifest.name if manifest else None, manifest_sha256=digest,
                           license=manifest.license.id if manifest and manifest.license else None)  # fmt: skip
        today = options.today or dt.date.today()
        used: set[int] = set()
        if manifest is None:
            reason = "the manifest could not be read"
            criteria = {c: CriterionResult(status="skipped", summary=reason) for c in CRITERIA}
            findings = mark_waived(problems, options.policy, today, used)
            return self._report(info, criteria, findings + policy_findings(options.policy, used, today), options)

        cache = HashCache(options.cache_dir) if options.cache_dir and options.hash_files else None
        release = Release(root=root, manifest=manifest, manifest_sha256=digest, hash_files=options.hash_files,
                          hasher=Hasher(cache), shard=options.shard, recorded=options.recorded,
                          resolver=options.resolver)  # fmt: skip
        by_criterion: dict[str, list[Outcome]] = {c: [] for c in CRITERIA}
        checks = self.checks if self.checks is not None else default_checks(
            options.replay, self.progress, options.data_sample, options.data_sample_seed)
        try:
            if options.hash_files:
                with self.progress.task("hashing", unit="B") as advance:
                    release.prefetch_hashes(advance)
            for check in checks:
                with self.progress.task(check.title, unit="B") as advance:
                    release.on_bytes = advance
                    by_criterion[check.criterion].append(self._run(check, release))
        finally:
            release.close()
            if cache is not None:
                cache.close()
        for outs in by_criterion.values():
            for o in outs:
                o.findings = mark_waived(o.findings, options.policy, today, used)
        criteria = {c: _summarize(o) if o else CriterionResult(status="skipped", summary="no check ran")
                    for c, o in by_criterion.items()}  # fmt: skip
        findings = [f for outs in by_criterion.values() for o in outs for f in o.findings]
        findings += policy_findings(options.policy, used, today)
        segments = [s for o in by_criterion["replay"] for s in o.segments]
        environment = next((o.environment for o in by_criterion["replay"] if o.environment), {})
        scope = Scope(hashing="full" if options.hash_files else "off", bytes_hashed=release.hasher.hashed_bytes,
                      hashes_from_cache=release.hasher.from_cache, data_sample=options.data_sample,
                      data_sample_seed=options.data_sample_seed if options.data_sample < 1 else None)  # fmt: skip
        report = self._report(info, criteria, findings, options, segments, environment, scope)
        if options.shard is not None:
            report.shard = ShardEvidence(index=options.shard.index, count=options.shard.count, hashes=release.hashes(),
                                         chunk_scans={p: scan_to_json(s) for p, s in release.scans().items()})  # fmt: skip
        return report

    @staticmethod
    def _run(check: Check, release: Release) -> Outcome:
        out = Outcome(criterion=check.criterion)
        try:
            check.run(release, out)
        except Exception as exc:  # a bug in one check must not cost the other checks
            where = traceback.extract_tb(exc.__traceback__)[-1]
            out.findings.append(Finding(
                id=INTERNAL_ERROR, severity="error", criterion=check.criterion,
                message=f"check {check.id} failed: {type(exc).__name__}: {exc} "
                        f"({Path(where.filename).name}:{where.lineno})",
                remediation=INTERNAL_RULE.remediation,
            ))  # fmt: skip
        return out

    @staticmethod
    def _report(info, criteria, findings, options: AuditOptions, segments=(), environment=None, scope=None) -> Report:
        r = options.replay
        return Report(
            scope=scope or Scope(hashing="full" if options.hash_files else "off"),
            spec_version=SPEC_VERSION,
            tool=Tool(version=__version__),
            release=info,
            criteria=criteria,
            findings=findings,
            gate=gate_settings(options.policy, options.fail_on, options.require_level),
            replay=Replay(mode=r.mode, seed=r.seed if r.mode not in ("all", "none") else None, steps=r.steps,
                          device=r.device, environment=environment or {}, segments=list(segments)),
        )  # fmt: skip
