"""Replay from data in every format, and in an OLMo-style global order: the step → data mapping
of each is the one training used, so the example's segments replay bit for bit; a changed
mapping is caught at the first step it touches."""

from __future__ import annotations

import numpy as np
import pytest

from conftest import audit, read_jsonl, write_jsonl
from test_data_formats import CHUNKS, SEQUENCES, WRITERS, _global_release, convert, rehash


def statuses(report) -> list[str]:
    return [s.status for s in report.replay.segments]


@pytest.mark.parametrize("layout", sorted(WRITERS))
def test_segments_replay_bit_exact_from_each_format(release, layout):
    convert(release, layout)
    report = audit(release, replay="2")
    assert statuses(report) == ["bit-exact", "bit-exact"], [s.reason for s in report.replay.segments]
    assert report.criteria["replay"].status == "pass"


def permuted_storage(release, seed: int = 0) -> np.ndarray:
    """Store the example's sequences in a shuffled order across the chunks; return the global order
    (training position → storage index) that gives training its original sequence at every position."""
    paths = [release / "data" / f"train_{k:03d}.jsonl" for k in range(CHUNKS)]
    rows = [r for p in paths for r in read_jsonl(p)]  # training order: chunk by chunk, line by line
    perm = np.random.default_rng(seed).permutation(len(rows))
    storage = [None] * len(rows)
    for position, index in enumerate(perm):
        storage[index] = rows[position]
    for k, p in enumerate(paths):
        write_jsonl(p, storage[k * SEQUENCES : (k + 1) * SEQUENCES])
    return perm.astype(np.uint32)


def test_global_order_replays_bit_exact_and_a_swap_is_caught(release):
    order = permuted_storage(release)
    m = _global_release(release, order)
    assert m["data"]["order"]["within_chunk"] == "global-indices"
    report = audit(release, replay="all")
    assert statuses(report) == ["bit-exact"] * 7, [s.reason for s in report.replay.segments]

    batch = 8
    swapped = order.copy()
    a, b = 9 * batch + 2, 10 * batch + 5  # a sequence of step 10 trades places with one of step 11
    swapped[a], swapped[b] = swapped[b], swapped[a]
    np.save(release / "data/global_indices.npy", swapped)
    rehash(release, "data/global_indices.npy")
    report = audit(release, replay="all")
    bad = [s for s in report.replay.segments if s.status == "mismatch"]
    assert [(s.start_step, s.first_divergent_step) for s in bad] == [(8, 10)]
    assert statuses(report).count("bit-exact") == 6


def test_global_order_too_short_for_a_segment_is_an_error_segment(release):
    order = permuted_storage(release)
    _global_release(release, order[: 26 * 8])
    report = audit(release, replay="all")
    last = report.replay.segments[-1]
    assert (last.start_step, last.status) == (24, "error") and "global_indices.npy has 208 positions" in last.reason
