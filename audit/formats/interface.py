"""What a data-format reader fills and how it plugs in: a chunk's recount (sequences, tokens, tokens
per source, sequence lengths, vocabulary bounds), its format problems, and the reader interface."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from audit.spec.manifest import DataFormat

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
    malformed_line: int | None = None  # 1-based line of the first malformed record, in a line-based format
    vocab_line: int | None = None  # 1-based line of the first record with an id outside the vocabulary
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


def chunk_source(path: Path, fmt: DataFormat) -> str:
    """The source of a chunk without per-sequence sources: data.format.source, else the file stem."""
    return fmt.source if fmt.source is not None else path.stem


class ChunkReader(Protocol):
    """The data-format plug point: a module that reads chunks of one ``data.format.kind``, with bounded
    memory, registered in :data:`audit.formats.registry.READERS`."""

    def scan(self, path: Path, fmt: DataFormat, vocab_size: int | None, scan: ChunkScan) -> ChunkScan:
        """Recount ``path`` into ``scan`` (sequences, tokens, sources, lengths, vocabulary bounds)."""

    def sequences(self, path: Path, fmt: DataFormat, indices: list[int]) -> dict[int, list[int]]:
        """The token ids of the sequences at ``indices`` (0-based, file order); ValueError on bad data."""
