"""numpy helpers shared by the readers: .npy arrays opened without unpickling, and block tallies."""

from __future__ import annotations

from pathlib import Path
from tokenize import TokenError

import numpy as np

from audit.formats.interface import ChunkScan

#: Token ids read per block: memory stays bounded whatever the size of the chunk.
BLOCK = 1 << 22


class NpyError(ValueError):
    """Not a usable integer .npy array; the message is one line."""


def npy_header(path: Path) -> tuple[tuple[int, ...], np.dtype, int]:
    """Shape, dtype and data offset from the header alone; nothing after the header is read."""
    try:
        with open(path, "rb") as f:
            version = np.lib.format.read_magic(f)
            if version == (1, 0):
                shape, _, dtype = np.lib.format.read_array_header_1_0(f)
            elif version == (2, 0):
                shape, _, dtype = np.lib.format.read_array_header_2_0(f)
            else:
                raise NpyError(f".npy format version {version[0]}.{version[1]} is not supported")
            return shape, dtype, f.tell()
    except NpyError:
        raise
    except (ValueError, EOFError, SyntaxError, TypeError, OverflowError, TokenError) as exc:  # hostile headers
        raise NpyError(f"not a NumPy .npy file ({str(exc).splitlines()[0][:80]})") from None


def npy_array(path: Path) -> np.ndarray:
    """The integer array of a .npy file, memory-mapped. Object arrays (pickles) are refused unread."""
    shape, dtype, offset = npy_header(path)
    if dtype.hasobject:
        raise NpyError("holds Python objects (a pickle); refused unread")
    if dtype.kind not in "iu":
        raise NpyError(f"dtype {dtype} is not an integer type")
    need = offset + int(np.prod(shape, dtype=object)) * dtype.itemsize
    size = path.stat().st_size
    if size < need:
        raise NpyError(f"truncated: {size} bytes, its header describes {need}")
    if need == offset:
        return np.zeros(shape, dtype)
    return np.load(path, mmap_mode="r", allow_pickle=False)


def tally(scan: ChunkScan, flat: np.ndarray, lengths: np.ndarray, vocab_size: int | None) -> None:
    """Count one block of whole sequences: their token ids ``flat`` and their ``lengths``."""
    first = scan.sequences
    scan.sequences += len(lengths)
    scan.tokens += int(flat.size)
    for n, count in zip(*np.unique(lengths, return_counts=True)):
        scan.lengths[int(n)] += int(count)
    if not flat.size:
        return
    lo, hi = int(flat.min()), int(flat.max())
    scan.max_token_id = max(scan.max_token_id, hi)
    if lo >= 0 and (vocab_size is None or hi < vocab_size):
        return
    bad = flat < 0
    if vocab_size is not None:
        bad |= flat >= vocab_size
    scan.out_of_vocab += int(bad.sum())
    where = int(np.argmax(bad))
    seq = first + int(np.searchsorted(np.cumsum(lengths), where, side="right"))
    scan._problem(f"sequence {seq}: token id {int(flat[where])} outside [0, {vocab_size})")


def out_of_range(values: np.ndarray, limit: int) -> tuple[int, int, int] | None:
    """(count, first position, its value) of the values outside [0, limit), block by block; None if all in."""
    count, first = 0, None
    for i in range(0, values.size, BLOCK):
        block = np.asarray(values[i : i + BLOCK])
        bad = (block < 0) | (block >= limit)
        if bad.any():
            count += int(bad.sum())
            if first is None:
                k = int(np.argmax(bad))
                first = (i + k, int(block[k]))
    return None if first is None else (count, *first)


def pick(n: int, indices: list[int], what: str) -> None:
    """Refuse indices beyond the ``n`` sequences of a chunk (the replay asks for what the order maps)."""
    beyond = [i for i in indices if not 0 <= i < n]
    if beyond:
        raise ValueError(f"sequence {beyond[0]} is asked for, but the {what} holds {n} sequences")
