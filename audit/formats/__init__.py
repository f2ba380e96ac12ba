"""Readers of the data formats besides JSONL (``data.format.kind``), one small module each, all
filling the same :class:`audit.formats.interface.ChunkScan` with bounded memory."""

from __future__ import annotations

from importlib import import_module
from pathlib import Path

from audit.formats.interface import ChunkScan
from audit.spec.manifest import DataFormat

READERS = {
    "npy-tokens": "audit.formats.npy_tokens",
    "megatron-indexed": "audit.formats.megatron",
    "parquet-tokens": "audit.formats.parquet_tokens",
}


def scan_with(path: Path, fmt: DataFormat, vocab_size: int | None, scan: ChunkScan) -> ChunkScan:
    """Recount ``path`` with the reader of ``fmt.kind`` (imported on first use)."""
    return import_module(READERS[fmt.kind]).scan(path, fmt, vocab_size, scan)


def read_sequences(path: Path, fmt: DataFormat, indices: list[int]) -> dict[int, list[int]]:
    """The token ids of the sequences at ``indices`` (0-based, in file order) of a chunk of ``fmt.kind``.

    Raises ValueError (or ReaderMissing) with a one-line reason; used by the replay."""
    return import_module(READERS[fmt.kind]).sequences(path, fmt, indices)


def chunk_source(path: Path, fmt: DataFormat) -> str:
    """The source of a chunk without per-sequence sources: data.format.source, else the file stem."""
    return fmt.source if fmt.source is not None else path.stem
