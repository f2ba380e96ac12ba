"""What the user asked the weights-only tests to do (``--order-test``, ``--order-sample``, ``--order-seed``)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class OrderTestOptions:
    #: "auto" (the segments the replay selected that cannot be replayed for want of optimizer or RNG state;
    #: no palimpsest or memorization) | "all" | "none" | a number of segments (the first plus a seeded sample)
    mode: str = "auto"
    sample: int = 64  # declared sequences per segment
    control_sample: int = 256  # control sequences per segment (from the other segments)
    seed: int = 0  # seed of the segment and sequence samples
    alpha: float = 0.01  # significance of both one-sided tests
    min_effect: float = 0.65  # the smallest effect A a truly trained segment shows (see BENCHMARKS.md)
    device: str = "cpu"
    memorization_sample: int = 8  # sequences per chunk group for the memorization table
