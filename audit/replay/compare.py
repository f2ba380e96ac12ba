"""Compare a replayed training state and step log with the released ones: values, not file bytes.

Per tensor: bitwise equality, max abs diff, max ULP distance, number of differing elements.
Per step: loss, learning rate and gradient norm against the released training log.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file

from audit.spec.report import TensorDiff

#: Fingerprint fields that do not change float results.
NON_NUMERIC_FIELDS = {"python_version"}
LOG_FIELDS = ("loss", "learning_rate", "grad_norm")
#: State fields of training_state.json compared exactly when both sides have them.
STATE_FIELDS = ("step", "optimizer.step", "scheduler.last_step", "rng")

#: torch.save files compared by value (opened only through audit.readers.torch_pickle).
PICKLED = (".pt", ".pth", ".bin", ".ckpt")
MAX_DEPTH = 16

_INT_VIEW = {torch.float32: torch.int32, torch.float64: torch.int64, torch.bfloat16: torch.int16,
             torch.float16: torch.int16}  # fmt: skip


def _ordered(t: torch.Tensor) -> torch.Tensor:
    """Map float bit patterns onto integers whose order and distance are those of the floats (ULPs)."""
    bits = t.contiguous().view(_INT_VIEW[t.dtype]).to(torch.int64)
    sign_mask = 1 << (torch.finfo(t.dtype).bits - 1)
    return torch.where(bits < 0, -(bits & (sign_mask - 1)), bits)


def diff_tensor(name: str, ref: torch.Tensor, got: torch.Tensor) -> tuple[TensorDiff, float]:
    """Distance of ``got`` from ``ref`` and the largest difference relative to ref's magnitude."""
    if ref.shape != got.shape or ref.dtype != got.dtype:
        return TensorDiff(name=name, max_abs_diff=math.inf, max_ulp=-1, differing=ref.numel(), numel=ref.numel()), math.inf
    if ref.dtype in _INT_VIEW:
        same = _ordered(ref) == _ordered(got)  # bitwise: NaN payloads and -0.0 count
        differing = int((~same).sum())
        if differing == 0:
            return TensorDiff(name=name, max_abs_diff=0.0, max_ulp=0, differing=0, numel=ref.numel()), 0.0
        delta = (ref.double() - got.double()).abs()
        max_abs = float(delta.nan_to_num(nan=math.inf).max())
        ulp = int((_ordered(ref) - _ordered(got)).abs().max())
        scale = float(ref.double().abs().max()) or 1.0
        return TensorDiff(name=name, max_abs_diff=max_abs, max_ulp=ulp, differing=differing, numel=ref.numel()), max_abs / scale
    differing = int((ref != got).sum())
    max_abs = float((ref.double() - got.double()).abs().max()) if differing else 0.0
    return TensorDiff(name=name, max_abs_diff=max_abs, max_ulp=-1 if differing else 0, differing=differing,
                      numel=ref.numel()), (math.inf if differing else 0.0)  # fmt: skip


class CompareError(ValueError):
    """A released state file cannot be compared; the message names it."""


@dataclass
class StateComparison:
    diffs: list[TensorDiff] = field(default_factory=list)  # only tensors that differ
    compared: int = 0
    missing: list[str] = field(default_factory=list)  # in the release, not in the replay (or vice versa)
    max_rel: float = 0.0
    fields: list[str] = field(default_factory=list)  # training-state fields that differ

    @property
    def identical(self) -> bool:
        return not (self.diffs or self.missing or self.fields)


def _get(d: Any, dotted: str) -> Any:
    for part in dotted.split("."):
        if not isinstance(d, dict) or part not in d:
            return _ABSENT
        d = d[part]
    return d


_ABSENT = object()


def compare_states(released: Path, replayed: Path, file_names: list[str]) -> StateComparison:
    """Compare every tensor of the released safetensors files and the resumable training-state fields."""
    result = StateComparison()
    for name in file_names:
        if name.endswith(".safetensors"):
            try:
                ref = load_file(released / name)
            except (SafetensorError, OSError) as exc:
                raise CompareError(f"released {name} cannot be read: {str(exc).splitlines()[0]}") from None
            try:
                got = load_file(replayed / name) if (replayed / name).is_file() else {}
            except SafetensorError:
                got = {}
            result.missing += [f"{name}:{k}" for k in sorted(set(ref) ^ set(got))]
            for key in sorted(set(ref) & set(got)):
                diff, rel = diff_tensor(key, ref[key], got[key])
                result.compared += 1
                result.max_rel = max(result.max_rel, rel)
                if diff.differing:
                    result.diffs.append(diff)
        elif name == "training_state.json" and (replayed / name).is_file():
            try:
                a, b = (json.loads((d / name).read_bytes()) for d in (released, replayed))
            except (OSError, ValueError, RecursionError) as exc:
                raise CompareError(f"{name} cannot be read: {str(exc).splitlines()[0]}") from None
            result.fields = [f for f in STATE_FIELDS
                             if _get(a, f) is not _ABSENT and _get(b, f) is not _ABSENT and _get(a, f) != _get(b, f)]  # fmt: skip
        elif name.endswith(PICKLED):
            _compare_pickled(released / name, replayed / name, name, result)
        elif not name.endswith(".json"):
            raise CompareError(f"released {name} is neither safetensors nor a torch.save file: its state cannot be compared")
    result.diffs.sort(key=lambda d: (-d.max_abs_diff, d.name))
    return result


def _leaves(obj: Any, prefix: str, out: dict[str, Any], depth: int = 0) -> dict[str, Any]:
    """The values of a loaded torch.save object by dotted path (nested dicts, lists and tuples)."""
    if isinstance(obj, dict) and depth < MAX_DEPTH:
        for k, v in obj.items():
            _leaves(v, f"{prefix}.{k}" if prefix else str(k), out, depth + 1)
    elif isinstance(obj, (list, tuple)) and depth < MAX_DEPTH and not all(isinstance(v, (int, float)) for v in obj):
        for i, v in enumerate(obj):
            _leaves(v, f"{prefix}.{i}" if prefix else str(i), out, depth + 1)
    else:
        out[prefix] = obj
    return out


def _same_value(a: Any, b: Any) -> bool:
    if type(a) is not type(b):
        return False
    if isinstance(a, float):
        return a == b or (math.isnan(a) and math.isnan(b))
    if hasattr(a, "tobytes") and hasattr(a, "dtype"):  # a numpy array (HF's rng_state.pth)
        return a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()
    try:
        return bool(a == b)
    except (TypeError, ValueError, RuntimeError):
        return False


def _compare_pickled(ref_path: Path, got_path: Path, name: str, result: StateComparison) -> None:
    """Every tensor of a released torch.save file against the replayed one by value; other values
    (step counters, learning rates, RNG states) exactly. Both are opened only after the static scan,
    with the weights-only loader."""
    from audit.readers.torch_pickle import PickleProblem, load_scanned

    try:
        ref = _leaves(load_scanned(ref_path, f"released {name}", numpy_arrays=True), "", {})
    except PickleProblem as exc:
        raise CompareError(str(exc)) from None
    got: dict[str, Any] = {}
    if got_path.is_file():
        try:
            got = _leaves(load_scanned(got_path, f"replayed {name}", numpy_arrays=True), "", {})
        except PickleProblem:
            got = {}
    result.missing += [f"{name}:{k}" for k in sorted(set(ref) ^ set(got))]
    for key in sorted(set(ref) & set(got)):
        a, b = ref[key], got[key]
        if isinstance(a, torch.Tensor) and isinstance(b, torch.Tensor):
            diff, rel = diff_tensor(f"{name}:{key}", a, b)
            result.compared += 1
            result.max_rel = max(result.max_rel, rel)
            if diff.differing:
                result.diffs.append(diff)
        elif not _same_value(a, b):
            result.fields.append(f"{name}:{key}")


def _differs(a: float, b: float, rtol: float | None) -> bool:
    if rtol is None:
        return not (a == b or (math.isnan(a) and math.isnan(b)))
    return not math.isclose(a, b, rel_tol=rtol, abs_tol=1e-12)


@dataclass(frozen=True)
class LogDivergence:
    """The first logged value the replay does not reproduce."""

    step: int
    field: str
    replayed: float
    released: float


def first_log_divergence(replayed: list[dict], released, rtol: float | None) -> LogDivergence | None:
    """First step (and field) whose loss, learning rate or gradient norm differs from the released log
    (exactly, or beyond ``rtol``); steps the release did not log are not compared."""
    for row in replayed:
        ref = released.get(row["step"])
        if ref is None:
            continue
        for k in LOG_FIELDS:
            if k in ref and k in row and _differs(ref[k], row[k], rtol):
                return LogDivergence(row["step"], k, float(row[k]), float(ref[k]))
    return None


NO_FINGERPRINT = "(no environment fingerprint released)"


def environment_differences(released: dict | None, replay: dict) -> list[str]:
    if not isinstance(released, dict):
        return [NO_FINGERPRINT]
    keys = (set(released) | set(replay)) - NON_NUMERIC_FIELDS
    return sorted(k for k in keys if released.get(k) != replay.get(k))
