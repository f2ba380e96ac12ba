"""Tampered copies of a release for measuring the order test (tests and benchmarks/order_test.py): two data
chunks swapped, or one replaced by never-trained sequences of the same counts and sources; then ``init``."""

from __future__ import annotations

import json
import random
import shutil
from pathlib import Path

from audit.example.data import split_corpus
from audit.init import init_release


def _chunk(root: Path, index: int) -> Path:
    return root / "data" / f"train_{index:03d}.jsonl"


def swap_chunks(root: Path, i: int, j: int) -> None:
    """Exchange the contents of chunks i and j: the manifest now declares each for the other's steps."""
    a, b = _chunk(root, i), _chunk(root, j)
    tmp = a.with_suffix(".swap")
    shutil.move(a, tmp)
    shutil.move(b, a)
    shutil.move(tmp, b)
    init_release(root)


def substitute_chunk(root: Path, i: int, seed: int = 424242) -> None:
    """Replace chunk i by sequences no checkpoint saw (held-out text of the example's corpus, the second half
    re-drawn at random, as the half-random fixture's), with the counts, lengths and sources of the original."""
    path = _chunk(root, i)
    rng = random.Random(seed)
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    held_out = [w for ws in split_corpus(len(rows[0]["token_ids"]))[1].values() for w in ws]
    lines = []
    for n, row in enumerate(rows):
        ids = row["token_ids"]
        half = len(ids) // 2
        row["token_ids"] = held_out[n % len(held_out)][:half] + [rng.randrange(256) for _ in ids[half:]]
        lines.append(json.dumps(row, separators=(",", ":")) + "\n")
    path.write_text("".join(lines))
    init_release(root)
