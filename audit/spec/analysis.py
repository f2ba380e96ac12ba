"""What ``llm360-audit analyze`` writes: the Analysis360 memorization study on its own (memorization.json)."""

from __future__ import annotations

from pydantic import Field

from audit.spec.report import MemorizationRow, Strict, Tool


class ChunkGroup(Strict):
    group: int = Field(description="0-based, in training order.")
    first_step: int
    last_step: int


class MemorizationStudy(Strict):
    """Prompt with the first k tokens of a sampled training sequence, greedy-decode l; token match = share
    of the l tokens right, full match = share of sequences with all l right; per checkpoint × chunk group."""

    tool: Tool
    release: str = Field(description="The release directory.")
    name: str | None = None
    k: int
    l: int  # noqa: E741
    sample: int = Field(description="Sequences sampled per chunk group.")
    seed: int
    device: str
    groups: list[ChunkGroup] = Field(default_factory=list)
    rows: list[MemorizationRow] = Field(default_factory=list)
    skipped_short: int = Field(0, description="Sampled sequences shorter than k + l, skipped.")
    final_step: int | None = Field(None, description="The last checkpoint studied.")
    trend_rho: float | None = Field(None, description="Spearman rho between a sequence's chunk group and its correct "
                                    "tokens at the final checkpoint (> 0: later chunks memorized more).")
    trend_p: float | None = Field(None, description="One-sided p-value of trend_rho > 0.")
    problems: list[str] = Field(default_factory=list, description="Checkpoints that could not be studied, and why.")
    forward_passes: int = 0
    wall_s: float = 0.0
