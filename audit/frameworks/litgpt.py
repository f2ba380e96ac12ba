"""LitGPT output (``litgpt pretrain``, 0.5.x): ``step-NNNNNNNN/`` and ``final/`` directories, each with one
``lit_model.pth`` — a ``torch.save`` zip of ``{"model": state dict, "optimizer": AdamW state dict,
"train_dataloader": the loader's state, "iter_num", "step_count"}`` — plus ``hyperparameters.yaml`` (the
command's arguments) and ``model_config.yaml`` (``litgpt.Config``); the CSV logger's
``logs/csv/version_N/metrics.csv``.

``lit_model.pth`` is a pickle: it is scanned statically first (:mod:`audit.readers.pickle_scan`) and
opened only with ``torch.load(weights_only=True, mmap=True)`` (:mod:`audit.readers.torch_pickle`);
LitGPT saves no RNG state. One row of metrics.csv per iteration: its ``step`` column is ``iter - 1``
(the step Lightning was given), so rows are keyed on ``iter``, which is the optimizer step when no
gradient accumulation is configured (``global_batch_size`` = ``micro_batch_size`` × devices × nodes).
The learning rate of update ``s`` is ``get_lr(it=s - 1)``: the ``litgpt-warmup-cosine`` schedule.
"""

from __future__ import annotations

import csv
import io
import math
from pathlib import Path
from typing import Any, ClassVar

from audit.frameworks.interface import (CheckpointFacts, EngineError, Framework, Hyperparameters, ReadJson,
                                       RecordedTraining)  # fmt: skip
from audit.readers import yamlio
from audit.readers.file_cache import while_unchanged
from audit.readers.bounded import MAX_JSON_BYTES, MAX_YAML_BYTES, read_bytes
from audit.readers.training_log import TrainingLog, add_record

CHECKPOINT = "lit_model.pth"
HYPERPARAMETERS = "hyperparameters.yaml"
MODEL_CONFIG = "model_config.yaml"
SCHEDULE = "litgpt-warmup-cosine"
#: LitGPT's --precision → the manifest's.
PRECISIONS = {"32-true": "fp32", "bf16-mixed": "bf16-mixed", "bf16-true": "bf16", "16-mixed": "fp16-mixed",
              "16-true": "fp16"}  # fmt: skip
#: torch.optim.AdamW's defaults, for what hyperparameters.yaml leaves out.
ADAMW_DEFAULTS = {"lr": 1e-3, "betas": [0.9, 0.999], "eps": 1e-8, "weight_decay": 0.01}


@while_unchanged(maxsize=8)
def read_checkpoint(path: Path, rel: str) -> dict[str, Any]:
    """A lit_model.pth, statically scanned and then opened weights-only (tensors memory-mapped);
    raises ValueError (one line naming ``rel``) when the scan or the loader refuses it."""
    from audit.readers.torch_pickle import PickleProblem, load_scanned

    try:
        obj = load_scanned(path, rel)
    except PickleProblem as exc:
        raise ValueError(str(exc)) from None
    if not isinstance(obj, dict):
        raise ValueError(f"{rel}: not a LitGPT checkpoint (a {type(obj).__name__}, not a dict)")
    return obj


def _yaml(path: Path) -> dict[str, Any] | None:
    try:
        data = yamlio.loads(read_bytes(path, MAX_YAML_BYTES))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def hyperparameters_from_yaml(hp: dict[str, Any], model: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """config.training from hyperparameters.yaml and model_config.yaml, and notes on what they do not say."""
    notes = []
    train = hp.get("train") if isinstance(hp.get("train"), dict) else {}
    opt = hp.get("optimizer")
    args = dict(ADAMW_DEFAULTS)
    name = opt if isinstance(opt, str) else opt.get("class_path") if isinstance(opt, dict) else None
    if isinstance(opt, dict) and isinstance(opt.get("init_args"), dict):
        args |= opt["init_args"]
    if str(name).rsplit(".", 1)[-1] != "AdamW":
        notes.append(f"optimizer {name!r} is not AdamW")
    length = train.get("max_seq_length") or model.get("block_size")
    micro, batch = train.get("micro_batch_size"), train.get("global_batch_size")
    processes = _int(hp.get("devices"), 1) * _int(hp.get("num_nodes"), 1)
    total = None
    if isinstance(train.get("max_tokens"), int) and isinstance(micro, int) and isinstance(length, int):
        total = train["max_tokens"] // processes // (micro * length)  # pretrain.fit's max_iters
    else:
        notes.append("train.max_tokens is not set: lr_schedule.total_steps is unknown")
    if isinstance(batch, int) and isinstance(micro, int) and batch != micro * processes:
        notes.append(f"gradient accumulation ({batch} = {micro} × {processes} × {batch // max(1, micro * processes)}): "
                     "the schedule and the log count iterations, not optimizer steps")  # fmt: skip
    warmup = train.get("lr_warmup_steps") if isinstance(train.get("lr_warmup_steps"), int) else 0
    if train.get("lr_warmup_fraction"):
        notes.append("train.lr_warmup_fraction depends on the data loader's length: warmup_steps not derived")
    betas = args.get("betas")
    training: dict[str, Any] = {
        "optimizer": {"name": "adamw", "betas": list(betas) if isinstance(betas, (list, tuple)) else None,
                      "eps": args.get("eps"), "weight_decay": args.get("weight_decay")},
        "lr_schedule": {"name": SCHEDULE, "peak_lr": args.get("lr"), "final_lr": train.get("min_lr", 0.0),
                        "warmup_steps": min(warmup, total) if total else warmup, "total_steps": total},
        "batch_size": batch if isinstance(batch, int) else None,
        "sequence_length": length if isinstance(length, int) else None,
        "precision": PRECISIONS.get(str(hp.get("precision"))),
    }  # fmt: skip
    if isinstance(train.get("max_norm"), (int, float)) and train["max_norm"] > 0:
        training["grad_clip"] = float(train["max_norm"])
    if isinstance(hp.get("seed"), int):
        training["seed"] = hp["seed"]
    return training, notes


def _int(v: object, default: int) -> int:
    return v if type(v) is int and v > 0 else default


def read_metrics_csv(path: Path) -> TrainingLog:
    """LitGPT's CSVLogger metrics.csv: the rows that carry a training loss, keyed on ``iter`` (the
    ``step`` column is ``iter - 1``; validation rows have no ``loss``)."""
    log = TrainingLog()
    try:
        text = read_bytes(path, MAX_JSON_BYTES).decode("utf-8", errors="replace")
    except (OSError, ValueError) as exc:
        log.problem(str(exc).splitlines()[0] if str(exc) else type(exc).__name__)
        return log
    reader = csv.DictReader(io.StringIO(text))
    if not reader.fieldnames or "iter" not in reader.fieldnames:
        log.problem("no 'iter' column (not a LitGPT metrics.csv)")
        return log
    for lineno, row in enumerate(reader, start=2):
        if not row.get("loss"):
            continue
        rec: dict[str, Any] = {"step": _number(row.get("iter"), integer=True)}
        for field, column in (("loss", "loss"), ("learning_rate", "learning_rate")):
            if (v := _number(row.get(column))) is not None:
                rec[field] = v
        add_record(log, f"line {lineno}", rec, lineno)
    return log


def _number(text: str | None, integer: bool = False) -> float | int | None:
    try:
        v = float(text) if text not in (None, "") else None
    except ValueError:
        return None
    if integer:
        return int(v) if v is not None and math.isfinite(v) and v == int(v) else None
    return v


class LitGPT(Framework):
    """``litgpt pretrain`` output: ``step-*/`` and ``final/`` with ``lit_model.pth``."""

    name = "LitGPT"
    log_formats: ClassVar = {"litgpt-csv": read_metrics_csv}
    schedules = (SCHEDULE,)
    replays = True
    resume_needs = frozenset({"optimizer"})  # LitGPT saves no RNG state; pretraining draws no random numbers

    def owns(self, file_names: set[str]) -> bool:
        return CHECKPOINT in file_names

    def checkpoint_facts(self, directory: Path, read_json: ReadJson) -> CheckpointFacts | None:
        """The step from ``step_count`` inside lit_model.pth (``final/`` has it nowhere else)."""
        path = directory / CHECKPOINT
        if not path.is_file():
            return None
        try:
            obj = read_checkpoint(path, f"{directory.name}/{CHECKPOINT}")
        except (ValueError, OSError):
            return None
        step = obj.get("step_count")
        if type(step) is not int:
            return None
        holds = {"optimizer"} if isinstance(obj.get("optimizer"), dict) else set()
        if type(obj.get("iter_num")) is int:
            holds.add("scheduler")  # the learning rate is get_lr(iter_num): the position is the saved iteration
        if isinstance(obj.get("train_dataloader"), dict) and obj["train_dataloader"]:
            holds.add("data_cursor")  # the loader's state_dict (litdata's StreamingDataLoader position)
        return CheckpointFacts(step=step, source=CHECKPOINT, holds=frozenset(holds))

    def _files(self, directory: Path) -> tuple[dict, dict] | None:
        hp, model = _yaml(directory / HYPERPARAMETERS), _yaml(directory / MODEL_CONFIG)
        if hp is None or not (directory / CHECKPOINT).is_file():
            return None
        return hp, model or (hp.get("model_config") if isinstance(hp.get("model_config"), dict) else {})

    def recorded_training(self, directory: Path, root: Path, read_json: ReadJson) -> list[RecordedTraining]:
        files = self._files(directory)
        if files is None:
            return []
        training, _ = hyperparameters_from_yaml(*files)
        return [RecordedTraining((directory / HYPERPARAMETERS).relative_to(root).as_posix(), None, training)]

    def hyperparameters(self, directory: Path, root: Path, read_json: ReadJson) -> Hyperparameters | None:
        files = self._files(directory)
        if files is None:
            return None
        rel = (directory / HYPERPARAMETERS).relative_to(root).as_posix()
        training, notes = hyperparameters_from_yaml(*files)
        lacking = [k for k, v in {**training, **training["lr_schedule"]}.items() if v is None]
        if lacking or any("accumulation" in n or "AdamW" in n for n in notes):
            why = "; ".join(([f"it does not give {', '.join(lacking)}"] if lacking else []) + notes)
            return Hyperparameters(None, f"{rel}: {why}; declare config: by hand")
        return Hyperparameters(training, f"hyperparameters from {rel} and {MODEL_CONFIG} "
                                         f"(schedule {SCHEDULE}: LitGPT's get_lr)" + "".join(f"; {n}" for n in notes),
                               model=MODEL_CONFIG if (directory / MODEL_CONFIG).is_file() else None)  # fmt: skip

    def data_order(self, directory: Path, root: Path) -> tuple[dict[str, Any], str] | None:
        """litdata's StreamingDataLoader saves its state in lit_model.pth: unshuffled, one process and no
        worker processes is the chunks' blocks in index order; shuffled is litdata's seeded permutation."""
        rel = (directory / CHECKPOINT).relative_to(root).as_posix()
        try:
            loader = read_checkpoint(directory / CHECKPOINT, rel).get("train_dataloader")
        except (ValueError, OSError):
            return None
        ds = loader.get("dataset") if isinstance(loader, dict) else None
        if not isinstance(ds, dict) or type(ds.get("shuffle")) is not bool:
            return None
        if ds["shuffle"]:
            seed = ds.get("seed")
            return ({"within_chunk": "shuffled", **({"seed": seed} if type(seed) is int else {}),
                     "description": "litdata StreamingDataset(shuffle=True): seeded chunk and block permutations"},
                    f"{rel} saves litdata's loader state: shuffled")  # fmt: skip
        if ds.get("world_size") == 1 and ds.get("num_workers") == 1:
            return ({"within_chunk": "sequential", "description": "litdata StreamingDataset(shuffle=False), one "
                     "process, no worker processes: each step takes the next blocks of the chunks in index order"},
                    f"{rel} saves litdata's loader state: shuffle false, world size 1, one worker")  # fmt: skip
        return None

    def _start_files(self, release, start) -> tuple[dict, dict | None]:
        """The start checkpoint's lit_model.pth (scanned, weights-only) and its hyperparameters.yaml."""
        directory = release.path(start.path)
        try:
            obj = read_checkpoint(directory / CHECKPOINT, f"{start.path}/{CHECKPOINT}")
        except (ValueError, OSError) as exc:
            raise EngineError(str(exc).splitlines()[0] if str(exc) else f"{start.path}/{CHECKPOINT} cannot be read") from None
        return obj, _yaml(directory / HYPERPARAMETERS)

    def replay_blocker(self, release, start) -> str | None:
        from audit.frameworks import litgpt_replay

        return litgpt_replay.blocker(release, _yaml(release.path(start.path) / HYPERPARAMETERS) if start.path else None)

    def replay(self, release, start, batches, device, work):
        from audit.frameworks import litgpt_replay

        obj, hp = self._start_files(release, start)
        model = release.manifest.config.model
        config = _yaml(release.path(model)) if model and release.has_file(model) else None
        if config is None:
            raise EngineError(f"the model config {model} is not a LitGPT model_config.yaml")
        return litgpt_replay.replay(release, start, batches, device, work, obj, hp, config)
