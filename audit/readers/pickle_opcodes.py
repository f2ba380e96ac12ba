"""Read the plain values out of a pickle without unpickling it.

The opcodes are decoded by :func:`pickletools.genops` (a parser: it imports and calls nothing) and
run on a small stack machine that only builds literals — None, bools, numbers, strings, bytes,
tuples, lists, dicts, sets. Everything that unpickling would import or call (``GLOBAL``,
``REDUCE``, ``NEWOBJ``, ``BUILD``, persistent ids) becomes an inert :class:`Opaque` record of the
name, the arguments and the state instead. So a hostile pickle yields data, never runs code.

Used for Hugging Face's ``training_args.bin`` (a ``torch.save``-d ``TrainingArguments``), whose
hyperparameters are plain values in the object's state.
"""

from __future__ import annotations

import io
import pickletools
import zipfile
import zlib
from _compat_pickle import IMPORT_MAPPING, NAME_MAPPING
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO, Callable

from audit import interrupts

#: Larger pickles (and archive members) are refused unread: a TrainingArguments pickle is a few KB.
MAX_PICKLE_BYTES = 16 * 1024 * 1024
MAX_OPS = 1_000_000


class PickleLiteralError(ValueError):
    """The bytes are not a pickle this reader can walk; one line."""


@dataclass
class Opaque:
    """What unpickling would have built by importing or calling ``name``: recorded, not run."""

    name: str
    args: tuple = ()
    state: Any = None
    items: list = field(default_factory=list)
    imported: bool = False  # the imported object itself (GLOBAL), not what a call of it made


_MARK = object()
_CONSTANTS = {"NONE": None, "NEWTRUE": True, "NEWFALSE": False}
_VALUE_OPS = {
    "INT", "BININT", "BININT1", "BININT2", "LONG", "LONG1", "LONG4", "FLOAT", "BINFLOAT",
    "STRING", "BINSTRING", "SHORT_BINSTRING", "UNICODE", "BINUNICODE", "SHORT_BINUNICODE", "BINUNICODE8",
    "BINBYTES", "SHORT_BINBYTES", "BINBYTES8", "BYTEARRAY8",
}  # fmt: skip


def _until_mark(stack: list) -> list:
    for i in range(len(stack) - 1, -1, -1):
        if stack[i] is _MARK:
            items = stack[i + 1 :]
            del stack[i:]
            return items
    raise PickleLiteralError("no MARK for a sequence opcode")


def read_literals(data: bytes) -> Any:
    """The value a pickle describes, with :class:`Opaque` in place of every import or call."""
    stack = run_pickle(io.BytesIO(data))
    if len(stack) != 1:
        raise PickleLiteralError("STOP with a stack that is not one value")
    return stack[0]


def run_pickle(stream: BinaryIO, seen: Callable[[str, str], None] | None = None) -> list:
    """Run one pickle, from the stream's position through its STOP, on the literal stack machine.

    Returns the stack at STOP (one value in a well-formed pickle) and leaves the stream just after
    it, where a stacked pickle may begin. ``seen(opcode, name)`` hears of every import and call as
    the opcodes make it, also when a later opcode fails: ``GLOBAL``, ``STACK_GLOBAL``, ``INST``,
    ``EXT*`` (the dotted name, ``?.?`` for a ``STACK_GLOBAL`` whose operands are not two string
    constants), ``REDUCE``, ``OBJ``, ``NEWOBJ``, ``NEWOBJ_EX`` (what is called) and ``BUILD`` (only
    when it sets the attributes of an imported object itself, not of an instance)."""
    stack: list = []
    memo: dict[int, Any] = {}
    proto = 0
    heard = seen or (lambda op, name: None)
    try:
        for n, (op, arg, _) in enumerate(pickletools.genops(stream)):
            if n > MAX_OPS:
                raise PickleLiteralError(f"more than {MAX_OPS} opcodes")
            if not n & 0xFFFF:
                interrupts.check()
            name = op.name
            if name in _VALUE_OPS:
                stack.append(int(arg) if name == "INT" and isinstance(arg, bool) else arg)
            elif name in _CONSTANTS:
                stack.append(_CONSTANTS[name])
            elif name == "PROTO":
                proto = int(arg)  # below 3, the unpickler renames Python 2 modules (fix_imports)
            elif name == "FRAME":
                continue
            elif name == "STOP":
                return stack
            elif name == "MARK":
                stack.append(_MARK)
            elif name == "EMPTY_DICT":
                stack.append({})
            elif name == "EMPTY_LIST":
                stack.append([])
            elif name == "EMPTY_TUPLE":
                stack.append(())
            elif name == "EMPTY_SET":
                stack.append(set())
            elif name in ("TUPLE1", "TUPLE2", "TUPLE3"):
                k = int(name[-1])
                items = tuple(stack[-k:])
                del stack[-k:]
                stack.append(items)
            elif name == "TUPLE":
                stack.append(tuple(_until_mark(stack)))
            elif name == "LIST":
                stack.append(_until_mark(stack))
            elif name == "DICT":
                items = _until_mark(stack)
                stack.append(_pairs({}, items))
            elif name == "FROZENSET":
                stack.append(frozenset(_hashable(x) for x in _until_mark(stack)))
            elif name == "APPEND":
                value = stack.pop()
                _append(stack[-1], [value])
            elif name == "APPENDS":
                items = _until_mark(stack)
                _append(stack[-1], items)
            elif name == "SETITEM":
                value, key = stack.pop(), stack.pop()
                _setitems(stack[-1], [key, value])
            elif name == "SETITEMS":
                items = _until_mark(stack)
                _setitems(stack[-1], items)
            elif name == "ADDITEMS":
                items = _until_mark(stack)
                target = stack[-1]
                if isinstance(target, set):
                    target.update(_hashable(x) for x in items)
            elif name in ("PUT", "BINPUT", "LONG_BINPUT"):
                memo[int(arg)] = stack[-1]
            elif name == "MEMOIZE":
                memo[len(memo)] = stack[-1]
            elif name in ("GET", "BINGET", "LONG_BINGET"):
                if int(arg) not in memo:
                    raise PickleLiteralError(f"memo key {arg} is not set")
                stack.append(memo[int(arg)])
            elif name in ("GLOBAL", "STACK_GLOBAL"):
                if name == "GLOBAL":
                    module, _, attr = str(arg).partition(" ")
                else:
                    attr, module = stack.pop(), stack.pop()
                stack.append(Opaque(_global(module, attr, proto), imported=True))
                heard(name, stack[-1].name)
            elif name in ("REDUCE", "NEWOBJ"):
                args, func = stack.pop(), stack.pop()
                stack.append(Opaque(_name(func), args if isinstance(args, tuple) else (args,)))
                heard(name, stack[-1].name)
            elif name == "NEWOBJ_EX":
                kwargs, args, cls = stack.pop(), stack.pop(), stack.pop()
                stack.append(Opaque(_name(cls), args if isinstance(args, tuple) else (args,), state=kwargs))
                heard(name, stack[-1].name)
            elif name in ("OBJ", "INST"):
                items = _until_mark(stack)
                if name == "INST":  # import and call in one
                    cls = Opaque(_global(*str(arg).partition(" ")[::2], proto), imported=True)
                else:
                    cls = items.pop(0) if items else None
                stack.append(Opaque(_name(cls), tuple(items)))
                heard(name, stack[-1].name)
            elif name == "BUILD":
                state = stack.pop()
                if isinstance(stack[-1], Opaque):
                    stack[-1].state = state
                    if stack[-1].imported:
                        heard(name, stack[-1].name)
            elif name in ("PERSID", "BINPERSID"):
                pid = arg if name == "PERSID" else stack.pop()
                stack.append(Opaque("persistent_load", (pid,)))
            elif name in ("EXT1", "EXT2", "EXT4"):  # a global by its copyreg code: which one is not in the bytes
                stack.append(Opaque(f"?.extension_code_{arg}", imported=True))
                heard(name, stack[-1].name)
            elif name == "NEXT_BUFFER":
                stack.append(Opaque("out-of-band buffer"))
            elif name == "READONLY_BUFFER":
                continue
            elif name == "POP":
                stack.pop()
            elif name == "POP_MARK":
                _until_mark(stack)
            elif name == "DUP":
                stack.append(stack[-1])
            else:
                raise PickleLiteralError(f"opcode {name} is not supported")
    except PickleLiteralError:
        raise
    except (ValueError, IndexError, TypeError, KeyError, AttributeError, OverflowError, RecursionError) as exc:
        raise PickleLiteralError(f"not a readable pickle ({type(exc).__name__}: {str(exc)[:80]})") from None
    raise PickleLiteralError("no STOP opcode")


def _name(obj: Any) -> str:
    return obj.name if isinstance(obj, Opaque) else type(obj).__name__


def _global(module: Any, name: Any, proto: int) -> str:
    """``module.name`` as the unpickler would import it; ``?.?`` unless both are strings."""
    if not (isinstance(module, str) and isinstance(name, str)):
        return "?.?"
    if proto < 3:  # pickle's fix_imports: Python 2 names (__builtin__, copy_reg, ...) as Python 3 reads them
        module, name = NAME_MAPPING.get((module, name), (IMPORT_MAPPING.get(module, module), name))
    return f"{module}.{name}"


_FLAT = (str, bytes, int, float, complex, bool, type(None), frozenset)


def _hashable(x: Any) -> Any:
    """``x`` as a set member or dict key: plain values and flat tuples of them as they are, anything else
    by its type's name. Never hashed or printed in depth: ``t = (t, t)`` sixty times over is two to the
    sixtieth elements' work to hash or print, for sixty opcodes."""
    if isinstance(x, _FLAT) or (isinstance(x, tuple) and all(isinstance(i, _FLAT) for i in x)):
        return x
    return f"<{type(x).__name__}>"


def _append(target: Any, items: list) -> None:
    if isinstance(target, list):
        target.extend(items)
    elif isinstance(target, Opaque):
        target.items.extend(items)


def _pairs(target: dict, items: list) -> dict:
    if len(items) % 2:
        raise PickleLiteralError("a dict opcode with an odd number of items")
    for k, v in zip(items[::2], items[1::2]):
        target[_hashable(k)] = v
    return target


def _setitems(target: Any, items: list) -> None:
    if isinstance(target, dict):
        _pairs(target, items)
    elif isinstance(target, Opaque):
        target.items.extend(items)


def pickle_bytes(path: Path) -> bytes:
    """The pickle inside a file: a plain pickle, or the ``data.pkl`` of a ``torch.save`` zip archive."""
    size = path.stat().st_size
    if size > MAX_PICKLE_BYTES and not zipfile.is_zipfile(path):
        raise PickleLiteralError(f"larger than {MAX_PICKLE_BYTES} bytes; not read")
    if not zipfile.is_zipfile(path):
        return path.read_bytes()
    try:
        with zipfile.ZipFile(path) as archive:
            members = [i for i in archive.infolist() if i.filename.endswith("/data.pkl") or i.filename == "data.pkl"]
            if len(members) != 1:
                raise PickleLiteralError("a zip archive without exactly one data.pkl (not a torch.save file)")
            return zip_member(archive, members[0])
    except ZIP_ERRORS as exc:
        raise PickleLiteralError(f"not a readable zip archive ({str(exc)[:80]})") from None


#: What reading a damaged or hostile zip archive raises (a bad CRC, a truncated or undecodable member).
ZIP_ERRORS = (zipfile.BadZipFile, OSError, EOFError, NotImplementedError, RuntimeError, ValueError, zlib.error)


def zip_member(archive: zipfile.ZipFile, info: zipfile.ZipInfo) -> bytes:
    """A member's bytes; :class:`PickleLiteralError` over :data:`MAX_PICKLE_BYTES`, whatever its header says."""
    too_large = PickleLiteralError(f"{info.filename} is larger than {MAX_PICKLE_BYTES} bytes; not read")
    if info.file_size > MAX_PICKLE_BYTES:
        raise too_large
    with archive.open(info) as f:
        data = f.read(MAX_PICKLE_BYTES + 1)
    if len(data) > MAX_PICKLE_BYTES:
        raise too_large
    return data


def object_state(path: Path, class_suffix: str, enum_module: str = "transformers.") -> dict[str, Any]:
    """The plain-valued state of the object of class ``…class_suffix`` a pickle file holds.

    Members of enums defined under ``enum_module`` (recorded as a call of the enum class with the
    value) become their value; any other call is dropped, whatever its argument."""
    value = read_literals(pickle_bytes(path))
    if not isinstance(value, Opaque) or not value.name.endswith(class_suffix) or not isinstance(value.state, dict):
        what = value.name if isinstance(value, Opaque) else type(value).__name__
        raise PickleLiteralError(f"holds {what}, not a {class_suffix} object with a state")
    out: dict[str, Any] = {}
    for key, v in value.state.items():
        if isinstance(v, Opaque) and v.name.startswith(enum_module) and len(v.args) == 1 and isinstance(v.args[0], str):
            v = v.args[0]  # e.g. SchedulerType('linear')
        if v is None or isinstance(v, (bool, int, float, str)):
            out[str(key)] = v
    return out
