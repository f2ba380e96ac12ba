"""Recount a data chunk: sequences, tokens, tokens per source, sequence lengths, vocabulary bounds.

JSONL is read here; the other formats (data.format.kind) by one small reader each in audit.formats,
imported only when a chunk of that kind is scanned (numpy and pyarrow load lazily)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from audit.readers.jsonl import BadLine, iter_jsonl
from audit.spec.manifest import DataFormat

_INT_ONLY = {int}

#: Problems kept verbatim per chunk; the rest are counted.
MAX_EXAMPLES = 5


@dataclass
class ChunkScan:
    sequences: int = 0
    tokens: int = 0
    sources: Counter = field(default_factory=Counter)
    lengths: Counter = field(default_factory=Counter)
    max_token_id: int = -1
    out_of_vocab: int = 0
    malformed: int = 0
    problems: list[str] = field(default_factory=list)  # first few malformed/out-of-vocab lines
    #: Why the file is not a valid chunk of its format (one line each), and whether it was read at all:
    #: when ``read`` is False the counts mean nothing.
    errors: list[FormatProblem] = field(default_factory=list)
    read: bool = True

    def _problem(self, msg: str) -> None:
        if len(self.problems) < MAX_EXAMPLES:
            self.problems.append(msg)

    def error(self, msg: str, *, index: bool = False, fatal: bool = False) -> ChunkScan:
        self.errors.append(FormatProblem(msg, index))
        self.read = self.read and not fatal
        return self


@dataclass(frozen=True)
class FormatProblem:
    message: str
    index: bool = False  # about the chunk's index file (Megatron .idx), not the chunk itself


class ReaderMissing(Exception):
    """The optional package that reads this format is not installed; the message says which."""


def scan_chunk(path: Path, fmt: DataFormat, vocab_size: int | None) -> ChunkScan:
    if fmt.kind != "jsonl-token-ids":
        from audit.formats import scan_with

        return scan_with(path, fmt, vocab_size, ChunkScan())
    scan = ChunkScan()
    for lineno, rec in iter_jsonl(path):
        if isinstance(rec, BadLine):
            scan.malformed += 1
            scan._problem(f"line {lineno}: {rec.reason}")
            continue
        ids = rec.get(fmt.tokens_field) if isinstance(rec, dict) else None
        if not isinstance(ids, list) or (ids and set(map(type, ids)) != _INT_ONLY):  # C loops, no generator
            scan.malformed += 1
            scan._problem(f"line {lineno}: no list of integer {fmt.tokens_field!r}")
            continue
        scan.sequences += 1
        scan.tokens += len(ids)
        scan.lengths[len(ids)] += 1
        source = rec.get(fmt.source_field)
        scan.sources[source if isinstance(source, str) else "<unlabelled>"] += len(ids)
        if ids:
            lo, hi = min(ids), max(ids)
            scan.max_token_id = max(scan.max_token_id, hi)
            if lo < 0 or (vocab_size is not None and hi >= vocab_size):
                bad = sum(1 for t in ids if t < 0 or (vocab_size is not None and t >= vocab_size))
                scan.out_of_vocab += bad
                scan._problem(f"line {lineno}: {bad} token id(s) outside [0, {vocab_size})")
    return scan
