"""Tampered copies of a release for measuring the order test (tests and benchmarks/order_test.py): two data
chunks swapped, one replaced by never-trained sequences of the same counts and sources, or one checkpoint's
weights replaced by those of a differently seeded run; then ``init``."""

from __future__ import annotations

import json
import random
import shutil
import tempfile
from dataclasses import replace
from pathlib import Path

from audit.example.build import FORENSICS, Variant, build_example
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


def substitute_chunk(root: Path, i: int, text_tokens: int = 16, seed: int = 424242) -> None:
    """Replace chunk i by sequences no checkpoint saw, shaped as the text-then-random fixture's: held-out text
    of the example corpus, then fresh random bytes; counts, lengths and sources stay the original's."""
    path = _chunk(root, i)
    rng = random.Random(seed)
    held_out = [w for ws in split_corpus(text_tokens)[1].values() for w in ws]
    rng.shuffle(held_out)
    lines = []
    for n, line in enumerate(path.read_text().splitlines()):
        row = json.loads(line)
        ids = row["token_ids"]
        row["token_ids"] = held_out[n % len(held_out)] + [rng.randrange(256) for _ in ids[text_tokens:]]
        lines.append(json.dumps(row, separators=(",", ":")) + "\n")
    path.write_text("".join(lines))
    init_release(root)


def foreign_checkpoint(root: Path, step: int, seed: int, variant: Variant = FORENSICS, same_data: bool = True) -> None:
    """Replace the weights of checkpoint ``step`` by those of the same fixture trained with training seed
    ``seed`` (another initialisation); on the same data in the same order unless ``same_data`` is False
    (then the data shuffle and random bytes follow ``seed`` too)."""
    other = replace(variant, train=replace(variant.train, seed=seed),
                    data_seed=variant.train.seed if same_data else seed)  # fmt: skip
    name = Path("checkpoints") / f"step_{step:06d}" / "model.safetensors"
    with tempfile.TemporaryDirectory(prefix="llm360-foreign-") as tmp:
        build_example(Path(tmp) / "run", variant=other)
        shutil.copyfile(Path(tmp) / "run" / name, root / name)
    init_release(root)
