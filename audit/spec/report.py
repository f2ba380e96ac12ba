"""The audit report: pydantic models mirroring schemas/report.schema.json.

The report is data; the verdict and the openness level are *derived* from the criteria and the
findings (computed fields), never stored separately from the evidence.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, computed_field, model_validator

from audit import SPEC_VERSION
from audit.spec.names import (CRITERIA, LEVEL_NAMES, LEVEL_PATTERN, LEVELS, MOF_CLASSES, MOF_NAMES,  # noqa: F401
                              SAMPLED_RUNG, SCOPES, Severity, below, ladder, level_name)  # fmt: skip

CriterionId = Literal[CRITERIA]  # type: ignore[valid-type]
FindingScope = Literal[SCOPES]  # type: ignore[valid-type]
Status = Literal["pass", "fail", "partial", "skipped"]
SegmentStatus = Literal["bit-exact", "within-tolerance", "mismatch", "skipped", "error"]
Level = Literal[LEVEL_NAMES]  # type: ignore[valid-type]
#: A rung, or the replay's rung reached on a sample: ``reproduced (sampled 2/7)``.
LevelText = Annotated[str, StringConstraints(pattern=LEVEL_PATTERN)]
MofClass = Literal[MOF_NAMES]  # type: ignore[valid-type]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Waiver(Strict):
    reason: str
    expires: str = Field(description="ISO date after which the waiver no longer applies.")


class Cause(Strict):
    id: str = Field(description="Rule id of the root-cause finding.")
    path: str = Field(description="The path that finding is about.")


class Finding(Strict):
    id: str = Field(description="Stable rule id, e.g. checkpoints.sha256-mismatch.")
    severity: Severity
    criterion: FindingScope
    message: str
    path: str | None = Field(None, description="Release-relative path the finding is about.")
    line: int | None = Field(None, ge=1, description="1-based line in path, where the finding has one.")
    remediation: str | None = None
    waiver: Waiver | None = Field(None, description="Set when the gate policy waives this finding.")
    cause: Cause | None = Field(None, description="Set when this finding follows from another one (a missing file "
                                                 "explains what could not be checked in it).")


class Scope(Strict):
    """How much of the evidence this run looked at."""

    hashing: Literal["full", "off"] = Field("full", description="off: --no-hash, structure only.")
    bytes_hashed: int = 0
    hashes_from_cache: int = Field(0, description="Files whose digest came from the hash cache (unchanged).")
    hash_cache_problem: str | None = Field(
        None, description="Why the hash cache could not be used (the audit hashed without it).")
    data_sample: float = Field(1.0, description="Fraction of the data chunks whose tokens were recounted.")
    data_sample_seed: int | None = Field(None, description="Seed of the chunk sample, when sampled.")


class GateSettings(Strict):
    fail_on: Literal["error", "warning"] = "error"
    require_level: Level | None = None
    policy: str | None = Field(None, description="Policy file applied, if any.")
    select: list[str] = Field(default_factory=list, description="--select: only findings of these rules (ids or prefixes) were kept.")
    ignore: list[str] = Field(default_factory=list, description="--ignore: findings of these rules (ids or prefixes) were dropped.")


class CriterionResult(Strict):
    status: Status
    summary: str
    evidence: dict[str, Any] = Field(default_factory=dict)


class TensorDiff(Strict):
    name: str
    max_abs_diff: float
    max_ulp: int = Field(description="Largest distance in units in the last place (0 = bitwise equal).")
    differing: int = Field(description="Elements that are not bitwise equal.")
    numel: int


class ReplaySegment(Strict):
    start_step: int
    end_step: int
    status: SegmentStatus
    max_abs_diff: float | None = None
    first_divergent_step: int | None = None
    first_divergent_field: str | None = Field(None, description="The first logged value that differs: loss, learning_rate or grad_norm.")
    replayed_value: float | None = Field(None, description="That value as the replay computed it.")
    released_value: float | None = Field(None, description="That value as the released training log has it.")
    released_log_path: str | None = None
    released_log_line: int | None = Field(None, ge=1, description="Line of the released log holding that value.")
    reason: str | None = None
    engine: Literal["builtin", "command"] | None = None
    compared: list[Literal["log", "state"]] = Field(default_factory=list, description="What was compared.")
    max_ulp: int | None = None
    max_rel_diff: float | None = None
    differing_elements: int | None = None
    tolerance: float | None = Field(None, description="Relative tolerance applied across environments.")
    environment_differences: list[str] = Field(
        default_factory=list, description="Fingerprint fields in which the replay environment differs."
    )
    tensors: list[TensorDiff] = Field(default_factory=list, description="Tensors that differ (largest first).")
    tensors_compared: int | None = None
    tensors_differing: int | None = None
    wall_s: float | None = None


def percent(p: float) -> str:
    """A probability as a whole percentage that never rounds a non-zero chance to 0% or a non-certain one to 100%."""
    if 0 < p < 0.01:
        return "<1%"
    if 0.99 < p < 1:
        return ">99%"
    return f"{round(p * 100)}%"


class ReplayCoverage(Strict):
    """How many of the release's segments the replay covered, and what a sample leaves unchecked."""

    segments_total: int = Field(ge=0, description="Segments the release has (M): consecutive checkpoints c → c+1.")
    segments_replayed: int = Field(ge=0, description=(
        "Segments this run selected and replayed to a comparison (N): bit-exact, within-tolerance or mismatch; "
        "a segment skipped or in error is not counted. A shard's report counts its own part."))

    @model_validator(mode="before")
    @classmethod
    def _derived_not_read(cls, data: Any) -> Any:
        """A report.json read back carries escape_probability: derived, so recomputed, never trusted."""
        return {k: v for k, v in data.items() if k not in cls.model_computed_fields} if isinstance(data, dict) else data

    @model_validator(mode="after")
    def _at_most_total(self) -> "ReplayCoverage":
        if self.segments_replayed > self.segments_total:
            raise ValueError("segments_replayed exceeds segments_total")
        return self

    @property
    def sampled(self) -> bool:
        return self.segments_replayed < self.segments_total

    @computed_field(description=(  # type: ignore[prop-decorator]
        "1 - N/M: the chance that one tampered segment, anywhere in the release, is not among those replayed "
        "(--replay N takes the first segment and N - 1 of the others at random: the same 1 - N/M as a uniform "
        "sample of N). 0 with every segment replayed, 1 with none; null when the release has no segment."))
    @property
    def escape_probability(self) -> float | None:
        return 1 - self.segments_replayed / self.segments_total if self.segments_total else None


class Replay(Strict):
    mode: str = Field(description="What --replay asked for: all, none or a sample size.")
    seed: int | None = Field(None, description="Seed of the segment sample.")
    steps: int | None = Field(None, description="--replay-steps: steps replayed per segment (None: all).")
    device: str | None = None
    environment: dict[str, Any] = Field(default_factory=dict, description="Fingerprint of the replay environment.")
    segments: list[ReplaySegment] = Field(default_factory=list)
    coverage: ReplayCoverage | None = Field(None, description="Segments replayed of the release's; None when the replay check did not run.")


class OrderSegment(Strict):
    """The order test on one segment (audit.forensics.order: the decision rule)."""

    start_step: int
    end_step: int
    verdict: Literal["consistent", "inconsistent", "inconclusive"]
    p_value: float | None = Field(None, description="One-sided Mann-Whitney p: the declared sequences' loss drops "
                                                     "exceed the controls'.")
    effect: float | None = Field(None, description="Common-language effect size: P(declared drop > control drop); "
                                                    "0.5 = no difference.")
    sequences: int = Field(description="Declared sequences tested.")
    controls: int = Field(0, description="Control sequences (declared for other segments).")
    control: str | None = Field(None, description="Where the controls come from: earlier, later, or both.")
    p_opposite: float | None = Field(None, description="One-sided p: the declared drops are smaller.")
    upper_bound: float | None = Field(None, description="One-sided upper confidence bound of the effect at 1 - alpha.")
    power: float | None = Field(None, description="Power of the test at alpha against the expected effect.")
    reason: str | None = None
    wall_s: float | None = None


class PalimpsestResult(Strict):
    checkpoint_step: int
    rho: float = Field(description="Spearman rho of per-sequence log-likelihood with the declared training step.")
    p_value: float = Field(description="One-sided (rho > 0), t-approximation.")
    sequences: int


class MemorizationRow(Strict):
    step: int
    chunk_group: int = Field(description="0-based group of consecutive data chunks, in training order.")
    token_match: float
    full_match: float
    sequences: int


class Memorization(Strict):
    k: int = Field(description="Prompt tokens.")
    l: int = Field(description="Greedily decoded tokens compared with the sequence.")  # noqa: E741
    rows: list[MemorizationRow] = Field(default_factory=list)
    skipped_short: int = Field(0, description="Sampled sequences shorter than k + l, skipped.")


class Forensics(Strict):
    """Weights-only evidence that the declared data trained the checkpoints (--order-test)."""

    alpha: float
    min_effect: float = Field(description="The smallest effect a truly trained segment is expected to show.")
    sample: int
    control_sample: int
    seed: int
    segments: list[OrderSegment] = Field(default_factory=list)
    palimpsest: PalimpsestResult | None = None
    memorization: Memorization | None = None


class Tool(Strict):
    name: Literal["llm360-audit"] = "llm360-audit"
    version: str


class ReleaseInfo(Strict):
    path: str
    name: str | None = None
    manifest_sha256: str | None = None
    license: str | None = Field(None, description="Declared SPDX license id; the levels need one.")


class ShardEvidence(Strict):
    """What one shard of a split audit (``--shard I/N``) measured, for ``llm360-audit merge``."""

    index: int = Field(ge=1, description="This shard's number, 1-based.")
    count: int = Field(ge=1, description="How many shards the audit was split into.")
    hashes: dict[str, str] = Field(default_factory=dict, description="SHA-256 of the files this shard hashed.")
    chunk_scans: dict[str, dict[str, Any]] = Field(
        default_factory=dict, description="Recounts of the data chunks this shard read (sequences, tokens, …)."
    )


class Signing(Strict):
    """Set when the audit signed what it verified: ``release.sig`` and ``report.sig`` in --out, with a key
    (``--sign-key``) or keyless through sigstore (``--sigstore``: a short-lived certificate for an OIDC identity)."""

    method: Literal["key", "sigstore"] = Field("key", description="key: --sign-key; sigstore: keyless (--sigstore).")
    key_fingerprint: str | None = Field(
        None, description="SHA-256 of the signing public key's DER (SubjectPublicKeyInfo), hex (method key).")
    algorithm: Literal["ecdsa-p256-sha256", "ecdsa-p384-sha384", "ecdsa-p521-sha512", "ed25519"]
    identity: str | None = Field(None, description="The OIDC identity the signing certificate binds (method sigstore).")
    issuer: str | None = Field(None, description="The OIDC issuer of that identity (method sigstore).")
    predicate_type: str = Field(description="predicateType of the report attestation (report.sig).")

    @property
    def short_fingerprint(self) -> str:
        return (self.key_fingerprint or "")[:16]

    @property
    def signer(self) -> str:
        """Who signed, in words: ``key 0123…`` or ``alice@example.com (sigstore, https://…)``."""
        if self.method == "sigstore":
            return f"{self.identity} (sigstore keyless, issuer {self.issuer})"
        return f"key {self.short_fingerprint}"

    @property
    def verify_command(self) -> str:
        if self.method == "sigstore":
            return f"llm360-audit verify RELEASE --report DIR --identity {self.identity} --issuer {self.issuer}"
        return "llm360-audit verify RELEASE --report DIR --key PUBLIC.pem"


class Report(Strict):
    spec_version: Literal[SPEC_VERSION]  # type: ignore[valid-type]
    tool: Tool
    release: ReleaseInfo
    criteria: dict[CriterionId, CriterionResult]
    findings: list[Finding]
    replay: Replay
    gate: GateSettings = Field(default_factory=GateSettings)
    scope: Scope = Field(default_factory=Scope)
    shard: ShardEvidence | None = Field(
        None, description="Set on the report of one shard of a split audit; merge the shards' reports for the verdict."
    )
    signing: Signing | None = Field(None, description="Set when the audit signed the release and this report (--sign-key, --sigstore).")
    forensics: Forensics | None = Field(None, description="The weights-only tests; None when not run (--order-test none).")

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "Report":
        """Read a report.json back (its derived fields are recomputed, not trusted)."""
        return cls.model_validate({k: v for k, v in data.items() if k not in cls.model_computed_fields})

    def partial_note(self) -> str | None:
        """For a report that is not the whole release's verdict (one shard's, or findings filtered with
        --select/--ignore): a warning that says so, else None."""
        notes = []
        if self.shard is not None:
            n = self.shard.count
            notes.append(f"Shard {self.shard.index}/{n} of a split audit: it hashed, recounted and replayed only its "
                         f"part. Run `llm360-audit merge` on the {n} shard reports for the release's report.")  # fmt: skip
        if self.gate.select or self.gate.ignore:
            chosen = [f"--select {', '.join(self.gate.select)}"] * bool(self.gate.select)
            chosen += [f"--ignore {', '.join(self.gate.ignore)}"] * bool(self.gate.ignore)
            notes.append(f"Findings filtered ({'; '.join(chosen)}): the verdict and level are those of the findings "
                         "kept, not the release's.")  # fmt: skip
        return " ".join(notes) or None

    def blocking(self) -> list[Finding]:
        """Unwaived findings at or above the gate's fail_on severity."""
        severities = ("error",) if self.gate.fail_on == "error" else ("error", "warning")
        return [f for f in self.findings if f.severity in severities and f.waiver is None]

    def sample_note(self) -> str | None:
        """For a reproduction resting on a sample of the segments: the chance a tampered segment escaped it, else None."""
        cov = self.replay.coverage
        if self.rung != SAMPLED_RUNG or cov is None or not cov.sampled or cov.escape_probability is None:
            return None
        n, m = cov.segments_replayed, cov.segments_total
        return f"a single tampered segment escapes a {n}-of-{m} sample with probability {percent(cov.escape_probability)}"

    @computed_field  # type: ignore[prop-decorator]
    @property
    def verdict(self) -> Literal["pass", "fail"]:
        """``fail`` on any unwaived finding at the gate's severity, or below the required rung."""
        low = self.gate.require_level is not None and below(self.rung, self.gate.require_level)
        return "fail" if self.blocking() or low else "pass"

    @computed_field(description=(  # type: ignore[prop-decorator]
        "The rung, stated with its sample: `reproduced (sampled N/M)` when the replay that reached `reproduced` "
        "covered N of the release's M segments; plain `reproduced` only when every segment was replayed."))
    @property
    def level(self) -> LevelText:
        cov = self.replay.coverage
        return level_name(self.rung, cov.segments_replayed, cov.segments_total) if cov else self.rung

    @computed_field(description=(  # type: ignore[prop-decorator]
        "Highest rung of the openness ladder whose criteria (and those below) all pass. --require-level compares "
        "rungs: a sampled reproduction meets `reproduced`; `level` and `replay.coverage` say it was a sample."))
    @property
    def rung(self) -> Level:
        return ladder(self._statuses(), bool(self.release.license), LEVELS, "closed")

    @computed_field  # type: ignore[prop-decorator]
    @property
    def mof_class(self) -> MofClass:
        """Model Openness Framework class the evidence supports (I is the most open)."""
        return ladder(self._statuses(), bool(self.release.license), MOF_CLASSES, "none")

    def _statuses(self) -> dict[str, str]:
        return {c: r.status for c, r in self.criteria.items()}

    def counts(self) -> dict[str, int]:
        """Unwaived findings per severity, and the number waived."""
        out = {"error": 0, "warning": 0, "info": 0, "waived": 0}
        for f in self.findings:
            out["waived" if f.waiver else f.severity] += 1
        return out
