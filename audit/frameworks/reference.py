"""The reference trainer (audit.trainer): this project's own LLaMA trainer, whose checkpoints are
``config.json``, ``model.safetensors``, ``optimizer.safetensors`` and ``training_state.json`` (RNG,
scheduler, data cursor and the environment fingerprint), and whose log is JSONL."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

from audit.frameworks.interface import (CheckpointFacts, DataCursor, EngineError, EngineRun, Framework, Hyperparameters,
                                       ReadJson, RecordedTraining)  # fmt: skip
from audit.readers.training_log import read_training_log

if TYPE_CHECKING:
    from audit.core.release import Release
    from audit.spec.manifest import Checkpoint

#: Files the built-in engine resumes from (the reference trainer's checkpoint format).
FILES = ("config.json", "model.safetensors", "optimizer.safetensors", "training_state.json")
STATE_FILE = "training_state.json"


class ReferenceTrainer(Framework):
    name = "the reference trainer"
    log_formats: ClassVar = {"jsonl": read_training_log}
    schedules = ("warmup-cosine", "warmup-linear", "constant")
    replays = True

    def owns(self, file_names: set[str]) -> bool:
        return set(FILES) <= file_names

    def checkpoint_facts(self, directory: Path, read_json: ReadJson) -> CheckpointFacts | None:
        state = read_json(directory / STATE_FILE) or {}
        if type(state.get("step")) is not int:
            return None
        tokens = state.get("tokens_seen")
        cur = state.get("data_cursor")
        ints = isinstance(cur, dict) and all(type(cur.get(k)) is int for k in ("sequence", "sequences_consumed"))
        cursor = DataCursor(cur["chunk"], cur["sequence"], cur["sequences_consumed"]) \
            if ints and isinstance(cur.get("chunk"), str) else None
        return CheckpointFacts(step=state["step"], source=state.get("source", STATE_FILE),
                               tokens_seen=tokens if type(tokens) is int else None, cursor=cursor,
                               holds=frozenset(c for c in ("scheduler", "rng", "data_cursor") if state.get(c)))  # fmt: skip

    def recorded_training(self, directory: Path, root: Path, read_json: ReadJson) -> list[RecordedTraining]:
        """training_state.json records the hyperparameters three times: the train config the run was
        started with, the scheduler's and the optimizer's own settings."""
        state = read_json(directory / STATE_FILE)
        if state is None:
            return []
        rel = (directory / STATE_FILE).relative_to(root).as_posix()
        out = []
        train, sched, opt = (state.get(k) if isinstance(state.get(k), dict) else {} for k in
                             ("train_config", "scheduler", "optimizer"))  # fmt: skip
        if train:
            out.append(RecordedTraining(rel, "train_config", hyperparameters_from_trainer(train)))
        if sched:
            out.append(RecordedTraining(rel, "scheduler", {"lr_schedule": {
                "name": sched.get("schedule"), "peak_lr": sched.get("peak_lr"), "final_lr": sched.get("final_lr"),
                "warmup_steps": sched.get("warmup_steps"), "total_steps": sched.get("total_steps")}}))  # fmt: skip
        if opt:
            betas = opt.get("betas")
            out.append(RecordedTraining(rel, "optimizer", {"optimizer": {
                "name": opt.get("name"), "betas": list(betas) if isinstance(betas, list) else None,
                "eps": opt.get("eps"), "weight_decay": opt.get("weight_decay"),
                "implementation": opt.get("implementation")}}))  # fmt: skip
        return out

    def hyperparameters(self, directory: Path, root: Path, read_json: ReadJson) -> Hyperparameters | None:
        train = (read_json(directory / STATE_FILE) or {}).get("train_config")
        if not isinstance(train, dict):
            return None
        return Hyperparameters(hyperparameters_from_trainer(train), "hyperparameters from the final checkpoint's training state")

    def replay_blocker(self, release: Release, start: Checkpoint) -> str | None:
        hp = release.manifest.config.training
        opt = hp.optimizer
        if opt.name.lower() != "adamw" or opt.implementation not in (None, "for-loop"):
            return (f"the built-in engine replays for-loop AdamW, not {opt.name} ({opt.implementation}); "
                    "declare code.replay_command to replay with the release's own code")  # fmt: skip
        if hp.precision not in ("fp32", "bf16-mixed"):
            return f"the built-in engine replays fp32 and bf16-mixed, not {hp.precision}"
        return None

    def replay(self, release: Release, start: Checkpoint, batches: list, device: str, work: Path) -> EngineRun:
        import torch

        from audit.trainer import CheckpointError, TrainConfig, Trainer

        hp = release.manifest.config.training
        s = hp.lr_schedule
        cfg = TrainConfig(
            peak_lr=s.peak_lr, final_lr=s.final_lr, warmup_steps=s.warmup_steps, total_steps=s.total_steps,
            schedule=s.name, batch_size=hp.batch_size, sequence_length=hp.sequence_length,
            seed=hp.seed if hp.seed is not None else 0, betas=tuple(hp.optimizer.betas or (0.9, 0.999)),
            eps=hp.optimizer.eps if hp.optimizer.eps is not None else 1e-8,
            weight_decay=hp.optimizer.weight_decay if hp.optimizer.weight_decay is not None else 0.01,
            grad_clip=hp.grad_clip if hp.grad_clip is not None else float("inf"), precision=hp.precision,
            num_threads=_num_threads(release, start),
        )  # fmt: skip
        try:
            trainer = Trainer.from_checkpoint(release.path(start.path), device, train_cfg=cfg)
        except (CheckpointError, ValueError) as exc:
            raise EngineError(f"cannot resume {start.path}: {exc}") from None
        if trainer.step_count != start.step:
            raise EngineError(f"{start.path} holds step {trainer.step_count}, the manifest says {start.step}")
        if trainer.unrestored_rng:
            raise EngineError(f"RNG state of {', '.join(trainer.unrestored_rng)} cannot be restored on {device}")
        logs = []
        for batch in batches:
            log = trainer.step(torch.tensor(batch, dtype=torch.long))
            logs.append({"step": log.step, "loss": log.loss, "learning_rate": log.learning_rate, "grad_norm": log.grad_norm})
        out = work / "out"
        trainer.save_checkpoint(out, data_cursor=trainer.data_cursor)
        environment = json.loads((out / STATE_FILE).read_bytes()).get("environment")
        return EngineRun(out=out, logs=logs, environment=environment)


def hyperparameters_from_trainer(train: dict) -> dict:
    """Map the reference trainer's train_config to config.training of the manifest (None: not recorded)."""
    betas = train.get("betas")
    return {
        "optimizer": {"name": "adamw", "betas": list(betas) if isinstance(betas, list) else None,
                      "eps": train.get("eps"), "weight_decay": train.get("weight_decay"), "implementation": "for-loop"},
        "lr_schedule": {"name": train.get("schedule"), "peak_lr": train.get("peak_lr"),
                        "final_lr": train.get("final_lr"), "warmup_steps": train.get("warmup_steps"),
                        "total_steps": train.get("total_steps")},
        **{k: train.get(k) for k in ("batch_size", "sequence_length", "precision", "grad_clip", "seed")},
    }  # fmt: skip


def _num_threads(release: Release, start: Checkpoint) -> int:
    """The thread count the release recorded (float results can depend on it, pytorch#88718)."""
    try:
        n = release.training_state(start)["environment"]["num_threads"]
    except (ValueError, KeyError, TypeError):
        return 1
    return n if type(n) is int and n > 0 else 1
