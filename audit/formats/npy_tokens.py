"""``npy-tokens``: a .npy integer array, 2-D (sequences, length) or 1-D cut into
data.format.tokens_per_sequence; memory-mapped, read in blocks, never unpickled."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from audit.formats.interface import ChunkScan, chunk_source
from audit.formats.arrays import BLOCK, NpyError, npy_array, pick, tally
from audit.spec.manifest import DataFormat


def scan(path: Path, fmt: DataFormat, vocab_size: int | None, scan: ChunkScan) -> ChunkScan:
    try:
        arr = npy_array(path)
    except NpyError as exc:
        return scan.error(str(exc), fatal=True)
    except OSError as exc:
        return scan.error(f"cannot read: {exc.strerror}", fatal=True)
    if arr.ndim == 2:
        n, length = arr.shape
        rest = 0
        flat = arr.reshape(-1) if arr.flags.c_contiguous else None
    elif arr.ndim == 1:
        length = fmt.tokens_per_sequence
        if length is None:
            return scan.error("a 1-D token array needs data.format.tokens_per_sequence to be cut into sequences",
                              fatal=True)  # fmt: skip
        n, rest = divmod(arr.size, length)
        flat = arr
    else:
        return scan.error(f"a {arr.ndim}-D array; token arrays are 2-D (sequences, length) or 1-D", fatal=True)
    rows = max(1, BLOCK // max(length, 1))
    for i in range(0, n, rows):
        j = min(n, i + rows)
        block = flat[i * length : j * length] if flat is not None else np.ascontiguousarray(arr[i:j]).reshape(-1)
        tally(scan, np.asarray(block), np.full(j - i, length), vocab_size)
    if rest:
        scan.error(f"{arr.size} token ids are not a whole number of {length}-token sequences: "
                   f"the last {rest} form a partial sequence")  # fmt: skip
    if scan.tokens:
        scan.sources[chunk_source(path, fmt)] += scan.tokens
    return scan


def sequences(path: Path, fmt: DataFormat, indices: list[int]) -> dict[int, list[int]]:
    arr = npy_array(path)  # NpyError is a ValueError
    if arr.ndim == 2:
        pick(arr.shape[0], indices, "array")
        return {i: arr[i].tolist() for i in indices}
    length = fmt.tokens_per_sequence
    if arr.ndim != 1 or length is None:
        raise ValueError("not a 2-D token array, nor a 1-D one with data.format.tokens_per_sequence")
    pick(arr.size // length, indices, "array")
    return {i: arr[i * length : (i + 1) * length].tolist() for i in indices}
