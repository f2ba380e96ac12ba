"""The built-in replay of a Hugging Face Trainer run: transformers' own ``Trainer``, resumed from a copy of
``checkpoint-N`` with ``train(resume_from_checkpoint=...)``, fed the steps' sequences the manifest's step →
data mapping names, in order.

Where each ``TrainingArguments`` value comes from (``training_args.bin`` is never unpickled):

* the manifest's ``config.training`` (what the audit holds the release to): ``learning_rate`` (peak_lr),
  ``lr_scheduler_type`` (hf-linear → linear, hf-cosine → cosine, hf-constant → constant,
  hf-constant-with-warmup → constant_with_warmup), ``warmup_steps``, ``max_steps`` (total_steps: the
  schedule's length), ``adam_beta1``/``adam_beta2``/``adam_epsilon``/``weight_decay``, ``optim``
  (adamw_torch, or adamw_torch_fused for implementation fused), ``max_grad_norm`` (grad_clip; none: 0, no
  clipping), ``seed`` (42, transformers' default, when undeclared), ``bf16`` (precision bf16-mixed),
  ``gradient_accumulation_steps`` (batch_size ÷ the per-device batch);
* the start checkpoint's ``trainer_state.json``: ``per_device_train_batch_size`` (train_batch_size) and
  ``logging_steps``;
* the replay itself: the segment's sequences as the Trainer's sampler (:class:`DeclaredOrder`: each step gets
  exactly the batch the step → data mapping gives it), ``save_strategy="no"`` with a save after the last
  replayed step, ``report_to="none"``, ``disable_tqdm``, ``use_cpu`` for device cpu,
  ``dataloader_num_workers=0``.

Epochs. The Trainer opens one DataLoader iterator per epoch, and each draws its base seed from the CPU
generator (``torch.utils.data`` ``_BaseDataLoaderIter``); its sampler (accelerate's ``SeedableRandomSampler``
in place of ``RandomSampler``, seeded ``data_seed or seed`` + epoch) draws each epoch's permutation from its
own generator. So a segment across an epoch boundary ends with the CPU generator one draw further than a
single pass over the segment would leave it (``rng_state.pth`` ``cpu``; weights, optimizer, python and
numpy states are untouched by it). The replay therefore lays the declared sequences out in the original
run's epochs — steps per epoch from the start checkpoint's ``trainer_state.json`` (``epoch`` = steps ÷
steps-per-epoch at every logged step), × the batch — and resumes as the Trainer's own resume does
(``ignore_data_skip`` off: the resumed epoch's first batches skipped without being read, the RNG state
restored after the first batch is drawn, or before the iterator at an epoch's start; a new iterator at each
epoch boundary). The positions the Trainer asked for are checked afterwards to be the segment's, in order.
What it cannot place: epochs whose batches do not divide by the gradient accumulation, or whose last batch
is short (the released data's sequence count says so); such segments are skipped, naming why.

Each sequence becomes ``{"input_ids": ids, "labels": ids}`` through transformers' default collator (the
model shifts the labels). What the replay cannot know: a custom data collator or dataset transform,
callbacks, ``lr_scheduler_kwargs``/``optim_args``, NEFTune, label smoothing, gradient checkpointing,
several processes; a run that used them replays as a mismatch, never as a false ``bit-exact``. Nor does it
know whether the declared order is the one the Trainer's sampler drew: it feeds the declared order, and a
run that was fed another diverges at the first step that differs.

The Trainer reads ``optimizer.pt``, ``scheduler.pt`` and ``rng_state.pth`` with ``torch.load(...,
weights_only=True)`` (transformers 5.x: every ``torch.load`` of its resume passes ``weights_only=True``,
after ``check_torch_load_is_safe``, which requires torch ≥ 2.6); before it sees the copy, every pickle in
it has passed the static scan (audit.readers.pickle_scan), and ``training_args.bin`` is not copied.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any

from audit.frameworks.interface import EngineError, EngineRun
from audit.readers.bounded import load_json

if TYPE_CHECKING:
    from audit.core.release import Release
    from audit.spec.manifest import Checkpoint

#: The manifest's schedule names → transformers' lr_scheduler_type (the inverse of hf_trainer.HF_SCHEDULES).
SCHEDULER_TYPES = {"hf-linear": "linear", "hf-cosine": "cosine", "hf-constant": "constant",
                   "hf-constant-with-warmup": "constant_with_warmup"}  # fmt: skip
PRECISIONS = ("fp32", "bf16-mixed")
#: Written by the Trainer and never needed to resume: not copied, never opened.
NOT_COPIED = ("training_args.bin",)
PICKLE_SUFFIXES = (".pt", ".pth", ".bin", ".ckpt", ".pkl", ".pickle")
#: The Trainer internals the replay relies on (its sampler and batch hooks) as in transformers 5.
MIN_TRANSFORMERS = 5
NO_EPOCHS = ("its epoch values name no whole number of steps per epoch, so the original run's epoch boundaries "
             "(where the Trainer's DataLoader draws from the CPU generator) cannot be placed")
TRANSFORMERS_MISSING = ("transformers is not installed: pip install transformers accelerate (or "
                        "llm360-audit[hf]) to replay Hugging Face Trainer checkpoints")  # fmt: skip


def blocker(release: Release, start: Checkpoint, state: dict[str, Any] | None) -> str | None:
    """Why the Trainer cannot replay from ``start`` (``state``: its trainer_state.json, None if unreadable)."""
    try:
        import accelerate  # noqa: F401  (the Trainer needs it)
        import transformers
        from transformers.models.auto.modeling_auto import MODEL_FOR_CAUSAL_LM_MAPPING_NAMES
    except ImportError:
        return TRANSFORMERS_MISSING
    if int(transformers.__version__.split(".")[0]) < MIN_TRANSFORMERS:
        return f"the Trainer replay needs transformers >= {MIN_TRANSFORMERS} (installed: {transformers.__version__})"
    config_path = f"{start.path}/config.json"
    try:
        config = load_json(release.path(config_path))
    except (OSError, ValueError, RecursionError) as exc:
        return f"{config_path}: {str(exc).splitlines()[0][:120]}: the model cannot be built"
    model_type = config.get("model_type") if isinstance(config, dict) else None
    if not isinstance(model_type, str) or model_type not in MODEL_FOR_CAUSAL_LM_MAPPING_NAMES:
        shown = repr(model_type)[:80]
        return f"{config_path}: model_type {shown} is not a causal-LM model transformers knows"
    m = release.manifest
    if m.config is None:
        return None  # why_not names it
    hp = m.config.training
    if hp.lr_schedule.name not in SCHEDULER_TYPES:
        return (f"config.training.lr_schedule.name {hp.lr_schedule.name} is not a transformers schedule "
                f"({', '.join(SCHEDULER_TYPES)})")  # fmt: skip
    if hp.optimizer.name.lower() != "adamw" or hp.optimizer.implementation not in (None, "for-loop", "fused"):
        return f"the Trainer replay runs AdamW (adamw_torch), not {hp.optimizer.name} ({hp.optimizer.implementation})"
    if hp.precision not in PRECISIONS:
        return f"the Trainer replay runs {' and '.join(PRECISIONS)}, not {hp.precision}"
    if state is None:
        return f"{start.path}/trainer_state.json cannot be read"
    per_device, logging = state.get("train_batch_size"), state.get("logging_steps")
    if not (type(per_device) is int and per_device > 0 and type(logging) is int and logging > 0):
        return f"{start.path}/trainer_state.json records no train_batch_size and logging_steps"
    if hp.batch_size % per_device:
        return f"config.training.batch_size {hp.batch_size} is not a multiple of the per-device batch {per_device}"
    per_epoch = epoch_steps(state)
    if per_epoch is None:
        return f"{start.path}/trainer_state.json: {NO_EPOCHS}"
    sequences = sum(c.sequences or 0 for c in m.data.chunks) if m.data is not None else 0
    if sequences % hp.batch_size and -(-sequences // hp.batch_size) == per_epoch:
        return (f"the released data's {sequences} sequences make epochs of {per_epoch} steps whose last batch holds "
                f"{sequences % hp.batch_size}, not {hp.batch_size}: the step → data mapping ({hp.batch_size} a step) "
                "does not describe such epochs")  # fmt: skip
    return None


def training_arguments(release: Release, state: dict[str, Any], device: str, work: Path) -> dict[str, Any]:
    """The keyword arguments of ``TrainingArguments`` (see the module for where each comes from)."""
    hp = release.manifest.config.training
    s, opt = hp.lr_schedule, hp.optimizer
    per_device = state["train_batch_size"]
    betas = opt.betas or [0.9, 0.999]
    return dict(
        output_dir=str(work / "trainer"), max_steps=s.total_steps, learning_rate=s.peak_lr,
        lr_scheduler_type=SCHEDULER_TYPES[s.name], warmup_steps=s.warmup_steps,
        per_device_train_batch_size=per_device, gradient_accumulation_steps=hp.batch_size // per_device,
        adam_beta1=betas[0], adam_beta2=betas[1], adam_epsilon=1e-8 if opt.eps is None else opt.eps,
        weight_decay=0.0 if opt.weight_decay is None else opt.weight_decay,
        optim="adamw_torch_fused" if opt.implementation == "fused" else "adamw_torch",
        max_grad_norm=0.0 if hp.grad_clip is None else hp.grad_clip, seed=42 if hp.seed is None else hp.seed,
        bf16=hp.precision == "bf16-mixed", logging_strategy="steps", logging_steps=state["logging_steps"],
        save_strategy="no", report_to="none", disable_tqdm=True, use_cpu=device == "cpu", dataloader_num_workers=0,
        ignore_data_skip=False, log_level="error",
    )  # fmt: skip


def copy_checkpoint(release: Release, start: Checkpoint, dst: Path) -> None:
    """The start checkpoint's declared files (training_args.bin aside) into ``dst``; every pickle among
    them must pass the static scan before the Trainer may torch.load it."""
    from audit.readers.pickle_scan import scan_pickle_file
    from audit.readers.torch_pickle import looks_pickled

    dst.mkdir(parents=True)
    for f in start.files:
        name = f.path.rsplit("/", 1)[-1]
        if name in NOT_COPIED or not release.has_file(f.path):
            continue
        src = release.path(f.path)
        if src.is_symlink():
            raise EngineError(f"{f.path} is a symbolic link; the Trainer is not given it")
        if name.endswith(PICKLE_SUFFIXES) or looks_pickled(src):
            try:
                scan = scan_pickle_file(src, f.path)
            except ValueError as exc:
                raise EngineError(str(exc)) from None
            if scan.unsafe:
                raise EngineError(f"{f.path}: a pickle that would import {', '.join(scan.unsafe[:3])}; "
                                  "the Trainer is not given it")  # fmt: skip
            if scan.problem:
                raise EngineError(f"{scan.problem}; the Trainer is not given it")
        shutil.copyfile(src, dst / name)


def replay(release: Release, start: Checkpoint, state: dict[str, Any], batches: list, device: str,
           work: Path) -> EngineRun:
    """Resume transformers' Trainer from a scanned copy of ``start`` for the steps of ``batches``."""
    for var in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_HUB_DISABLE_TELEMETRY"):
        os.environ[var] = "1"  # nothing leaves the machine
    import torch
    from transformers import AutoModelForCausalLM, TrainerCallback, TrainingArguments
    from transformers import __version__ as transformers_version
    from transformers.trainer_callback import PrinterCallback
    from transformers.utils import logging as hf_logging

    if device != "cpu" and not device.startswith("cuda"):
        raise EngineError(f"the Trainer replay runs on cpu or cuda, not {device}")
    ckpt = work / "checkpoint"
    copy_checkpoint(release, start, ckpt)
    end = start.step + len(batches)
    rows = [ids for batch in batches for ids in batch]

    batch = release.manifest.config.training.batch_size
    order = DeclaredOrder(epoch_steps(state) * batch, start.step * batch, rows)  # blocker(): a whole number
    trainer_class = _trainer_class(order)

    class StopAtEnd(TrainerCallback):
        def on_step_end(self, args, state, control, **kwargs):
            if state.global_step >= end:
                control.should_save = control.should_training_stop = True
            return control

    verbosity, bars = hf_logging.get_verbosity(), hf_logging.is_progress_bar_enabled()
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    try:
        try:
            args = TrainingArguments(**training_arguments(release, state, device, work))
            model = AutoModelForCausalLM.from_pretrained(str(ckpt), use_safetensors=True, dtype="auto",
                                                         trust_remote_code=False)  # fmt: skip
        except Exception as exc:  # release content decides what transformers raises: a one-line error, never a crash
            raise EngineError(f"cannot build the Trainer from {start.path}: {_first_line(exc)}") from None
        trainer = trainer_class(model=model, args=args, train_dataset=order, callbacks=[StopAtEnd()])
        trainer.remove_callback(PrinterCallback)
        try:
            trainer.train(resume_from_checkpoint=str(ckpt))
        except Exception as exc:
            raise EngineError(f"the Trainer could not resume {start.path}: {_first_line(exc)}") from None
    finally:
        hf_logging.set_verbosity(verbosity)
        if bars:
            hf_logging.enable_progress_bar()
    saved = work / "trainer" / f"checkpoint-{end}"
    if trainer.state.global_step != end or not saved.is_dir():
        raise EngineError(f"the Trainer stopped at step {trainer.state.global_step}, not {end}")
    fed = order.fetched[: len(rows)]
    if fed != list(range(order.first, order.first + len(rows))):  # each step exactly its declared batch, in order
        wrong = next((i for i, p in enumerate(fed) if p != order.first + i), len(fed))
        raise EngineError(f"the Trainer fed training position {fed[wrong] if wrong < len(fed) else 'none'} where the "
                          f"step → data mapping has position {order.first + wrong}: its data order was not the declared one")
    out = work / "out"
    saved.rename(out)
    environment = {"framework": "transformers", "transformers_version": transformers_version,
                   "torch_version": torch.__version__, "device": device, "num_threads": torch.get_num_threads(),
                   "dtype": str(model.dtype).removeprefix("torch."), "precision": release.manifest.config.training.precision}  # fmt: skip
    return EngineRun(out=out, logs=step_log(trainer.state.log_history, start.step, state["logging_steps"]),
                     environment=environment)  # fmt: skip


def epoch_steps(state: dict[str, Any]) -> int | None:
    """The original run's optimizer steps per epoch from a trainer_state.json: the Trainer records ``epoch`` =
    steps ÷ steps-per-epoch at every logged step and at the save; None when those values fit no one whole
    number of steps per epoch (a state without epochs; an epoch whose batches do not divide by the gradient
    accumulation; :data:`NO_EPOCHS`)."""
    points = [(e.get("step"), e.get("epoch")) for e in state.get("log_history") or [] if isinstance(e, dict)]
    points.append((state.get("global_step"), state.get("epoch")))
    points = [(s, f) for s, f in points if type(s) is int and s > 0 and type(f) in (int, float) and f > 0]
    if not points:
        return None
    per_epoch = round(points[-1][0] / points[-1][1])
    if per_epoch < 1 or any(abs(s / per_epoch - f) > 1e-6 * max(1.0, f) for s, f in points):
        return None
    return per_epoch


class DeclaredOrder:
    """The replay's dataset and sampler in one: training positions (``first`` … ``first + len(rows) - 1``: the
    segment's sequences in the step → data mapping's order) laid out in epochs of ``epoch_len`` positions like
    the original run's, so that transformers' Trainer opens a new DataLoader iterator — which draws its base
    seed from the CPU generator — at the same steps the original did. Positions outside the segment (skipped
    by the Trainer's own resume, or fetched one batch ahead after the last step) get the first sequence; the
    Trainer never trains on them (``fetched`` records every position asked for, checked after the run)."""

    def __init__(self, epoch_len: int, first: int, rows: list) -> None:
        self.epoch_len, self.first, self.rows = epoch_len, first, rows
        self.epoch = first // epoch_len  # the epoch the Trainer resumes in: epochs_trained
        self.fetched: list[int] = []

    def __len__(self) -> int:
        return self.epoch_len

    def __getitem__(self, position: int) -> dict:
        self.fetched.append(position)
        i = position - self.first
        ids = self.rows[i] if 0 <= i < len(self.rows) else self.rows[0]
        return {"input_ids": ids, "labels": ids}

    def set_epoch(self, epoch: int) -> None:
        """The Trainer's epoch number (its ``_run_epoch`` calls ``set_epoch``; accelerate forwards it here)."""
        self.epoch = epoch

    def positions(self):
        """One epoch's positions, in order (the sampler's ``__iter__``); the next epoch after the last."""
        yield from range(self.epoch * self.epoch_len, (self.epoch + 1) * self.epoch_len)
        self.epoch += 1


def _trainer_class(order: DeclaredOrder):
    """transformers' Trainer with the declared order as its sampler (the Trainer's own RandomSampler aside);
    everything else — skipping the resumed epoch's first batches, restoring the RNG state after the first
    batch is drawn, one DataLoader iterator per epoch — is the Trainer's own resume."""
    import torch
    from transformers import Trainer

    class Sampler(torch.utils.data.Sampler):
        def __len__(self) -> int:
            return len(order)

        def __iter__(self):
            return order.positions()

        def set_epoch(self, epoch: int) -> None:
            order.set_epoch(epoch)

    class SegmentTrainer(Trainer):
        def _get_train_sampler(self, train_dataset=None):
            return Sampler()

    return SegmentTrainer


def _first_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return (lines[0] if lines else type(exc).__name__)[:200]


def step_log(history: list[dict], start: int, every: int) -> list[dict]:
    """The replay's per-step log from its ``log_history``, like with like: a logged ``loss`` is the mean
    over the logging interval, so the loss of an interval the replay covered only in part (a segment that
    starts between two logging steps) is left out; the learning rate and gradient norm are the step's own."""
    rows, last = [], start
    for entry in history:
        step = entry.get("step")
        if type(step) is not int or step <= start or "loss" not in entry:
            continue
        row = {"step": step} | {k: entry[k] for k in ("loss", "learning_rate", "grad_norm") if k in entry}
        if step - last != every:
            row.pop("loss")
        rows.append(row)
        last = step
    return rows
