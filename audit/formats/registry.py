"""Which reader reads which ``data.format.kind``. Readers besides JSONL import numpy or pyarrow, so
each is imported only when a chunk of its kind is read."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from audit.formats.interface import ChunkReader, ChunkScan
from audit.spec.manifest import DataFormat


def _jsonl() -> ChunkReader:
    from audit.formats import jsonl_tokens

    return jsonl_tokens


def _npy() -> ChunkReader:
    from audit.formats import npy_tokens

    return npy_tokens


def _megatron() -> ChunkReader:
    from audit.formats import megatron

    return megatron


def _parquet() -> ChunkReader:
    from audit.formats import parquet_tokens

    return parquet_tokens


def _litdata() -> ChunkReader:
    from audit.formats import litdata_tokens

    return litdata_tokens


READERS: dict[str, Callable[[], ChunkReader]] = {
    "jsonl-token-ids": _jsonl,
    "npy-tokens": _npy,
    "megatron-indexed": _megatron,
    "parquet-tokens": _parquet,
    "litdata-tokens": _litdata,
}


def scan_chunk(path: Path, fmt: DataFormat, vocab_size: int | None) -> ChunkScan:
    """Recount ``path`` with the reader of ``fmt.kind``."""
    return READERS[fmt.kind]().scan(path, fmt, vocab_size, ChunkScan())


def read_sequences(path: Path, fmt: DataFormat, indices: list[int]) -> dict[int, list[int]]:
    """The token ids of the sequences at ``indices`` (0-based, in file order) of a chunk of ``fmt.kind``.

    Raises ValueError (or ReaderMissing) with a one-line reason; used by the replay."""
    return READERS[fmt.kind]().sequences(path, fmt, indices)
