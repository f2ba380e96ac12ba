"""Data preparation for the example release: byte-level tokens from the shipped corpus, cut into
fixed-length sequences, mixed deterministically and written as Amber-shaped JSONL chunks."""

from __future__ import annotations

import json
import random
from importlib import resources
from pathlib import Path

SOURCES = ("prose", "code", "science")
HELD_OUT_FRACTION = 0.1


def corpus_bytes(source: str) -> bytes:
    return (resources.files("audit.example") / "corpus" / f"{source}.txt").read_bytes()


def _windows(data: bytes, length: int) -> list[list[int]]:
    return [list(data[i : i + length]) for i in range(0, len(data) - length + 1, length)]


def split_corpus(tokens_per_sequence: int) -> tuple[list[tuple[str, list[int]]], dict[str, list[list[int]]]]:
    """(training sequences with their source, held-out sequences per source)."""
    train, held_out = [], {}
    for source in SOURCES:
        data = corpus_bytes(source)
        cut = int(len(data) * (1 - HELD_OUT_FRACTION))
        train += [(source, w) for w in _windows(data[:cut], tokens_per_sequence)]
        held_out[source] = _windows(data[cut:], tokens_per_sequence)
    return train, held_out


def mix(train: list[tuple[str, list[int]]], count: int, seed: int) -> list[tuple[str, list[int]]]:
    """A deterministic sample of ``count`` training sequences, in training order."""
    if count > len(train):
        raise ValueError(f"the corpus yields {len(train)} sequences, {count} needed")
    order = list(range(len(train)))
    random.Random(seed).shuffle(order)
    return [train[i] for i in order[:count]]


def write_chunk(path: Path, sequences: list[tuple[str, list[int]]]) -> None:
    """One line per sequence: ``{"token_ids": [...], "source": "..."}`` (Amber's layout)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8", newline="\n") as f:
        for source, ids in sequences:
            f.write(json.dumps({"token_ids": ids, "source": source}, separators=(",", ":")) + "\n")
