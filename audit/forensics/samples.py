"""Seeded samples of training positions (step, place in its batch) and the sequences they name, read
through the replay's step → data mapping (audit.replay.data), so both follow one definition."""

from __future__ import annotations

import random
from collections.abc import Sequence

from audit.core.release import Release
from audit.replay.data import step_batches

Slot = tuple[int, int]  # (step, position in its batch)


def sample_slots(steps: Sequence[int], release: Release, count: int, rng: random.Random) -> list[Slot]:
    """``count`` distinct (step, position) slots drawn from ``steps`` (all of them when fewer), sorted."""
    batch = release.manifest.config.training.batch_size
    total = len(steps) * batch
    picked = rng.sample(range(total), min(count, total))
    return sorted((steps[i // batch], i % batch) for i in picked)


def read_slots(release: Release, slots: list[Slot]) -> list[list[int]]:
    """The token ids of each slot, in the order given; each run of consecutive steps is read at once."""
    steps = sorted({s for s, _ in slots})
    batches: dict[int, list[list[int]]] = {}
    i = 0
    while i < len(steps):
        j = i
        while j + 1 < len(steps) and steps[j + 1] == steps[j] + 1:
            j += 1
        for step, batch in zip(range(steps[i], steps[j] + 1), step_batches(release, steps[i], steps[j])):
            batches[step] = batch
        i = j + 1
    return [batches[s][j] for s, j in slots]
