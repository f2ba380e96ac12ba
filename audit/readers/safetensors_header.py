"""Defensive safetensors header parsing: structure is checked before any tensor byte is read.

Rules (DESIGN.md §5): 8-byte little-endian header length, at most 100 MB; the header is a JSON
object; every tensor has a known dtype, a shape of non-negative ints and ``data_offsets`` that
are contiguous from 0, in order, inside the file, and of size numel × dtype width; no duplicate
names; the data section ends exactly at the end of the file.
"""

from __future__ import annotations

import json
import math
import struct

import orjson
from dataclasses import dataclass
from typing import NamedTuple
from pathlib import Path

MAX_HEADER_BYTES = 100 * 1000 * 1000

DTYPE_BYTES = {
    "BOOL": 1, "U8": 1, "I8": 1, "F8_E5M2": 1, "F8_E4M3": 1, "F8_E8M0": 1,
    "I16": 2, "U16": 2, "F16": 2, "BF16": 2,
    "I32": 4, "U32": 4, "F32": 4,
    "I64": 8, "U64": 8, "F64": 8,
}  # fmt: skip


class HeaderError(ValueError):
    """The file is not a well-formed safetensors file; the message says what is wrong."""


class TensorInfo(NamedTuple):
    dtype: str
    shape: tuple[int, ...]
    begin: int  # offset in the data section
    end: int

    @property
    def numel(self) -> int:
        return math.prod(self.shape)


@dataclass(frozen=True)
class SafetensorsHeader:
    tensors: dict[str, TensorInfo]
    metadata: dict[str, str]
    data_start: int  # absolute file offset of the data section

    @property
    def parameters(self) -> int:
        return sum(t.numel for t in self.tensors.values())


def _reject_duplicates(pairs: list[tuple[str, object]]) -> dict:
    seen: dict[str, object] = {}
    for k, v in pairs:
        if k in seen:
            raise HeaderError(f"duplicate key {k!r} in header")
        seen[k] = v
    return seen


def _keys(obj: object) -> int:
    """Keys in a parsed header: the top level, each tensor entry, the metadata (two levels deep)."""
    if not isinstance(obj, dict):
        return 0
    return len(obj) + sum(len(v) for v in obj.values() if isinstance(v, dict))


def _fast_json(raw: bytes) -> dict | None:
    """orjson for the common case, or None to take the exact path. Accepted only when no key can have
    been a duplicate: every key written as ``"…":`` is counted in the raw bytes, and the parser kept
    as many (a duplicate, or a string that contains ``":``, makes the counts differ)."""
    if any(ws + b":" in raw for ws in (b" ", b"\t", b"\n", b"\r")):
        return None
    try:
        obj = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(obj, dict):
        return None
    # Objects deeper than an entry are not counted, and need not be: a valid header has none (entry values
    # are strings and lists of ints), so such a header fails validation and takes the exact path.
    return obj if raw.count(b'":') == _keys(obj) else None


#: Validated headers by (header bytes, file size): the checkpoints of one run repeat the same layout, and
#: identical bytes in a file of the same size parse to the same header (the result is shared, read-only).
_SEEN: dict[tuple[bytes, int], SafetensorsHeader] = {}
_SEEN_MAX = 256
#: Only headers up to this size are kept (a 7B shard's is ~30 KB): at most _SEEN_MAX × this in memory.
_SEEN_MAX_BYTES = 256 * 1024


def parse_header_bytes(prefix: bytes, file_size: int) -> SafetensorsHeader:
    """Parse and validate a header given the first bytes of the file (length field + JSON)."""
    key = (prefix, file_size)
    seen = _SEEN.get(key)
    if seen is not None:
        return seen
    header = _parse(prefix, file_size)
    if len(prefix) <= _SEEN_MAX_BYTES:
        if len(_SEEN) >= _SEEN_MAX:
            _SEEN.pop(next(iter(_SEEN)))
        _SEEN[key] = header
    return header


def _parse(prefix: bytes, file_size: int) -> SafetensorsHeader:
    fast = _fast_json(prefix[8 : 8 + struct.unpack("<Q", prefix[:8])[0]]) if len(prefix) >= 8 else None
    if fast is not None:
        try:
            return _validate(fast, prefix, file_size)
        except HeaderError:
            pass  # the exact path below gives the canonical message
    return _validate(None, prefix, file_size)


def _validate(obj: dict | None, prefix: bytes, file_size: int) -> SafetensorsHeader:
    if len(prefix) < 8:
        raise HeaderError(f"file is {file_size} bytes, too short for a safetensors header")
    (n,) = struct.unpack("<Q", prefix[:8])
    if n > MAX_HEADER_BYTES:
        raise HeaderError(f"header length {n} exceeds the {MAX_HEADER_BYTES}-byte limit")
    if 8 + n > file_size:
        raise HeaderError(f"header length {n} runs past the end of the {file_size}-byte file")
    raw = prefix[8 : 8 + n]
    if len(raw) < n:
        raise HeaderError("header is truncated")
    if obj is None:
        try:
            obj = json.loads(raw.decode("utf-8"), object_pairs_hook=_reject_duplicates)
        except HeaderError:
            raise
        except (ValueError, RecursionError) as exc:  # JSONDecodeError, bad UTF-8, >4300-digit integers
            raise HeaderError(f"header is not valid JSON: {str(exc).splitlines()[0][:200]}") from None
    if not isinstance(obj, dict):
        raise HeaderError(f"header is a JSON {type(obj).__name__}, not an object")

    metadata = obj.pop("__metadata__", {})
    if not isinstance(metadata, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in metadata.items()
    ):
        raise HeaderError("__metadata__ must map strings to strings")

    tensors: dict[str, TensorInfo] = {}
    for name, spec in obj.items():
        tensors[name] = _tensor_info(name, spec)

    data_size = file_size - 8 - n
    expected = 0
    for begin, end, name in sorted([(t.begin, t.end, name) for name, t in tensors.items()]):
        if begin != expected:
            what = "overlaps the previous tensor" if begin < expected else "leaves a gap"
            raise HeaderError(f"tensor {name!r} starts at {begin}, expected {expected}: {what}")
        expected = end
    if expected != data_size:
        if expected > data_size:
            raise HeaderError(f"tensor data needs {expected} bytes but the file has {data_size}")
        raise HeaderError(f"{data_size - expected} trailing bytes after the last tensor")
    return SafetensorsHeader(tensors=tensors, metadata=dict(metadata), data_start=8 + n)


def _tensor_info(name: str, spec: object) -> TensorInfo:
    if type(spec) is not dict or len(spec) != 3 or not ("dtype" in spec and "shape" in spec and "data_offsets" in spec):
        raise HeaderError(f"tensor {name!r}: entry must have exactly dtype, shape, data_offsets")
    dtype, shape, offsets = spec["dtype"], spec["shape"], spec["data_offsets"]
    width = DTYPE_BYTES.get(dtype) if type(dtype) is str else None
    if width is None:
        raise HeaderError(f"tensor {name!r}: unknown dtype {dtype!r}")
    if type(shape) is not list:
        raise HeaderError(f"tensor {name!r}: shape must be a list of non-negative ints")
    numel = 1
    for d in shape:  # a loop, not all(...): this runs for every tensor of every checkpoint
        if type(d) is not int or d < 0:
            raise HeaderError(f"tensor {name!r}: shape must be a list of non-negative ints")
        numel *= d
    if type(offsets) is not list or len(offsets) != 2:
        raise HeaderError(f"tensor {name!r}: data_offsets must be two ascending non-negative ints")
    begin, end = offsets
    if type(begin) is not int or type(end) is not int or begin < 0 or begin > end:
        raise HeaderError(f"tensor {name!r}: data_offsets must be two ascending non-negative ints")
    if end - begin != numel * width:
        raise HeaderError(
            f"tensor {name!r}: {end - begin} bytes for shape {shape} of {dtype} (expected {numel * width})"
        )
    return TensorInfo(dtype, tuple(shape), begin, end)


def read_header(path: Path) -> SafetensorsHeader:
    """Read and validate the header of a safetensors file without reading tensor data."""
    size = path.stat().st_size
    with open(path, "rb") as f:
        head = f.read(8)
        if len(head) == 8:
            (n,) = struct.unpack("<Q", head)
            if n <= MAX_HEADER_BYTES and 8 + n <= size:
                head += f.read(n)
    return parse_header_bytes(head, size)
