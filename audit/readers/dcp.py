"""PyTorch Distributed Checkpoint (DCP) directories, read without trusting them: ``.metadata`` and ``*.distcp``.

``.metadata`` is a pickle of ``torch.distributed.checkpoint.metadata.Metadata``; torch's own
``FileSystemReader.read_metadata`` is a plain ``pickle.load`` (a hostile file runs code) and
``torch.load(weights_only=True)`` refuses it. Here it is unpickled with an allow-list: the few DCP
metadata classes, ``torch.Size``, dtypes, layouts and paths resolve to inert stand-ins defined in this
module (none of torch's or the file's code is imported or called); any other global is refused before
anything is built, and the file is reported. The metadata gives every item's name, kind (tensor or
bytes), dtype and shape, and where its bytes lie (file, offset, length), like a safetensors header.
megatron-core's ``dist_checkpointing.save`` (Megatron-LM's ``torch_dist``) also keeps every rank's save plan in
it (``all_local_plans``: ``SavePlan``, ``WriteItem``, ``TensorWriteData``, ``WriteItemType`` of
``torch.distributed.checkpoint.planner``), allowed as the same inert records and not read.

An item is then read from its byte range of the ``.distcp`` file: a ``torch.save`` of one tensor or
object, scanned statically and opened with ``torch.load(weights_only=True)``
(:mod:`audit.readers.torch_pickle`).
"""

from __future__ import annotations

import io
import math
import pickle
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from audit.readers.file_cache import while_unchanged

METADATA = ".metadata"
#: A DCP .metadata of a large model is a few MB; larger ones are refused unread.
MAX_METADATA_BYTES = 256 * 1024 * 1024
#: One item read into memory at a time: a tensor larger than this is not loaded.
MAX_ITEM_BYTES = 1024 * 1024 * 1024

_DCP = "torch.distributed.checkpoint.metadata"
#: torch dtypes as safetensors names them (the checks compare DCP tensors as safetensors headers).
DTYPES = {"float32": "F32", "bfloat16": "BF16", "float16": "F16", "float64": "F64", "int64": "I64",
          "int32": "I32", "int16": "I16", "int8": "I8", "uint8": "U8", "bool": "BOOL",
          "float8_e4m3fn": "F8_E4M3", "float8_e5m2": "F8_E5M2"}  # fmt: skip


class DcpError(ValueError):
    """The directory is not a readable DCP checkpoint; the message is one line naming the file."""


class _Record:
    """An allow-listed class's instance: its pickled state, kept as data."""

    kind = ""

    def __init__(self, *args: Any) -> None:
        self.args, self.state = args, None

    def __setstate__(self, state: Any) -> None:
        self.state = state

    def get(self, key: str, default: Any = None) -> Any:
        if isinstance(self.state, dict):
            return self.state.get(key, default)
        if isinstance(self.state, tuple) and len(self.state) == 2 and isinstance(self.state[1], dict):
            return self.state[1].get(key, default)  # (None, slots) of a dataclass with __slots__
        return default


def _record(kind: str) -> type:
    return type(kind, (_Record,), {"kind": kind})


def _new_record(cls: type) -> Any:
    rec = object.__new__(cls)
    rec.args, rec.state = (), None
    return rec


_RECORDS = {name: _record(name) for name in (
    "Metadata", "TensorStorageMetadata", "BytesStorageMetadata", "ChunkStorageMetadata", "TensorProperties",
    "MetadataIndex", "StorageMeta", "_StorageInfo", "SavePlan", "WriteItem", "TensorWriteData")}  # fmt: skip
#: megatron-core's ``dist_checkpointing.save`` keeps every rank's save plan in the Metadata (``all_local_plans``,
#: to reuse the structure on the next save): these classes of ``torch.distributed.checkpoint.planner``.
_PLANNER = ("SavePlan", "WriteItem", "TensorWriteData")
for _cls in _RECORDS.values():
    _cls.__new__ = lambda cls, *a, **k: _new_record(cls)  # type: ignore[method-assign]


class _Dtype(str):
    """A torch dtype, by name."""


def _size(*args: Any) -> tuple[int, ...]:
    dims = args[0] if args else ()
    if not isinstance(dims, (tuple, list)) or not all(type(d) is int and d >= 0 for d in dims):
        raise pickle.UnpicklingError("torch.Size with dimensions that are not non-negative integers")
    return tuple(dims)


def _path(*parts: Any) -> str:
    return "/".join(str(p) for p in parts)


#: The globals a DCP .metadata may name, and what each becomes here (never the real object).
ALLOWED: dict[tuple[str, str], Any] = {
    **{(_DCP, name): cls for name, cls in _RECORDS.items() if name != "_StorageInfo" and name not in _PLANNER},
    **{("torch.distributed.checkpoint.planner", name): _RECORDS[name] for name in _PLANNER},
    ("torch.distributed.checkpoint.planner", "WriteItemType"): lambda value=0: value,  # an Enum, by its value
    ("torch.distributed.checkpoint.filesystem", "_StorageInfo"): _RECORDS["_StorageInfo"],
    (_DCP, "_MEM_FORMAT_ENCODING"): lambda value=0: value,
    ("torch", "Size"): _size,
    ("torch.serialization", "_get_layout"): lambda name="": str(name),
    ("pathlib", "PosixPath"): _path, ("pathlib", "WindowsPath"): _path, ("pathlib", "PurePosixPath"): _path,
    ("pathlib._local", "PosixPath"): _path, ("pathlib._local", "WindowsPath"): _path,
    ("collections", "OrderedDict"): dict,
    **{("torch", name): _Dtype(f"torch.{name}") for name in DTYPES},
}  # fmt: skip


#: The same as dotted names, as the static scan (audit.readers.pickle_scan) reports the globals of a pickle.
DCP_GLOBALS = frozenset(f"{module}.{name}" for module, name in ALLOWED)


class _AllowListUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        found = ALLOWED.get((module, name))
        if found is None:
            raise pickle.UnpicklingError(f"global {module}.{name} is not a DCP metadata class")
        return found

    def persistent_load(self, pid: Any) -> Any:
        raise pickle.UnpicklingError("a persistent id, which DCP metadata never holds")


@dataclass(frozen=True)
class Storage:
    file: str  # the .distcp file, relative to the checkpoint directory
    offset: int
    length: int


@dataclass(frozen=True)
class Item:
    name: str
    kind: str  # "tensor" or "bytes"
    dtype: str | None  # safetensors name (F32, BF16, ...) of a tensor, else None
    shape: tuple[int, ...] | None
    storage: tuple[Storage, ...]  # one per saved chunk

    @property
    def numel(self) -> int:
        return math.prod(self.shape) if self.shape is not None else 0


@dataclass(frozen=True)
class DcpMetadata:
    items: dict[str, Item]
    source: str  # the .metadata, as the messages name it

    @property
    def tensors(self) -> dict[str, Item]:
        return {k: v for k, v in self.items.items() if v.kind == "tensor"}

    @property
    def files(self) -> set[str]:
        return {s.file for item in self.items.values() for s in item.storage}


def is_dcp_dir(file_names: set[str]) -> bool:
    return METADATA in file_names and any(n.endswith(".distcp") for n in file_names)


def read_metadata(path: Path, rel: str) -> DcpMetadata:
    """The items of a DCP ``.metadata``; raises :class:`DcpError` naming ``rel``."""
    try:
        size = path.stat().st_size
        if size > MAX_METADATA_BYTES:
            raise DcpError(f"{rel}: larger than {MAX_METADATA_BYTES} bytes; not read")
        data = path.read_bytes()
    except OSError as exc:
        raise DcpError(f"{rel}: cannot be read ({exc.strerror or exc})") from None
    try:
        obj = _AllowListUnpickler(io.BytesIO(data)).load()
    except pickle.UnpicklingError as exc:
        raise DcpError(f"{rel}: not read as DCP metadata: {str(exc)[:160]}") from None
    except Exception as exc:  # a damaged pickle raises many types; none may escape as a crash
        raise DcpError(f"{rel}: not a readable DCP metadata pickle ({type(exc).__name__}: {str(exc)[:80]})") from None
    if not isinstance(obj, _Record) or obj.kind != "Metadata":
        raise DcpError(f"{rel}: holds {type(obj).__name__}, not DCP Metadata")
    try:
        return DcpMetadata(_items(obj, rel), rel)
    except (TypeError, ValueError, AttributeError, KeyError, IndexError) as exc:
        if isinstance(exc, DcpError):
            raise
        raise DcpError(f"{rel}: DCP Metadata of an unexpected shape ({type(exc).__name__})") from None


def _items(meta: _Record, rel: str) -> dict[str, Item]:
    sdm, storage = meta.get("state_dict_metadata"), meta.get("storage_data")
    if not isinstance(sdm, dict) or not isinstance(storage, dict):
        raise DcpError(f"{rel}: DCP Metadata without state_dict_metadata and storage_data")
    where: dict[str, list[tuple[tuple, Storage]]] = {}
    for index, info in storage.items():
        fqn, offset = (index.get("fqn"), index.get("offset")) if isinstance(index, _Record) else (None, None)
        file, start, length = (info.get(k) for k in ("relative_path", "offset", "length")) \
            if isinstance(info, _Record) else (None, None, None)  # fmt: skip
        if not isinstance(fqn, str) or not isinstance(file, str) or type(start) is not int or type(length) is not int \
                or start < 0 or length < 0 or "/" in file or "\\" in file or file in ("", ".", ".."):  # fmt: skip
            raise DcpError(f"{rel}: a storage entry that is not (item, file in this directory, offset, length)")
        if isinstance(info, _Record) and info.get("transform_descriptors"):
            raise DcpError(f"{rel}: item {fqn} is stored transformed ({info.get('transform_descriptors')!r}); not read")
        offset = () if offset is None else offset  # None: a bytes item
        if not isinstance(offset, tuple) or not all(type(o) is int for o in offset):
            raise DcpError(f"{rel}: item {fqn} has a chunk offset that is not a tuple of integers")
        where.setdefault(fqn, []).append((offset, Storage(file, start, length)))
    items = {}
    for name, md in sdm.items():
        if not isinstance(name, str) or not isinstance(md, _Record):
            raise DcpError(f"{rel}: an item that is not a name with DCP storage metadata")
        chunks = tuple(s for _, s in sorted(where.get(name, []), key=lambda x: x[0]))
        if md.kind == "BytesStorageMetadata":
            items[name] = Item(name, "bytes", None, None, chunks)
            continue
        props, size = md.get("properties"), md.get("size")
        dtype = props.state[0] if isinstance(props, _Record) and isinstance(props.state, tuple) and props.state else None
        if md.kind != "TensorStorageMetadata" or not isinstance(size, tuple) or not isinstance(dtype, _Dtype):
            raise DcpError(f"{rel}: item {name} has no tensor size and dtype")
        items[name] = Item(name, "tensor", DTYPES.get(dtype.removeprefix("torch."), dtype), size, chunks)
    return items


def read_item_bytes(directory: Path, meta: DcpMetadata, name: str, rel_dir: str) -> bytes:
    """The bytes of one item (stored as one chunk) from its ``.distcp``; :class:`DcpError` names the file
    when the range lies outside it (a truncated file) or the item is sharded in several chunks."""
    item = meta.items.get(name)
    if item is None:
        raise DcpError(f"{meta.source}: no item {name}")
    if len(item.storage) != 1:
        raise DcpError(f"{meta.source}: item {name} is saved in {len(item.storage)} chunks; read one by one only")
    s = item.storage[0]
    rel = f"{rel_dir}/{s.file}" if rel_dir else s.file
    if s.length > MAX_ITEM_BYTES:
        raise DcpError(f"{rel}: item {name} is {s.length} bytes, more than {MAX_ITEM_BYTES}; not read")
    path = directory / s.file
    try:
        size = path.stat().st_size
        if s.offset + s.length > size:
            raise DcpError(f"{rel}: truncated: item {name} lies at bytes {s.offset}–{s.offset + s.length}, "
                           f"the file has {size}")  # fmt: skip
        with open(path, "rb") as f:
            f.seek(s.offset)
            return f.read(s.length)
    except OSError as exc:
        raise DcpError(f"{rel}: cannot be read ({exc.strerror or exc})") from None


def load_item(directory: Path, meta: DcpMetadata, name: str, rel_dir: str) -> Any:
    """One item's value: its ``torch.save`` bytes statically scanned, then loaded weights-only."""
    from audit.readers.pickle_scan import scan_pickle_bytes
    from audit.readers.torch_pickle import PickleProblem, load_bytes_weights_only

    data = read_item_bytes(directory, meta, name, rel_dir)
    file = meta.items[name].storage[0].file
    where = f"{rel_dir}/{file}" if rel_dir else file
    scan = scan_pickle_bytes(data, f"{where} [{name}]")
    if scan.unsafe:
        raise DcpError(f"{where}: item {name} is a pickle that would import {', '.join(scan.unsafe[:3])}; not opened")
    try:
        return load_bytes_weights_only(data, f"{where} [{name}]")
    except PickleProblem as exc:
        raise DcpError(str(exc)) from None


_cached_metadata = while_unchanged(maxsize=32)(read_metadata)


def checkpoint_metadata(directory: Path, rel_dir: str) -> DcpMetadata:
    """A checkpoint directory's DCP metadata (cached while the file is unchanged); raises :class:`DcpError`."""
    path = directory / METADATA
    rel = f"{rel_dir}/{METADATA}" if rel_dir else METADATA
    try:
        return _cached_metadata(path, rel)
    except OSError as exc:
        raise DcpError(f"{rel}: cannot be read ({exc.strerror or exc})") from None


def checkpoint_item(directory: Path, rel_dir: str, name: str) -> Any:
    """One item of a checkpoint directory (raises :class:`DcpError`)."""
    return load_item(directory, checkpoint_metadata(directory, rel_dir), name, rel_dir)
