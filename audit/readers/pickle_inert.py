"""Classes a training run's saved arguments hold besides plain values, accepted as inert data.

Megatron-LM pickles its run's ``args`` into every ``model_optim_rng.pt``. Recent releases (megatron-core
0.12 on) put megatron-core enums there — ``attention_backend`` (``AttnBackend``, from the
``TransformerConfig`` field the argument is generated from), ``model_type`` (``ModelType``, set by
``get_model``), ``cuda_graph_scope`` (a list of ``CudaGraphScope``), the fp8/fp4 recipes — and torch
dtypes (``params_dtype``, ``main_grads_dtype``, ``exp_avg_dtype``, …, already allowed by the scan).
With ``--yaml-cfg`` the whole ``args`` is a ``types.SimpleNamespace`` with nested ones
(megatron/training/yaml_arguments.py); NeMo passes ``pathlib`` paths; ``--exit-signal`` is a ``signal.Signals``.
megatron-core's own list of what its checkpoints need (``megatron/core/safe_globals.py``, which it registers
with torch when imported) names the same enums, ``SimpleNamespace`` and ``PosixPath``; of it, its
``OptimizerConfig`` dataclass and ``io.BytesIO`` are not accepted here (not arguments; an object with
behaviour), nor is any other class of megatron.

:data:`INERT` lists each such global by (module, name) with its kind; nothing else is accepted. None is
ever imported or called: the static scan (:mod:`audit.readers.pickle_scan`) allows the names, the
opcode reader turns them into plain values (:func:`plain`), and the weights-only loader gets
:func:`stand_ins` — objects registered under those names that build inert records instead:

* ``enum``: ``Cls(value)`` (what ``Enum.__reduce_ex__`` pickles) → :class:`InertEnum` (its class's
  dotted name and the value; the member's name is not known without importing the class);
* ``namespace``: ``types.SimpleNamespace`` itself (a stdlib attribute bag: made empty, its ``__dict__`` set);
* ``path``: ``PosixPath(*parts)`` → the path as a string.

What this cannot know: whether a value is one of the enum's members (an unknown value of an allowed
class is recorded as it is).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any, Literal

from audit.readers.pickle_opcodes import Opaque

Kind = Literal["enum", "namespace", "path"]

_MCORE_ENUMS = (
    ("megatron.core.enums", ("ModelType", "Fp8Recipe", "Fp4Recipe")),
    ("megatron.core.transformer.enums", ("ModelType", "LayerType", "AttnType", "AttnMaskType", "AttnBackend",
                                         "CudaGraphScope")),
    ("megatron.core.rerun_state_machine", ("RerunMode", "RerunDiagnostic", "RerunState")),
    ("megatron.core.dist_checkpointing.validation", ("StrictHandling",)),
    ("signal", ("Signals",)),  # --exit-signal (signal.SIGTERM)
)  # fmt: skip

#: (module, name) → kind: every global accepted as inert data in a run's saved arguments.
INERT: dict[tuple[str, str], Kind] = {
    **{(module, name): "enum" for module, names in _MCORE_ENUMS for name in names},
    ("types", "SimpleNamespace"): "namespace",
    **{(module, name): "path" for module in ("pathlib", "pathlib._local") for name in ("PosixPath", "PurePosixPath")},
}
#: The same as dotted names, as the scan and the opcode reader spell globals.
INERT_NAMES: dict[str, Kind] = {f"{m}.{n}": kind for (m, n), kind in INERT.items()}
_SCALARS = (bool, int, float, str, type(None))


@dataclass(frozen=True)
class InertEnum:
    """An enum member as a pickle records it: its class's dotted name and its value."""

    cls: str
    value: Any

    def __str__(self) -> str:
        return f"{self.cls.rsplit('.', 1)[-1]}({self.value!r})"


class _EnumStandIn:
    """Registered under an enum class's name: calling it with a value records the member, nothing else."""

    def __init__(self, name: str):
        self.name = name

    def __call__(self, value: Any) -> InertEnum:
        if not isinstance(value, (int, str)):
            raise TypeError(f"{self.name}: an enum value must be an int or a string, not {type(value).__name__}")
        return InertEnum(self.name, value)


def _path(*parts: Any) -> str:
    if not all(isinstance(p, str) for p in parts):
        raise TypeError("a path's parts must be strings")
    return str(PurePosixPath(*parts))


_STAND_INS: tuple[tuple[Any, str], ...] | None = None


def stand_ins() -> tuple[tuple[Any, str], ...]:
    """(object, dotted name) pairs for ``torch.serialization.safe_globals``: every :data:`INERT` name bound
    to a stand-in that builds an inert value (the real class is never imported)."""
    global _STAND_INS
    if _STAND_INS is None:
        import types

        made = {"enum": _EnumStandIn, "namespace": lambda _: types.SimpleNamespace, "path": lambda _: _path}
        _STAND_INS = tuple((made[kind](name), name) for name, kind in INERT_NAMES.items())
    return _STAND_INS


def plain(value: Any, depth: int = 0) -> Any:
    """A value of a run's arguments as :func:`~audit.readers.pickle_opcodes.read_literals` left it, as plain
    JSON-able data, or ``None`` when it is not plain data.

    An enum → ``{"enum": class, "value": value}``; a namespace → a dict of its plain attributes; a path → a
    string; a torch dtype (an imported ``torch.*`` global) → its name, e.g. ``"torch.float32"``; lists and
    tuples of plain values → lists."""
    if isinstance(value, _SCALARS):
        return value
    if depth > 8:
        return None
    if isinstance(value, (list, tuple)):
        items = [plain(v, depth + 1) for v in value]
        return items if all(i is not None for i in items) else None
    if not isinstance(value, Opaque):
        return None
    if value.imported:
        return value.name if value.name.startswith("torch.") else None
    kind = INERT_NAMES.get(value.name)
    args = value.args
    if kind == "enum" and len(args) == 1 and isinstance(args[0], (int, str)) and value.state is None:
        return {"enum": value.name, "value": args[0]}
    if kind == "path" and all(isinstance(a, str) for a in args) and value.state is None:
        return _path(*args)
    if kind == "namespace" and not args and isinstance(value.state, dict):
        return attributes(value.state, depth + 1)
    return None


def attributes(state: dict, depth: int = 0) -> dict[str, Any]:
    """The plain attributes of a namespace's state (the others left out)."""
    out = {}
    for key, v in state.items():
        p = plain(v, depth)
        if p is not None or v is None:
            out[str(key)] = p
    return out
