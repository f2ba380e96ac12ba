"""Hugging Face Trainer output (``checkpoint-N/`` folders): what its files hold, read without trusting them.

``trainer_state.json`` is JSON: the global step, ``log_history`` (one entry per logging step with
``loss`` — the mean over the logging interval —, ``grad_norm``, ``learning_rate`` — the rate that
update used —, ``epoch`` and ``step``; evaluation and end-of-training entries carry other keys), the
batch size and ``max_steps``. ``optimizer.pt``, ``scheduler.pt`` and ``rng_state.pth`` are torch.save
pickles, opened only through :mod:`audit.readers.torch_pickle`; ``training_args.bin`` (a pickled
``TrainingArguments``) is never opened: the weights-only loader would refuse it anyway.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from audit.readers.bounded import load_json
from audit.frameworks.interface import (CheckpointFacts, EngineError, EngineRun, Framework, Hyperparameters, ReadJson,
                                       RecordedTraining)  # fmt: skip
from audit.readers.training_log import TrainingLog, add_record

if TYPE_CHECKING:
    from audit.core.release import Release
    from audit.spec.manifest import Checkpoint

TRAINER_STATE = "trainer_state.json"
#: What HF's rng_state.pth holds on every machine (CUDA and other devices add their own keys).
RNG_KEYS = ("python", "numpy", "cpu")


def read_trainer_state(path: Path, rel: str) -> dict[str, Any]:
    """The parsed trainer_state.json; raises ValueError with one line naming ``rel``."""
    try:
        state = load_json(path)
    except (OSError, ValueError, RecursionError) as exc:
        raise ValueError(f"{rel}: {str(exc).splitlines()[0][:120]}") from None
    if not isinstance(state, dict):
        raise ValueError(f"{rel}: not a JSON object")
    return state


def is_trainer_state(state: dict) -> bool:
    return isinstance(state.get("log_history"), list) and type(state.get("global_step")) is int


def read_log_history(path: Path) -> TrainingLog:
    """The per-step training log of a trainer_state.json: its ``log_history`` entries that carry a loss."""
    log = TrainingLog(position_kind="log_history")
    try:
        state = read_trainer_state(path, path.name)
    except ValueError as exc:
        log.problem(str(exc).removeprefix(f"{path.name}: "))
        return log
    history = state.get("log_history")
    if not isinstance(history, list):
        log.problem("no log_history list")
        return log
    for i, entry in enumerate(history):
        if isinstance(entry, dict) and "loss" not in entry:
            continue  # evaluation results and the end-of-training summary are not step records
        add_record(log, f"log_history[{i}]", entry, i)
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


#: transformers' lr_scheduler_type → the manifest's schedule of the same arithmetic.
HF_SCHEDULES = {"linear": "hf-linear", "cosine": "hf-cosine", "constant": "hf-constant",
                "constant_with_warmup": "hf-constant-with-warmup"}  # fmt: skip
TRAINING_ARGS = "training_args.bin"


def training_args(path: Path, rel: str) -> dict[str, Any]:
    """The plain values of a pickled ``TrainingArguments`` (training_args.bin), read from the pickle's
    opcodes without unpickling it (audit.readers.pickle_opcodes); raises ValueError naming ``rel``."""
    from audit.readers.pickle_opcodes import PickleLiteralError, object_state

    try:
        return object_state(path, "TrainingArguments")
    except (PickleLiteralError, OSError) as exc:
        raise ValueError(f"{rel}: {exc}") from None


def hyperparameters_from_args(args: dict[str, Any], train_batch_size: object = None) -> tuple[dict, list[str]]:
    """config.training (as far as TrainingArguments says) and notes on what it could not say."""
    notes = []
    total = args.get("max_steps")
    schedule = HF_SCHEDULES.get(str(args.get("lr_scheduler_type")))
    if schedule is None:
        notes.append(f"lr_scheduler_type {args.get('lr_scheduler_type')!r} has no equivalent schedule")
    if type(total) is not int or total < 1:
        notes.append("max_steps is not set (training ran by epochs): lr_schedule.total_steps is unknown")
    warmup = args.get("warmup_steps")
    if not (type(warmup) is int and warmup > 0) and isinstance(args.get("warmup_ratio"), float) and type(total) is int:
        warmup = math.ceil(args["warmup_ratio"] * total)  # transformers' get_warmup_steps
    per_device = train_batch_size if type(train_batch_size) is int else args.get("per_device_train_batch_size")
    accumulation = args.get("gradient_accumulation_steps") or 1
    optimizer = {"name": "adamw", "betas": [args.get("adam_beta1"), args.get("adam_beta2")],
                 "eps": args.get("adam_epsilon"), "weight_decay": args.get("weight_decay")}  # fmt: skip
    if str(args.get("optim", "")).endswith("_fused"):
        optimizer["implementation"] = "fused"
    training: dict[str, Any] = {
        "optimizer": optimizer,
        "lr_schedule": {"name": schedule, "peak_lr": args.get("learning_rate"), "final_lr": 0.0,
                        "warmup_steps": warmup if type(warmup) is int else 0, "total_steps": total},
        "batch_size": per_device * accumulation if type(per_device) is int and type(accumulation) is int else None,
        "precision": "bf16-mixed" if args.get("bf16") else "fp16-mixed" if args.get("fp16") else "fp32",
    }  # fmt: skip
    if isinstance(args.get("max_grad_norm"), (int, float)) and args["max_grad_norm"] > 0:
        training["grad_clip"] = float(args["max_grad_norm"])
    if type(args.get("seed")) is int:
        training["seed"] = args["seed"]
    notes.append("batch_size is per process × gradient accumulation: multiply by the number of processes if "
                 "training ran on several; sequence_length is not recorded by the Trainer (taken from the released data "
                 "when every sequence has one length; else declare it)")  # fmt: skip
    return training, notes


class HFTrainer(Framework):
    """``checkpoint-N/`` folders of transformers' ``Trainer``; replayed by resuming transformers' own Trainer
    (audit.frameworks.hf_replay, imported only to replay)."""

    name = "Hugging Face Trainer"
    log_formats: ClassVar = {"hf-trainer-state": read_log_history}
    schedules = tuple(HF_SCHEDULES.values())
    replays = True

    def owns(self, file_names: set[str]) -> bool:
        return TRAINER_STATE in file_names

    def checkpoint_facts(self, directory: Path, read_json: ReadJson) -> CheckpointFacts | None:
        state = read_json(directory / TRAINER_STATE) or {}
        if type(state.get("global_step")) is not int:
            return None
        tokens = state.get("num_input_tokens_seen")
        return CheckpointFacts(step=state["global_step"], source=TRAINER_STATE, holds=frozenset({"data_cursor"}),
                               tokens_seen=tokens if type(tokens) is int and tokens > 0 else None)  # fmt: skip

    def recorded_training(self, directory: Path, root: Path, read_json: ReadJson) -> list[RecordedTraining]:
        """training_args.bin (read without unpickling it), with the per-process batch of trainer_state.json."""
        if not (directory / TRAINING_ARGS).is_file():
            return []
        rel = (directory / TRAINING_ARGS).relative_to(root).as_posix()
        try:
            args = training_args(directory / TRAINING_ARGS, rel)
        except ValueError as exc:
            return [RecordedTraining(rel, None, {}, problem=str(exc))]
        state = read_json(directory / TRAINER_STATE) or {}
        training, _ = hyperparameters_from_args(args, state.get("train_batch_size"))
        return [RecordedTraining(rel, None, training, per_process_batch=True)]

    def hyperparameters(self, directory: Path, root: Path, read_json: ReadJson) -> Hyperparameters | None:
        """From training_args.bin, read without unpickling it, and the batch size of trainer_state.json."""
        if not (directory / TRAINER_STATE).is_file():
            return None
        rel = (directory / TRAINING_ARGS).relative_to(root).as_posix()
        try:
            args = training_args(directory / TRAINING_ARGS, rel)
        except ValueError as exc:
            return Hyperparameters(None, f"{exc}; declare config: by hand (lr_schedule hf-linear, hf-cosine … for HF schedules)")
        state = read_json(directory / TRAINER_STATE) or {}
        training, notes = hyperparameters_from_args(args, state.get("train_batch_size"))
        lacking = [k for k, v in {**training, **training["lr_schedule"]}.items() if v is None]
        if lacking:
            return Hyperparameters(None, f"{rel} does not give {', '.join(lacking)}; declare config: by hand ({'; '.join(notes)})")
        return Hyperparameters(training, f"hyperparameters from {rel} (its pickle's opcodes read, never unpickled); "
                                         f"{'; '.join(notes)}")  # fmt: skip

    def replay_blocker(self, release: Release, start: Checkpoint) -> str | None:
        from audit.frameworks.hf_replay import blocker

        try:
            state = release.training_state(start)
        except ValueError:
            state = None
        return blocker(release, start, state)

    def replay(self, release: Release, start: Checkpoint, batches: list, device: str, work: Path) -> EngineRun:
        from audit.frameworks import hf_replay

        try:
            state = release.training_state(start)
        except ValueError as exc:
            raise EngineError(str(exc)) from None
        reason = hf_replay.blocker(release, start, state)
        if reason:
            raise EngineError(reason)
        if state.get("global_step") != start.step:
            raise EngineError(f"{start.path}/{TRAINER_STATE} holds step {state.get('global_step')}, the manifest says {start.step}")
        return hf_replay.replay(release, start, state, batches, device, work)
