"""Hugging Face Trainer output (``checkpoint-N/`` folders): what its files hold, read without trusting them.

``trainer_state.json`` is JSON: the global step, ``log_history`` (one entry per logging step with
``loss`` — the mean over the logging interval —, ``grad_norm``, ``learning_rate`` — the rate that
update used —, ``epoch`` and ``step``; evaluation and end-of-training entries carry other keys), the
batch size and ``max_steps``. ``optimizer.pt``, ``scheduler.pt`` and ``rng_state.pth`` are torch.save
pickles, opened only through :mod:`audit.pickled`; ``training_args.bin`` (a pickled
``TrainingArguments``) is never opened: the weights-only loader would refuse it anyway.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from audit.metrics_log import TrainingLog, add_record

TRAINER_STATE = "trainer_state.json"
#: A trainer_state.json larger than this is refused unread (274k logged steps take ~45 MB).
MAX_TRAINER_STATE_BYTES = 256 * 1024 * 1024
#: What HF's rng_state.pth holds on every machine (CUDA and other devices add their own keys).
RNG_KEYS = ("python", "numpy", "cpu")


def read_trainer_state(path: Path, rel: str) -> dict[str, Any]:
    """The parsed trainer_state.json; raises ValueError with one line naming ``rel``."""
    try:
        too_large = path.stat().st_size > MAX_TRAINER_STATE_BYTES
        state = None if too_large else json.loads(path.read_bytes())
    except (OSError, ValueError, RecursionError) as exc:
        raise ValueError(f"{rel}: {str(exc).splitlines()[0][:120]}") from None
    if too_large:
        raise ValueError(f"{rel}: larger than {MAX_TRAINER_STATE_BYTES} bytes; not read")
    if not isinstance(state, dict):
        raise ValueError(f"{rel}: not a JSON object")
    return state


def is_trainer_state(state: dict) -> bool:
    return isinstance(state.get("log_history"), list) and type(state.get("global_step")) is int


def read_log_history(path: Path) -> TrainingLog:
    """The per-step training log of a trainer_state.json: its ``log_history`` entries that carry a loss."""
    log = TrainingLog()
    try:
        state = read_trainer_state(path, path.name)
    except ValueError as exc:
        log.problems.append(str(exc).removeprefix(f"{path.name}: "))
        return log
    history = state.get("log_history")
    if not isinstance(history, list):
        log.problems.append("no log_history list")
        return log
    for i, entry in enumerate(history):
        if isinstance(entry, dict) and "loss" not in entry:
            continue  # evaluation results and the end-of-training summary are not step records
        add_record(log, f"log_history[{i}]", entry)
    return log


def logging_steps(path: Path) -> int | None:
    try:
        n = read_trainer_state(path, path.name).get("logging_steps")
    except ValueError:
        return None
    return n if type(n) is int and n > 0 else None


def optimizer_problem(state: Any) -> str | None:
    """Why an ``optimizer.state_dict()`` is not an Adam(W) state, or None: ``state`` maps every parameter
    index of ``param_groups`` to ``exp_avg`` and ``exp_avg_sq`` tensors of one shape, and ``step``."""
    import torch

    if not isinstance(state, dict) or not isinstance(state.get("state"), dict):
        return "no 'state' mapping (not an optimizer state_dict)"
    groups = state.get("param_groups")
    if not isinstance(groups, list) or not all(isinstance(g, dict) and isinstance(g.get("params"), list) for g in groups):
        return "no 'param_groups' list with params"
    for index in (i for g in groups for i in g["params"]):
        s = state["state"].get(index)
        if not isinstance(s, dict):
            return f"parameter {index} has no state"
        a, b = s.get("exp_avg"), s.get("exp_avg_sq")
        if not (isinstance(a, torch.Tensor) and isinstance(b, torch.Tensor)):
            return f"parameter {index} lacks exp_avg/exp_avg_sq tensors"
        if a.shape != b.shape:
            return f"parameter {index}: exp_avg is {list(a.shape)}, exp_avg_sq is {list(b.shape)}"
    return None


def moment_shapes(state: dict) -> list[tuple[int, ...]]:
    """Shapes of the first moments, one per parameter (call after :func:`optimizer_problem`)."""
    return [tuple(state["state"][i]["exp_avg"].shape) for g in state["param_groups"] for i in g["params"]]


def optimizer_steps(state: dict) -> set[float]:
    """The per-parameter ``step`` counters (scalar tensors or numbers) of an Adam(W) state."""
    steps = set()
    for s in state["state"].values():
        v = s.get("step") if isinstance(s, dict) else None
        try:
            steps.add(float(v))  # a one-element tensor or a number
        except (TypeError, ValueError, RuntimeError):
            continue
    return {x for x in steps if math.isfinite(x)}


def rng_missing(state: Any) -> list[str]:
    """RNG states an HF rng_state.pth should hold and does not."""
    return list(RNG_KEYS) if not isinstance(state, dict) else [k for k in RNG_KEYS if state.get(k) is None]


def scheduler_step(state: Any) -> int | None:
    """The LR scheduler position (``last_epoch``: scheduler steps taken) of a scheduler state_dict."""
    step = state.get("last_epoch") if isinstance(state, dict) else None
    return step if type(step) is int else None
