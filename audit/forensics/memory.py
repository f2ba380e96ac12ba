"""What a checkpoint remembers of its training data.

* Palimpsest (Kuditipudi et al. 2025): later-seen sequences are memorized more, so a checkpoint's
  per-sequence log-likelihood rises with the declared training step. Spearman's rho between the two
  on a seeded sample of the steps up to the checkpoint; p-value one-sided (rho > 0, t-approximation).
* Memorization (LLM360's Analysis360): prompt with the first k = 32 tokens of a training sequence,
  greedy-decode l = 32; token_match = correct tokens / (l × sequences), full_match = the share of
  sequences with all l correct; per checkpoint × chunk group. Sequences shorter than k + l are skipped.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from audit.core.release import Release
from audit.forensics.model import greedy, load_model, sequence_losses
from audit.forensics.samples import read_slots, sample_slots
from audit.forensics.stats import spearman
from audit.spec.manifest import Checkpoint

K = L = 32


@dataclass(frozen=True)
class Palimpsest:
    checkpoint_step: int
    rho: float
    p_value: float
    sequences: int
    points: list[tuple[int, float]]  # (declared step, mean per-token log-likelihood) of each sequence


def palimpsest(release: Release, ck: Checkpoint, sample: int, seed: int, device: str = "cpu") -> Palimpsest:
    slots = sample_slots(range(1, ck.step + 1), release, sample, random.Random(f"{seed}:palimpsest"))
    losses = sequence_losses(load_model(release, ck, device), read_slots(release, slots), device)
    r = spearman([-x for x in losses], [float(step) for step, _ in slots])
    points = [(step, -x) for (step, _), x in zip(slots, losses)]
    return Palimpsest(ck.step, r.rho, r.p_greater, len(slots), points)


@dataclass(frozen=True)
class MemorizationRow:
    step: int
    chunk_group: int  # 0-based: the chunk feeding the group's first steps comes first
    token_match: float
    full_match: float
    sequences: int
    hits: tuple[int, ...] = ()  # correct tokens of each sequence (not in the report)

    def scores(self) -> dict:
        """The row without its per-sequence hits (the report's MemorizationRow)."""
        return {"step": self.step, "chunk_group": self.chunk_group, "token_match": self.token_match,
                "full_match": self.full_match, "sequences": self.sequences}  # fmt: skip


def chunk_groups(release: Release, groups: int) -> list[tuple[int, int]]:
    """Step ranges of ``groups`` consecutive groups of the data chunks (one per chunk when fewer)."""
    ranges = sorted((c.first_step, c.last_step) for c in release.manifest.data.chunks if c.first_step and c.last_step)
    size = max(1, -(-len(ranges) // groups))
    return [(ranges[i][0], ranges[min(i + size, len(ranges)) - 1][1]) for i in range(0, len(ranges), size)]


def prompts(release: Release, sample: int, seed: int, groups: int = 8) -> tuple[list[tuple[int, list[list[int]]]], int]:
    """(per chunk group: its seeded sample of sequences at least k + l long, how many were shorter)."""
    out: list[tuple[int, list[list[int]]]] = []
    short = 0
    for g, (first, last) in enumerate(chunk_groups(release, groups)):
        slots = sample_slots(range(first, last + 1), release, sample, random.Random(f"{seed}:memorization:{g}"))
        seqs = read_slots(release, slots)
        usable = [s for s in seqs if len(s) >= K + L]
        short += len(seqs) - len(usable)
        out.append((g, usable))
    return out, short


def score(model, step: int, groups: list[tuple[int, list[list[int]]]], device: str = "cpu") -> list[MemorizationRow]:
    """The memorization scores of one checkpoint's model on each group's sequences."""
    rows = []
    for g, seqs in groups:
        if not seqs:
            continue
        out = greedy(model, [s[:K] for s in seqs], L, device)
        hits = [sum(a == b for a, b in zip(o, s[K : K + L])) for o, s in zip(out, seqs)]
        rows.append(MemorizationRow(step, g, sum(hits) / (L * len(seqs)), sum(h == L for h in hits) / len(seqs),
                                    len(seqs), tuple(hits)))  # fmt: skip
    return rows


def memorization(release: Release, checkpoints: list[Checkpoint], sample: int, seed: int, groups: int = 8,
                 device: str = "cpu") -> tuple[list[MemorizationRow], int]:
    """(the rows, how many sampled sequences were shorter than k + l and skipped)."""
    by_group, short = prompts(release, sample, seed, groups)
    rows = []
    for ck in checkpoints:
        rows += score(load_model(release, ck, device), ck.step, by_group, device)
    return rows, short


def later_memorized_more(rows: list[MemorizationRow], step: int) -> tuple[float, float] | None:
    """(Spearman rho, one-sided p for rho > 0) between a sequence's chunk group and its correct tokens at
    checkpoint ``step``: are later-trained chunks memorized more? None when fewer than 3 sequences or groups."""
    pairs = [(r.chunk_group, h) for r in rows if r.step == step for h in r.hits]
    if len(pairs) < 3 or len({g for g, _ in pairs}) < 2:
        return None
    r = spearman([float(g) for g, _ in pairs], [float(h) for _, h in pairs])
    return r.rho, r.p_greater
