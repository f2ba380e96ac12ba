"""Which globals a pickle would import, read from its opcodes alone: nothing is imported or called.

Every pickle in a release is untrusted: unpickling imports whatever ``GLOBAL``, ``STACK_GLOBAL`` and
``INST`` name and calls it. The opcodes run on the literal stack machine of
:mod:`audit.readers.pickle_opcodes` (so a ``STACK_GLOBAL`` fed from memoized strings resolves), and
every name is held against an allow-list: what ``torch.save`` of tensors, state_dicts, optimizer and
scheduler state, RNG states, numpy arrays, Hugging Face ``TrainingArguments`` and Megatron-LM's ``args``
need. Anything
else is unsafe — deny by default, so ``os.system``, ``subprocess.Popen``, ``builtins.exec``,
``runpy._run_code`` and every gadget not yet thought of are unsafe for not being listed.

A file is a raw pickle stream (several stacked pickles, as legacy ``torch.save`` writes them, are
all scanned; in a legacy torch file the scan stops after its five pickles, where the raw storage
bytes begin) or a zip archive as ``torch.save`` writes it (every ``*.pkl`` member). A raw file that
also carries a zip directory (a pickle/zip polyglot) is scanned both ways. Reads are bounded by
:data:`~audit.readers.pickle_opcodes.MAX_PICKLE_BYTES` a pickle; file content never raises.
"""

from __future__ import annotations

import io
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from audit import interrupts
from audit.readers.pickle_inert import INERT_NAMES
from audit.readers.pickle_opcodes import MAX_PICKLE_BYTES, ZIP_ERRORS, PickleLiteralError, run_pickle, zip_member

_ELEMENTS = ("BFloat16", "Bool", "Byte", "Char", "ComplexDouble", "ComplexFloat", "Double", "Float", "Half", "Int",
             "Long", "Short")  # fmt: skip
_TORCH_DTYPES = (
    "bfloat16", "bool", "complex32", "complex64", "complex128", "float16", "float32", "float64",
    "float8_e4m3fn", "float8_e4m3fnuz", "float8_e5m2", "float8_e5m2fnuz", "float8_e8m0fnu", "float4_e2m1fn_x2",
    "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64", "qint8", "qint32", "quint8",
    "quint4x2", "quint2x4", "bits8", "bits16", "bits1x8", "bits2x4", "bits4x2",
    *(f"int{i}" for i in range(1, 8)), *(f"uint{i}" for i in range(1, 8)),
)  # fmt: skip
_NUMPY_DTYPES = (
    "Bool", "Byte", "UByte", "Short", "UShort", "Int", "UInt", "Long", "ULong", "LongLong", "ULongLong",
    "Int8", "Int16", "Int32", "Int64", "UInt8", "UInt16", "UInt32", "UInt64", "Float16", "Float32", "Float64",
    "LongDouble", "Complex64", "Complex128", "CLongDouble", "Bytes", "Str", "String", "Void", "Object",
    "DateTime64", "TimeDelta64",
)  # fmt: skip

#: Globals allowed whatever the pickle does with them. Each builds a value and nothing else.
#: - torch: what ``torch.load(weights_only=True)`` allows (torch._weights_only_unpickler): tensor rebuild
#:   functions, legacy storage and tensor classes, dtypes, quantization schemes, ``Size``, ``device``.
#: - numpy: arrays, dtypes and scalars (as HF Trainer's rng_state.pth holds ``numpy.random.get_state()``);
#:   both the numpy 1 (``numpy.core``) and numpy 2 (``numpy._core``) paths.
#: - builtins and collections: containers and scalars that pickle writes as a call of their type
#:   (``builtins.set`` below protocol 4, ``_codecs.encode`` for bytes below protocol 3, ``defaultdict``
#:   with a plain type as its factory).
#: - Hugging Face enums (``SchedulerType('linear')``): calling an enum class with a value looks a
#:   member up. Importing their modules runs transformers/accelerate code — installed code, not the
#:   release's, and the same the auditor runs for a replay.
#: - what a run's saved arguments hold (:data:`audit.readers.pickle_inert.INERT`: megatron-core enums,
#:   ``types.SimpleNamespace``, ``pathlib`` paths): never imported — the loader binds stand-ins to them.
ALLOWED = frozenset({*INERT_NAMES,
    "collections.OrderedDict", "collections.Counter", "collections.defaultdict",
    "builtins.set", "builtins.frozenset", "builtins.slice", "builtins.complex", "builtins.bytearray",
    "builtins.bytes", "builtins.list", "builtins.dict", "builtins.tuple", "builtins.int", "builtins.float",
    "builtins.str", "builtins.bool", "_codecs.encode",
    "torch.Size", "torch.device", "torch.Tensor", "torch.nn.parameter.Parameter", "torch.serialization._get_layout",
    "torch._tensor._rebuild_from_type_v2", "torch.storage.TypedStorage", "torch.storage.UntypedStorage",
    *(f"torch._utils._rebuild_{f}" for f in (
        "tensor", "tensor_v2", "tensor_v3", "parameter", "parameter_with_state", "qtensor", "sparse_tensor",
        "meta_tensor_no_storage", "nested_tensor", "wrapper_subclass", "device_tensor_from_numpy",
        "device_tensor_from_cpu_tensor")),
    *(f"torch.{e}Storage" for e in _ELEMENTS), *(f"torch.cuda.{e}Storage" for e in _ELEMENTS),
    *(f"torch.{q}Storage" for q in ("QInt32", "QInt8", "QUInt2x4", "QUInt4x2", "QUInt8")),
    *(f"torch.{p}{e}Tensor" for p in ("", "cuda.", "sparse.", "cuda.sparse.") for e in _ELEMENTS if "Complex" not in e),
    *(f"torch.{t}" for t in _TORCH_DTYPES),
    *(f"torch.per_{q}" for q in ("tensor_affine", "tensor_symmetric", "channel_affine", "channel_symmetric",
                                 "channel_affine_float_qparams")),
    *(f"numpy.{core}.{f}" for core in ("core", "_core") for f in (
        "multiarray._reconstruct", "multiarray.scalar", "numeric._frombuffer")),
    "numpy.ndarray", "numpy.dtype", *(f"numpy.dtypes.{d}DType" for d in _NUMPY_DTYPES),
    "transformers.trainer_utils.IntervalStrategy", "transformers.trainer_utils.SaveStrategy",
    "transformers.trainer_utils.HubStrategy", "transformers.trainer_utils.SchedulerType",
    "transformers.trainer_utils.FSDPOption", "transformers.trainer_utils.EvaluationStrategy",
    "transformers.training_args.OptimizerNames", "transformers.debug_utils.DebugOption",
    "accelerate.utils.dataclasses.DistributedType",
})  # fmt: skip

#: Classes allowed only as ``torch.save`` of a ``TrainingArguments`` writes them: an instance made by
#: ``cls.__new__`` (``NEWOBJ``) with its attributes as state (``BUILD``), no ``__init__`` run. A call
#: (``REDUCE``, ``OBJ``, ``INST``) would run ``__init__``/``__post_init__`` with the pickle's arguments
#: (paths to read, devices to set up): unsafe. Other trainers' configs (TRL's ``SFTConfig``, ...) are
#: unsafe until listed here. ``argparse.Namespace``: Megatron-LM's ``args`` in every model_optim_rng.pt.
INSTANCES_ONLY = frozenset({"argparse.Namespace",
    "transformers.training_args.TrainingArguments", "transformers.training_args_seq2seq.Seq2SeqTrainingArguments",
    "transformers.trainer_pt_utils.AcceleratorConfig", "accelerate.state.PartialState",
})  # fmt: skip

_IMPORTS = ("GLOBAL", "STACK_GLOBAL", "INST", "EXT1", "EXT2", "EXT4")
_CALLS = ("REDUCE", "OBJ", "INST")
#: The first pickle of a legacy (pre-zip) ``torch.save`` file: torch.serialization.MAGIC_NUMBER.
TORCH_LEGACY_MAGIC = 0x1950A86A20F9469CFC6C
#: A legacy torch file holds five pickles (magic, protocol, sys info, the object, storage keys), then raw bytes.
TORCH_LEGACY_PICKLES = 5
#: More pickles stacked in one stream than any file format writes: the rest is refused, not scanned.
MAX_STACKED = 10_000
_ZIP_MAGIC = b"PK\x03\x04"
_MAX_NAME = 200


@dataclass(frozen=True)
class PickleScan:
    """What unpickling the file would import, and which of it is not allowed.

    ``globals``: every ``module.name`` the pickles would import, in order of first appearance, without
    repeats (``?.?`` where a ``STACK_GLOBAL``'s operands are not string constants). ``unsafe``: those
    outside the allow-list, in the same order; an allowed name used as it may not be is listed with
    why, e.g. ``"accelerate.state.PartialState (called)"``, ``"torch.Size (attributes set)"``.
    ``members``: pickles read through their ``STOP``. ``problem``: one line, naming the file, when the
    bytes could not all be scanned (truncated, corrupt, not a pickle, over a limit) — what was seen
    before is still in ``globals`` and ``unsafe``."""

    globals: tuple[str, ...]
    unsafe: tuple[str, ...]
    members: int
    problem: str | None = None


class _Seen:
    """Collects the globals and the unsafe uses a run of the opcodes reports."""

    def __init__(self) -> None:
        self.globals: dict[str, None] = {}
        self.unsafe: dict[str, None] = {}

    def __call__(self, op: str, name: str) -> None:
        shown = _shown(name)
        if op in _IMPORTS:
            self.globals[shown] = None
            if name not in ALLOWED and name not in INSTANCES_ONLY:
                self.unsafe[shown] = None
        if op in _CALLS and name in INSTANCES_ONLY:
            self.unsafe[f"{shown} (called)"] = None
        elif op == "BUILD":  # setting attributes of an imported class or function itself: poisoning it
            self.unsafe[f"{shown} (attributes set)"] = None


def _shown(name: str) -> str:
    """The name on one printable line (a hostile pickle may name anything)."""
    if name.isprintable() and len(name) <= _MAX_NAME:
        return name
    return ascii(name[:_MAX_NAME])


def looks_like_pickle(head: bytes) -> bool:
    """Whether the first bytes of a file could begin a pickle: a protocol 2–5 header, or protocol 0/1
    opcodes that parse (to the end of ``head``, or to a ``STOP``) and begin as a pickled container or
    global does. Not proof either way: the scan decides."""
    if len(head) >= 2 and head[0] == 0x80:
        return 2 <= head[1] <= 5
    if not head or head[:1] not in (b"(", b"}", b"]", b")", b"c"):
        return False
    stream = io.BytesIO(head)
    try:
        run_pickle(stream)
    except PickleLiteralError:
        return stream.tell() >= len(head)  # ran out of bytes, not into a wrong one
    return True


def scan_pickle_bytes(data: bytes, where: str) -> PickleScan:
    """Scan the bytes of a pickle file (a raw pickle stream or a torch zip archive); ``where`` names it."""
    return _scan(io.BytesIO(data), where)


def scan_pickle_file(path: Path, where: str) -> PickleScan:
    """Scan a pickle file (see the module); ``where`` names it in ``problem``. Raises ValueError (one line)
    only when the file cannot be opened or read."""
    try:
        with open(path, "rb") as f:
            return _scan(f, where)
    except OSError as exc:
        raise ValueError(f"{where}: cannot be read ({exc.strerror or type(exc).__name__})") from None


def _scan(f: BinaryIO, where: str) -> PickleScan:
    seen, problems = _Seen(), []
    if f.read(4) == _ZIP_MAGIC:
        members = _scan_zip(f, where, seen, problems)
    else:
        f.seek(0)
        head = f.read(MAX_PICKLE_BYTES + 1)
        members = _scan_stream(head[:MAX_PICKLE_BYTES], len(head) > MAX_PICKLE_BYTES, where, seen, problems)
        if _has_zip_directory(f):  # pickle first, zip directory at the end: a polyglot
            members += _scan_zip(f, f"{where} (zip directory)", seen, problems)
    problem = None
    if problems:
        problem = problems[0] + (f" (and {len(problems) - 1} more problems)" if len(problems) > 1 else "")
        problem = " ".join(problem.splitlines())  # a member's name may hold a newline
    return PickleScan(tuple(seen.globals), tuple(seen.unsafe), members, problem)


def _scan_stream(data: bytes, cut: bool, where: str, seen: _Seen, problems: list[str]) -> int:
    """Scan the pickles stacked in ``data`` (``cut``: the file goes on past it); how many reached STOP."""
    stream, done, legacy = io.BytesIO(data), 0, False
    while stream.tell() < len(data) or not done:
        start = stream.tell()
        try:
            stack = run_pickle(stream, seen)
        except PickleLiteralError as exc:
            if cut:
                problems.append(f"{where}: larger than {MAX_PICKLE_BYTES} bytes; only the first {MAX_PICKLE_BYTES} "
                                f"were scanned (a pickle runs past them)")  # fmt: skip
            elif not data:
                problems.append(f"{where}: empty, not a pickle")
            else:
                after = f"the {len(data) - start} bytes after pickle {done}: " if done else ""
                problems.append(f"{where}: {after}{exc}")
            return done
        done += 1
        legacy = legacy or (done == 1 and stack == [TORCH_LEGACY_MAGIC])
        if legacy and done == TORCH_LEGACY_PICKLES:
            return done  # the storages' raw bytes follow: not pickles
        if done == MAX_STACKED and stream.tell() < len(data):
            problems.append(f"{where}: more than {MAX_STACKED} pickles stacked; the rest was not scanned")
            return done
    if cut:
        problems.append(f"{where}: larger than {MAX_PICKLE_BYTES} bytes; only the first {MAX_PICKLE_BYTES} were scanned")
    return done


def _has_zip_directory(f: BinaryIO) -> bool:
    try:
        return zipfile.is_zipfile(f)
    except ZIP_ERRORS:
        return False


def _scan_zip(f: BinaryIO, where: str, seen: _Seen, problems: list[str]) -> int:
    """Scan every ``*.pkl`` member of a zip archive; how many pickles reached STOP."""
    done = 0
    try:
        with zipfile.ZipFile(f) as archive:
            infos = [i for i in archive.infolist() if i.filename.endswith(".pkl")]
            if not infos:
                problems.append(f"{where}: a zip archive with no .pkl member (not a torch.save file)")
            for info in infos:
                interrupts.check()
                member = f"{where}:{_shown(info.filename)}"
                try:
                    data = zip_member(archive, info)
                except PickleLiteralError as exc:
                    problems.append(f"{where}: {exc}")
                    continue
                except ZIP_ERRORS as exc:
                    problems.append(f"{member}: not readable ({type(exc).__name__}: {str(exc)[:80]})")
                    continue
                done += _scan_stream(data, False, member, seen, problems)
    except ZIP_ERRORS as exc:
        problems.append(f"{where}: not a readable zip archive ({type(exc).__name__}: {str(exc)[:80]})")
    return done
