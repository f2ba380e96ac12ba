"""Where the expensive evidence comes from — file digests, chunk recounts, replayed segments — so that
no check knows whether it runs in a single audit, in one shard of a split one, or in ``merge``.

* :class:`Evidence` itself: everything is computed here (a plain audit).
* :class:`ShardPart`: ``--shard I/N`` computes only its part (see :mod:`audit.core.shard`); the rest
  is reported as not computed (``None``), and the report carries what this part measured.
* :class:`Recorded`: ``merge`` takes the shards' evidence instead of recomputing it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from audit.core.shard import Shard, file_positions, scan_to_json
from audit.formats.interface import ChunkScan
from audit.spec.manifest import Manifest
from audit.spec.report import ReplaySegment, ShardEvidence


@dataclass
class Replayed:
    """The selected segments this run accounts for, or why none (``skipped``)."""

    segments: list[ReplaySegment] = field(default_factory=list)
    environment: dict[str, Any] = field(default_factory=dict)
    skipped: str | None = None


#: Replays the segments at the given indices: (segments, fingerprint of the replay environment).
RunReplay = Callable[[list[int]], "tuple[list[ReplaySegment], dict[str, Any]]"]
#: A replayable segment: (start step, end step).
Span = tuple[int, int]


class Evidence:
    """A plain audit: every digest, recount and replay is computed by this run."""

    def bind(self, manifest: Manifest) -> None:
        """Called once with the release's manifest, before any question."""

    def computes(self, rel: str) -> bool:
        """Whether this run hashes and recounts the declared file ``rel`` (when no value is recorded)."""
        return True

    def hashes(self) -> dict[str, str]:
        """Digests known before the audit starts, by path."""
        return {}

    def scans(self) -> dict[str, ChunkScan]:
        """Chunk recounts known before the audit starts, by path."""
        return {}

    def replay(self, selected: list[int], spans: Sequence[Span], run: RunReplay) -> Replayed:
        """Account for the segments at ``selected`` (indices into ``spans``)."""
        segments, environment = run(selected)
        return Replayed(segments, environment)

    def part(self, hashes: dict[str, str], scans: dict[str, ChunkScan]) -> ShardEvidence | None:
        """What the report of a split audit's part carries for ``merge`` (None: not a part)."""
        return None



@dataclass
class ShardPart(Evidence):
    """``--shard I/N``: checkpoint k, chunk k and the k-th selected segment are shard k mod N + 1's."""

    shard: Shard
    _positions: dict[str, int] = field(default_factory=dict)

    def bind(self, manifest: Manifest) -> None:
        self._positions = file_positions(manifest)

    def computes(self, rel: str) -> bool:
        return self.shard.owns(self._positions.get(rel, 0))

    def replay(self, selected: list[int], spans: Sequence[Span], run: RunReplay) -> Replayed:
        mine = [ix for k, ix in enumerate(selected) if self.shard.owns(k)]
        if not mine:
            return Replayed(skipped=f"no segment replayed in shard {self.shard} (the selected ones belong to other shards)")
        return super().replay(mine, spans, run)

    def part(self, hashes: dict[str, str], scans: dict[str, ChunkScan]) -> ShardEvidence | None:
        return ShardEvidence(index=self.shard.index, count=self.shard.count, hashes=hashes,
                             chunk_scans={p: scan_to_json(s) for p, s in scans.items()})  # fmt: skip


@dataclass
class Recorded(Evidence):
    """``merge``: the shards' evidence stands in for the expensive work."""

    recorded_hashes: dict[str, str] = field(default_factory=dict)
    recorded_scans: dict[str, ChunkScan] = field(default_factory=dict)
    segments: dict[int, ReplaySegment] = field(default_factory=dict)  # start step → segment
    environment: dict[str, Any] = field(default_factory=dict)

    def hashes(self) -> dict[str, str]:
        return dict(self.recorded_hashes)

    def scans(self) -> dict[str, ChunkScan]:
        return dict(self.recorded_scans)

    def replay(self, selected: list[int], spans: Sequence[Span], run: RunReplay) -> Replayed:
        def lost(start: int, end: int) -> ReplaySegment:
            return ReplaySegment(start_step=start, end_step=end, status="error", reason="no shard report holds this segment")

        found = [self.segments.get(spans[ix][0]) or lost(*spans[ix]) for ix in selected]
        return Replayed(found, self.environment)
