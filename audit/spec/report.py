"""The audit report: pydantic models mirroring schemas/report.schema.json.

The report is data; the verdict and the openness level are *derived* from the criteria and the
findings (computed fields), never stored separately from the evidence.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, computed_field

from audit import SPEC_VERSION
from audit.spec.names import (CRITERIA, LEVEL_NAMES, LEVELS, MOF_CLASSES, MOF_NAMES, SCOPES, Severity, below,  # noqa: F401
                              ladder)  # fmt: skip

CriterionId = Literal[CRITERIA]  # type: ignore[valid-type]
FindingScope = Literal[SCOPES]  # type: ignore[valid-type]
Status = Literal["pass", "fail", "partial", "skipped"]
SegmentStatus = Literal["bit-exact", "within-tolerance", "mismatch", "skipped", "error"]
Level = Literal[LEVEL_NAMES]  # type: ignore[valid-type]
MofClass = Literal[MOF_NAMES]  # type: ignore[valid-type]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Waiver(Strict):
    reason: str
    expires: str = Field(description="ISO date after which the waiver no longer applies.")


class Finding(Strict):
    id: str = Field(description="Stable rule id, e.g. checkpoints.sha256-mismatch.")
    severity: Severity
    criterion: FindingScope
    message: str
    path: str | None = Field(None, description="Release-relative path the finding is about.")
    line: int | None = Field(None, ge=1, description="1-based line in path, where the finding has one.")
    remediation: str | None = None
    waiver: Waiver | None = Field(None, description="Set when the gate policy waives this finding.")


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


class Replay(Strict):
    mode: str = Field(description="What --replay asked for: all, none or a sample size.")
    seed: int | None = Field(None, description="Seed of the segment sample.")
    steps: int | None = Field(None, description="--replay-steps: steps replayed per segment (None: all).")
    device: str | None = None
    environment: dict[str, Any] = Field(default_factory=dict, description="Fingerprint of the replay environment.")
    segments: list[ReplaySegment] = Field(default_factory=list)


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

    @computed_field  # type: ignore[prop-decorator]
    @property
    def verdict(self) -> Literal["pass", "fail"]:
        """``fail`` on any unwaived finding at the gate's severity, or below the required level."""
        low = self.gate.require_level is not None and below(self.level, self.gate.require_level)
        return "fail" if self.blocking() or low else "pass"

    @computed_field  # type: ignore[prop-decorator]
    @property
    def level(self) -> Level:
        """Highest rung of the openness ladder whose criteria (and those below) all pass."""
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
