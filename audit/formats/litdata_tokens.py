"""``litdata-tokens``: a litdata optimized dataset of token ids (``litdata.optimize`` with
``item_loader=TokensLoader()``, what LitGPT's ``LitData`` and ``TokensLoader`` read): ``index.json`` and
``chunk-*.bin`` in one directory, read without importing litdata.

``index.json``: ``{"chunks": [{"filename", "chunk_size" (items), "chunk_bytes", "dim" (token ids)}, …],
"config": {"data_format": ["no_header_tensor:N"], "item_loader": "TokensLoader", "compression": null, …}}``.
A chunk: uint32 item count ``n``, ``n + 1`` uint32 byte offsets (the first is the header's own size), then
the items' token ids back to back. TokensLoader cuts each chunk's token ids into blocks of
``block_size`` (LitGPT: max_seq_length + 1 = data.format.tokens_per_sequence) and drops the rest of
the chunk: sequence i of a chunk is its token ids ``i × length`` … ``(i + 1) × length``. Without
tokens_per_sequence, the items are the sequences. The index is untrusted JSON (bounded read); every
field is checked against the chunk's header and its size before a token id is read.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from audit.formats.arrays import BLOCK, pick, tally
from audit.formats.interface import ChunkScan, chunk_source
from audit.readers.bounded import MAX_JSON_BYTES, read_bytes
from audit.spec.manifest import DataFormat

INDEX = "index.json"
#: litdata's dtype codes (litdata.constants): no_header_tensor → torch's table, no_header_numpy → numpy's.
TENSOR_DTYPES = {11: "uint8", 12: "int8", 13: "int16", 14: "int16", 15: "int32", 16: "int32", 17: "int64",
                 18: "int64", 20: "uint16"}  # fmt: skip
NUMPY_DTYPES = {0: "int8", 1: "int16", 2: "int32", 3: "int64", 4: "uint8", 5: "uint16", 6: "uint32", 7: "uint64"}
MAX_CHUNK_ITEMS = 1 << 28


class LitdataProblem(ValueError):
    """Not a usable litdata token chunk; ``index`` when index.json is at fault (the message is one line)."""

    def __init__(self, message: str, index: bool = False):
        super().__init__(message)
        self.index = index


@dataclass(frozen=True)
class Layout:
    dtype: np.dtype
    items: int  # the chunk's items (sequences as optimize wrote them)
    offsets: np.ndarray  # n + 1 byte offsets of the items
    tokens: int
    header: int  # bytes before the first token id


def index_path(chunk: Path) -> Path:
    return chunk.parent / INDEX


def read_index(path: Path) -> dict:
    """index.json, bounded and shape-checked: its config and its chunks by file name."""
    try:
        doc = json.loads(read_bytes(path, MAX_JSON_BYTES))
    except (OSError, ValueError, RecursionError) as exc:
        raise LitdataProblem(f"{INDEX} cannot be read: {str(exc).splitlines()[0][:120]}", index=True) from None
    if not isinstance(doc, dict) or not isinstance(doc.get("chunks"), list) or not isinstance(doc.get("config"), dict):
        raise LitdataProblem(f"{INDEX} is not a litdata index (no 'chunks' list and 'config' object)", index=True)
    return doc


def is_token_index(path: Path) -> bool:
    """An index.json of a litdata dataset written for TokensLoader (for init)."""
    try:
        doc = read_index(path)
    except LitdataProblem:
        return False
    return doc["config"].get("item_loader") == "TokensLoader"


def chunk_names(index: Path) -> list[str]:
    """The chunk file names of an index, in its order (the order TokensLoader streams them unshuffled)."""
    try:
        chunks = read_index(index)["chunks"]
    except LitdataProblem:
        return []
    return [c["filename"] for c in chunks if isinstance(c, dict) and isinstance(c.get("filename"), str)]


def _dtype(config: dict) -> np.dtype:
    fmt = config.get("data_format")
    if config.get("item_loader") != "TokensLoader":
        raise LitdataProblem(f"{INDEX}: item_loader is {config.get('item_loader')!r}, not TokensLoader", index=True)
    if config.get("compression") or config.get("encryption"):
        raise LitdataProblem(f"{INDEX}: compressed or encrypted chunks are not read", index=True)
    if not (isinstance(fmt, list) and len(fmt) == 1 and isinstance(fmt[0], str) and fmt[0].count(":") == 1):
        raise LitdataProblem(f"{INDEX}: data_format {fmt!r} is not one token tensor", index=True)
    name, code = fmt[0].split(":")
    table = {"no_header_tensor": TENSOR_DTYPES, "no_header_numpy": NUMPY_DTYPES}.get(name)
    if table is None or not code.isdigit() or int(code) not in table:
        raise LitdataProblem(f"{INDEX}: data_format {fmt[0]!r} is not an integer token type", index=True)
    return np.dtype(table[int(code)]).newbyteorder("<")


def layout(path: Path) -> Layout:
    """The chunk's header checked against its index entry and its size (nothing after the header is read)."""
    doc = read_index(index_path(path))
    dtype = _dtype(doc["config"])
    entry = next((c for c in doc["chunks"] if isinstance(c, dict) and c.get("filename") == path.name), None)
    if entry is None:
        raise LitdataProblem(f"{INDEX} does not list {path.name}", index=True)
    for key in ("chunk_size", "chunk_bytes", "dim"):
        if type(entry.get(key)) is not int or entry[key] < 0:
            raise LitdataProblem(f"{INDEX}: {path.name}'s {key} is {entry.get(key)!r}, not a count", index=True)
    size = path.stat().st_size
    with open(path, "rb") as f:
        head = f.read(4)
        if len(head) < 4:
            raise LitdataProblem(f"truncated: {size} bytes, not even the item count")
        n = int(np.frombuffer(head, "<u4")[0])
        if n > MAX_CHUNK_ITEMS or (n + 2) * 4 > size:
            raise LitdataProblem(f"truncated or corrupt: its header counts {n} items, {(n + 2) * 4} header bytes, "
                                 f"the file has {size}")  # fmt: skip
        offsets = np.frombuffer(f.read((n + 1) * 4), "<u4").astype(np.int64)
    header = (n + 2) * 4
    if n != entry["chunk_size"]:
        raise LitdataProblem(f"{INDEX} says {path.name} holds {entry['chunk_size']} items, its header {n}", index=True)
    if offsets[0] != header or np.any(np.diff(offsets) < 0):
        raise LitdataProblem("corrupt header: item offsets do not start after the header and increase")
    if offsets[-1] > size:
        raise LitdataProblem(f"truncated: {size} bytes, its header describes {int(offsets[-1])}")
    if offsets[-1] < size:
        raise LitdataProblem(f"{size - int(offsets[-1])} bytes after the last item its header describes")
    if np.any(np.diff(offsets) % dtype.itemsize):
        raise LitdataProblem(f"an item is not a whole number of {dtype} token ids")
    tokens = int(offsets[-1] - header) // dtype.itemsize
    if entry["chunk_bytes"] != size:
        raise LitdataProblem(f"{INDEX} says {path.name} is {entry['chunk_bytes']} bytes, it is {size}", index=True)
    if entry["dim"] != tokens:
        raise LitdataProblem(f"{INDEX} says {path.name} holds {entry['dim']} token ids, it holds {tokens}", index=True)
    return Layout(dtype=dtype, items=n, offsets=offsets, tokens=tokens, header=header)


def _tokens(path: Path, lay: Layout) -> np.ndarray:
    if not lay.tokens:
        return np.zeros(0, lay.dtype)
    return np.memmap(path, dtype=lay.dtype, mode="r", offset=lay.header, shape=(lay.tokens,))


def scan(path: Path, fmt: DataFormat, vocab_size: int | None, scan: ChunkScan) -> ChunkScan:
    try:
        lay = layout(path)
    except LitdataProblem as exc:
        return scan.error(str(exc), index=exc.index, fatal=True)
    except OSError as exc:
        return scan.error(f"cannot read: {exc.strerror}", fatal=True)
    flat = _tokens(path, lay)
    length = fmt.tokens_per_sequence
    if length is None:  # the items as optimize wrote them
        sizes = np.diff(lay.offsets) // lay.dtype.itemsize
        tally(scan, np.asarray(flat), sizes, vocab_size)
    else:  # TokensLoader's blocks; the chunk's last tokens short of a block are never trained on
        n = lay.tokens // length
        rows = max(1, BLOCK // length)
        for i in range(0, n, rows):
            j = min(n, i + rows)
            tally(scan, np.asarray(flat[i * length : j * length]), np.full(j - i, length), vocab_size)
        rest = np.asarray(flat[n * length :])
        if rest.size:
            scan.tokens += int(rest.size)
            bad = int(((rest < 0) | (rest >= vocab_size)).sum()) if vocab_size is not None else int((rest < 0).sum())
            scan.out_of_vocab += bad
            scan.max_token_id = max(scan.max_token_id, int(rest.max()))
    if scan.tokens:
        scan.sources[chunk_source(path, fmt)] += scan.tokens
    return scan


def sequences(path: Path, fmt: DataFormat, indices: list[int]) -> dict[int, list[int]]:
    lay = layout(path)  # LitdataProblem is a ValueError
    flat = _tokens(path, lay)
    length = fmt.tokens_per_sequence
    if length is None:
        pick(lay.items, indices, "chunk")
        starts = (lay.offsets - lay.header) // lay.dtype.itemsize
        return {i: flat[starts[i] : starts[i + 1]].tolist() for i in indices}
    pick(lay.tokens // length, indices, "chunk")
    return {i: flat[i * length : (i + 1) * length].tolist() for i in indices}
