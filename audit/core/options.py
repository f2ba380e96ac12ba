"""What an audit is asked to do, in five groups: how much evidence to gather (scope), what to replay,
what to test from the weights alone (order),
what fails the gate, and where the evidence and remote components come from (sources)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path

from audit.core.evidence import Evidence
from audit.core.policy import Policy
from audit.forensics.options import OrderTestOptions
from audit.replay.options import ReplayOptions
from audit.storage.remote import Resolver


@dataclass(frozen=True)
class ScopeOptions:
    hash_files: bool = True
    cache_dir: Path | None = None  # hash cache; None = no cache
    data_sample: float = 1.0  # fraction of the data chunks recounted (all are hashed)
    data_sample_seed: int = 0


@dataclass(frozen=True)
class GateOptions:
    policy: Policy = field(default_factory=Policy)
    fail_on: str | None = None  # overrides the policy's
    require_level: str | None = None  # overrides the policy's
    today: dt.date | None = None  # for waiver expiry; None = today
    select: tuple[str, ...] = ()  # --select: keep only findings of these rule ids or prefixes (local runs)
    ignore: tuple[str, ...] = ()  # --ignore: drop findings of these rule ids or prefixes (local runs)


@dataclass(frozen=True)
class AuditOptions:
    scope: ScopeOptions = ScopeOptions()
    replay: ReplayOptions = ReplayOptions()
    order: OrderTestOptions = OrderTestOptions()  # --order-test: weights-only evidence of the data order
    gate: GateOptions = GateOptions()
    evidence: Evidence = field(default_factory=Evidence)  # ShardPart for --shard, Recorded for merge
    resolver: Resolver = field(default_factory=Resolver)  # --resolve-local: remote components → local clones
