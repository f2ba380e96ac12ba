"""What ``llm360-audit init`` recognises as data in the formats besides JSONL, from headers alone:
an integer .npy array (not global_indices.npy), a .bin whose .idx is a Megatron index, a .parquet
file with a list<integer> token column; and ``global_indices.npy``, an OLMo-style global order."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from audit.spec.manifest import DataFormat

GLOBAL_INDICES = "global_indices.npy"


def is_megatron_bin(p: Path) -> bool:
    """A .bin beside an .idx that starts with Megatron's magic (data, not model weights)."""
    from audit.formats.megatron import index_path, is_index

    return p.suffix == ".bin" and is_index(index_path(p))


def npy_shape(p: Path) -> tuple[int, ...] | None:
    """The shape of a 1-D or 2-D integer .npy array (header only), else None."""
    from audit.formats.arrays import NpyError, npy_header

    try:
        shape, dtype, _ = npy_header(p)
    except (NpyError, OSError):
        return None
    return shape if not dtype.hasobject and dtype.kind in "iu" and len(shape) in (1, 2) else None


def _parquet_tokens(files: list[Path], field: str, note: Callable[[str], None]) -> list[Path]:
    candidates = [p for p in files if p.suffix == ".parquet"]
    if not candidates:
        return []
    from audit.formats.interface import ReaderMissing
    from audit.formats.parquet_tokens import pyarrow, token_column_problem

    try:
        pa = pyarrow()
    except ReaderMissing as exc:
        note(f"data: {len(candidates)} .parquet file(s) not examined: {exc}")
        return []
    found = []
    for p in candidates:
        try:
            if token_column_problem(pa, pa.parquet.read_schema(p), field) is None:
                found.append(p)
        except (pa.ArrowException, OSError, ValueError):
            continue
    return found


def is_litdata_chunk(p: Path) -> bool:
    """A .bin listed by the litdata token index beside it (data, not model weights)."""
    from audit.formats.litdata_tokens import INDEX, chunk_names, is_token_index

    index = p.parent / INDEX
    return p.suffix == ".bin" and index.is_file() and is_token_index(index) and p.name in chunk_names(index)


def litdata_chunks(files: list[Path]) -> list[Path]:
    """The chunk files of every litdata token dataset among ``files``, each dataset in its index's order."""
    from audit.formats.litdata_tokens import INDEX, chunk_names, is_token_index

    present = set(files)
    out = []
    for index in (p for p in files if p.name == INDEX and is_token_index(p)):
        out += [index.parent / n for n in chunk_names(index) if "/" not in n and index.parent / n in present]
    return out


def find_chunks(files: list[Path], fmt: DataFormat, note: Callable[[str], None]) -> dict[str, list[Path]]:
    """Chunk files of each non-JSONL kind among ``files``."""
    return {
        "megatron-indexed": [p for p in files if is_megatron_bin(p)],
        "parquet-tokens": _parquet_tokens(files, fmt.tokens_field, note),
        "npy-tokens": [p for p in files if p.suffix == ".npy" and p.name != GLOBAL_INDICES and npy_shape(p)],
        "litdata-tokens": litdata_chunks(files),
    }


def guess_tokens_per_sequence(flat_sizes: list[int], sequence_length: object) -> int | None:
    """For 1-D token arrays: sequence_length + 1 (with the shifted label) or sequence_length, the first
    that cuts every array into whole sequences; None when neither does."""
    if type(sequence_length) is not int or sequence_length < 1:
        return None
    for n in (sequence_length + 1, sequence_length):
        if all(size % n == 0 for size in flat_sizes):
            return n
    return None
