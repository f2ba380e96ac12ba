"""What the user asked the replay to do."""

from __future__ import annotations

from dataclasses import dataclass

#: --replay default: a small seeded sample that always includes the first segment.
DEFAULT_SAMPLE = "2"


@dataclass(frozen=True)
class ReplayOptions:
    mode: str = DEFAULT_SAMPLE  # "all" | "none" | a number of segments
    steps: int | None = None  # replay only the first K steps of each segment (log comparison only)
    device: str = "cpu"
    seed: int = 0  # seed of the segment sample
    tolerance: float = 1e-3  # max relative difference accepted across environments
    allow_exec: bool = False  # run the release's own replay command
    timeout_s: float = 1800.0
