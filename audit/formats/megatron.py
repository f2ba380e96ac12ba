"""``megatron-indexed``: a Megatron-LM / GPT-NeoX (Pythia) indexed dataset, ``NAME.bin`` with ``NAME.idx``.

The index: magic ``MMIDIDX\\0\\0``, version ``<Q`` (1), token dtype code ``<B``, sequence count ``<Q``,
document count ``<Q``, then int32 sizes[sequences], int64 byte pointers[sequences] into the .bin and
int64 document indices[documents] (0 … sequence count; multimodal indices append one int8 mode per
sequence). Every field is checked against the others and against the .bin before a token is read.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from audit.formats.interface import ChunkScan, chunk_source
from audit.formats.arrays import BLOCK, pick, tally
from audit.spec.manifest import DataFormat

MAGIC = b"MMIDIDX\x00\x00"
_FIELDS = struct.Struct("<QBQQ")
HEADER_BYTES = len(MAGIC) + _FIELDS.size
DTYPES = {1: "uint8", 2: "int8", 3: "int16", 4: "int32", 5: "int64", 6: "float64", 7: "float32", 8: "uint16"}
#: Sequences whose sizes and pointers are checked per block.
SEQ_BLOCK = 1 << 20


class IndexProblem(ValueError):
    """The .idx is not a consistent Megatron index; the message is one line."""


@dataclass
class Index:
    dtype: np.dtype
    sizes: np.ndarray
    tokens: int


def index_path(path: Path) -> Path:
    return path.with_suffix(".idx")


def is_index(path: Path) -> bool:
    try:
        with open(path, "rb") as f:
            return f.read(len(MAGIC)) == MAGIC
    except OSError:
        return False


def _array(path: Path, dtype: str, offset: int, count: int) -> np.ndarray:
    return np.memmap(path, dtype=dtype, mode="r", offset=offset, shape=(count,)) if count else np.zeros(0, dtype)


def read_index(idx: Path) -> Index:
    with open(idx, "rb") as f:
        head = f.read(HEADER_BYTES)
    if head[: len(MAGIC)] != MAGIC:
        raise IndexProblem(f"magic is {head[:len(MAGIC)]!r}, not {MAGIC!r}: not a Megatron index")
    if len(head) < HEADER_BYTES:
        raise IndexProblem(f"{len(head)} bytes, shorter than the {HEADER_BYTES}-byte header")
    version, code, n, docs = _FIELDS.unpack(head[len(MAGIC) :])
    if version != 1:
        raise IndexProblem(f"version {version}; only version 1 is defined")
    if code not in DTYPES:
        raise IndexProblem(f"dtype code {code} is not one of Megatron's (1-8)")
    if DTYPES[code].startswith("float"):
        raise IndexProblem(f"token dtype {DTYPES[code]} (code {code}) is not an integer type")
    need, size = HEADER_BYTES + 12 * n + 8 * docs, idx.stat().st_size
    if size < need:
        raise IndexProblem(f"{size} bytes; its header needs {need} for {n} sequences and {docs} document indices")
    if size not in (need, need + n):
        raise IndexProblem(f"{size - need} unexpected byte(s) after the document indices")
    dtype = np.dtype(DTYPES[code]).newbyteorder("<")
    sizes = _array(idx, "<i4", HEADER_BYTES, n)
    pointers = _array(idx, "<i8", HEADER_BYTES + 4 * n, n)
    total = 0
    for i in range(0, n, SEQ_BLOCK):
        s = sizes[i : i + SEQ_BLOCK].astype(np.int64)
        if (s < 0).any():
            raise IndexProblem(f"sequence {i + int(np.argmax(s < 0))} has a negative size")
        ends = np.cumsum(s)
        expect = (total + ends - s) * dtype.itemsize
        off = np.flatnonzero(pointers[i : i + SEQ_BLOCK] != expect)
        if off.size:
            k = int(off[0])
            raise IndexProblem(f"pointer of sequence {i + k} is {int(pointers[i + k])}; "
                               f"the sizes before it put it at byte {int(expect[k])}")  # fmt: skip
        total += int(ends[-1])
    _check_documents(_array(idx, "<i8", HEADER_BYTES + 12 * n, docs), n)
    return Index(dtype=dtype, sizes=sizes, tokens=total)


def _check_documents(doc: np.ndarray, n: int) -> None:
    if not doc.size or doc[0] != 0 or doc[-1] != n:
        span = f"{int(doc[0])} … {int(doc[-1])}" if doc.size else "nothing"
        raise IndexProblem(f"document indices must run from 0 to the sequence count {n}; they run {span}")
    for i in range(0, doc.size, SEQ_BLOCK):
        down = np.flatnonzero(np.diff(doc[max(0, i - 1) : i + SEQ_BLOCK]) < 0)
        if down.size:
            raise IndexProblem(f"document indices decrease at position {max(0, i - 1) + int(down[0]) + 1}")


def scan(path: Path, fmt: DataFormat, vocab_size: int | None, scan: ChunkScan) -> ChunkScan:
    try:
        index = read_index(index_path(path))
    except IndexProblem as exc:
        return scan.error(str(exc), index=True, fatal=True)
    except OSError as exc:
        return scan.error(f"cannot read: {exc.strerror}", index=True, fatal=True)
    want, size = index.tokens * index.dtype.itemsize, path.stat().st_size
    if size != want:
        scan.error(f"{size} bytes; its index describes {index.tokens} {index.dtype} token ids ({want} bytes)",
                   fatal=size < want)  # fmt: skip
        if size < want:
            return scan
    tokens = _array(path, index.dtype.str, 0, index.tokens)
    i, start, n = 0, 0, index.sizes.size
    while i < n:
        ends = np.cumsum(index.sizes[i : i + SEQ_BLOCK], dtype=np.int64)
        j = i + max(1, int(np.searchsorted(ends, BLOCK, side="right")))
        lengths = np.asarray(index.sizes[i:j], dtype=np.int64)
        stop = start + int(lengths.sum())
        tally(scan, np.asarray(tokens[start:stop]), lengths, vocab_size)
        i, start = j, stop
    if scan.tokens:
        scan.sources[chunk_source(path, fmt)] += scan.tokens
    return scan


def sequences(path: Path, fmt: DataFormat, indices: list[int]) -> dict[int, list[int]]:
    index = read_index(index_path(path))  # IndexProblem is a ValueError
    pick(index.sizes.size, indices, "index")
    if path.stat().st_size < index.tokens * index.dtype.itemsize:
        raise ValueError("the .bin is shorter than its index describes")
    tokens = _array(path, index.dtype.str, 0, index.tokens)
    starts = np.concatenate([[0], np.cumsum(index.sizes, dtype=np.int64)])
    return {i: tokens[int(starts[i]) : int(starts[i + 1])].astype(np.int64).tolist() for i in indices}
