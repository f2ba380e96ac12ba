"""The core: open a release, run every check, assemble the report. No CLI, no output formats."""

from __future__ import annotations

import datetime as dt
import traceback
from contextlib import ExitStack
from pathlib import Path

from audit import SPEC_VERSION, __version__, interrupts
from audit.checks import Check, Outcome, default_checks
from audit.core import consequences
from audit.core.options import AuditOptions
from audit.core.policy import gate_settings, mark_waived, policy_findings, selected
from audit.core.progress import Progress
from audit.core.release import Release
from audit.spec.manifest_loader import load_manifest
from audit.spec.names import CRITERIA
from audit.spec.report import CriterionResult, Finding, ReleaseInfo, Replay, Report, Scope, Tool
from audit.spec.rules.internal import INTERNAL
from audit.storage.files import UnsafePath
from audit.storage.hashing import HashCache, Hasher

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


def _in_directory(release: Release, rel: str) -> bool:
    """Whether manifest path ``rel`` is the file of that name in the release directory (not a checkpoint
    branch, a resolved remote, or a path that is not plain)."""
    try:
        return release.path(rel) == release.root / rel and (release.root / rel).is_file()
    except (UnsafePath, OSError):
        return False


class Auditor:
    def __init__(self, checks: list[Check] | None = None, progress: Progress | None = None):
        self.checks = checks
        self.progress = progress or Progress()
        #: After :meth:`audit`: the digests it computed of files that lie in the release directory
        #: itself (release-relative path → sha256), for signing what was verified without hashing again.
        self.hashes: dict[str, str] = {}

    def audit(self, root: Path, options: AuditOptions = AuditOptions()) -> Report:
        root = root.resolve()
        manifest, digest, problems = load_manifest(root)
        info = ReleaseInfo(path=str(root), name=manifest.name if manifest else None, manifest_sha256=digest,
                           license=manifest.license.id if manifest and manifest.license else None)  # fmt: skip
        today = options.gate.today or dt.date.today()
        used: set[int] = set()
        if manifest is None:
            reason = "the manifest could not be read"
            criteria = {c: CriterionResult(status="skipped", summary=reason) for c in CRITERIA}
            findings = mark_waived(problems, options.gate.policy, today, used)
            return self._report(info, criteria, findings + policy_findings(options.gate.policy, used, today), options)

        cache = HashCache(options.scope.cache_dir) if options.scope.cache_dir and options.scope.hash_files else None
        release = Release(root=root, manifest=manifest, manifest_sha256=digest, hash_files=options.scope.hash_files,
                          hasher=Hasher(cache), evidence=options.evidence, resolver=options.resolver)  # fmt: skip
        by_criterion: dict[str, list[Outcome]] = {c: [] for c in CRITERIA}
        checks = self.checks if self.checks is not None else default_checks(
            options.replay, self.progress, options.scope.data_sample, options.scope.data_sample_seed, options.order)
        try:
            with ExitStack() as hashing:
                if options.scope.hash_files:  # in the background, while the checks run
                    release.hash_in_background(hashing.enter_context(self.progress.task("hashing", unit="B")))
                for check in checks:
                    interrupts.check()
                    with self.progress.task(check.title, unit="B") as advance:
                        release.on_bytes = advance
                        by_criterion[check.criterion].append(self._run(check, release))
                release.settle_hashes()
            self.hashes = {rel: d for rel, d in release.hashes().items() if _in_directory(release, rel)}
        finally:
            release.close()
            if cache is not None:
                cache.close()
        for outs in by_criterion.values():
            for o in outs:
                o.findings = mark_waived(selected(o.findings, options.gate.select, options.gate.ignore),
                                         options.gate.policy, today, used)  # fmt: skip
        criteria = {c: _summarize(o) if o else CriterionResult(status="skipped", summary="no check ran")
                    for c, o in by_criterion.items()}  # fmt: skip
        findings = [f for outs in by_criterion.values() for o in outs for f in o.findings]
        findings += policy_findings(options.gate.policy, used, today)
        consequences.link(findings)
        scope = Scope(hashing="full" if options.scope.hash_files else "off", bytes_hashed=release.hasher.hashed_bytes,
                      hashes_from_cache=release.hasher.from_cache, data_sample=options.scope.data_sample,
                      hash_cache_problem=cache.problem if cache is not None else None,
                      data_sample_seed=options.scope.data_sample_seed if options.scope.data_sample < 1 else None)  # fmt: skip
        report = self._report(info, criteria, findings, options, scope)
        for outs in by_criterion.values():
            for o in outs:
                if o.addition is not None:
                    o.addition.apply(report)
        report.shard = options.evidence.part(release.hashes(), release.scans())
        return report

    @staticmethod
    def _run(check: Check, release: Release) -> Outcome:
        out = Outcome(criterion=check.criterion)
        try:
            check.run(release, out)
        except Exception as exc:  # a bug in one check must not cost the other checks
            if interrupts.requested():  # the damage an interrupt did (a half-done import), not a bug
                raise KeyboardInterrupt from exc
            where = traceback.extract_tb(exc.__traceback__)[-1]
            out.findings.append(Finding(
                id=INTERNAL.id, severity=INTERNAL.severity, criterion=check.criterion,
                message=f"check {check.id} failed: {type(exc).__name__}: {exc} "
                        f"({Path(where.filename).name}:{where.lineno})",
                remediation=INTERNAL.remediation,
            ))  # fmt: skip
        return out

    @staticmethod
    def _report(info, criteria, findings, options: AuditOptions, scope=None) -> Report:
        r = options.replay
        return Report(
            scope=scope or Scope(hashing="full" if options.scope.hash_files else "off"),
            spec_version=SPEC_VERSION,
            tool=Tool(version=__version__),
            release=info,
            criteria=criteria,
            findings=findings,
            gate=gate_settings(options.gate.policy, options.gate.fail_on, options.gate.require_level,
                               options.gate.select, options.gate.ignore),
            replay=Replay(mode=r.mode, seed=r.seed if r.mode not in ("all", "none") else None, steps=r.steps,
                          device=r.device),
        )  # fmt: skip
