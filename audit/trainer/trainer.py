"""The reference trainer: AdamW on a LLaMA causal LM, with checkpoints that resume bit-exactly.

Determinism is the trainer's own business: construction, every ``step`` and ``save_checkpoint``
run inside ``deterministic(train_cfg.num_threads)``, which restores the caller's torch settings
afterwards, so callers need not (and should not have to) wrap anything.
"""

from __future__ import annotations

import os
import random
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from audit.trainer.environment import fingerprint
from audit.spec.schedule import lr_at
from audit.trainer.checkpoint import (
    MODEL_FILE,
    MOMENT_PREFIXES,
    OPTIMIZER_FILE,
    STATE_FILE,
    STATE_FORMAT,
    STATE_VERSION,
    CheckpointError,
    check_tensors,
    read_checkpoint,
    write_checkpoint,
)
from audit.trainer.config import ModelConfig, TrainConfig
from audit.trainer.determinism import deterministic
from audit.trainer.model import CausalLM
from audit.trainer.rng import capture_rng_state, restore_rng_state


@dataclass(frozen=True)
class StepLog:
    """What one optimizer update logs. ``step`` is 1-based: the n-th update has ``step == n``."""

    step: int
    loss: float
    learning_rate: float
    grad_norm: float  # total L2 norm of the gradients before clipping


class Trainer:
    """Trains a ``CausalLM`` with for-loop AdamW and an ``audit.spec.schedule`` learning-rate schedule.

    Attributes callers use: ``model``, ``optimizer``, ``model_cfg``, ``train_cfg``, ``device``,
    ``step_count`` (updates done so far), ``data_cursor`` (as restored from a checkpoint; ``{}`` for a
    fresh run) and ``unrestored_rng`` (generators a checkpoint held that this process could not restore).
    """

    def __init__(self, model_cfg: ModelConfig, train_cfg: TrainConfig, device: str | torch.device = "cpu") -> None:
        if train_cfg.sequence_length > model_cfg.max_position_embeddings:
            raise ValueError(
                f"sequence_length {train_cfg.sequence_length} exceeds "
                f"max_position_embeddings {model_cfg.max_position_embeddings}"
            )
        self.model_cfg = model_cfg
        self.train_cfg = train_cfg
        self.device = torch.device(device)
        self.step_count = 0
        self.data_cursor: dict[str, Any] = {}
        self.unrestored_rng: list[str] = []
        with self._deterministic():
            random.seed(train_cfg.seed)
            np.random.seed(train_cfg.seed)
            torch.manual_seed(train_cfg.seed)  # also seeds every CUDA device
            # Initialise on the CPU generator so a seed gives the same initial weights on every device.
            model = CausalLM(model_cfg)
            model.init_weights()
            self.model = model.to(self.device)
            self.optimizer = torch.optim.AdamW(
                self.model.parameters(),
                lr=self._lr_at(1),
                betas=train_cfg.betas,
                eps=train_cfg.eps,
                weight_decay=train_cfg.weight_decay,
                foreach=False,
                fused=False,
            )

    def _deterministic(self) -> AbstractContextManager[None]:
        return deterministic(self.train_cfg.num_threads)

    def _lr_at(self, step: int) -> float:
        cfg = self.train_cfg
        return lr_at(
            step,
            schedule=cfg.schedule,
            peak_lr=cfg.peak_lr,
            final_lr=cfg.final_lr,
            warmup_steps=cfg.warmup_steps,
            total_steps=cfg.total_steps,
        )

    def step(self, batch: torch.Tensor) -> StepLog:
        """One optimizer update on ``batch`` [batch_size, sequence_length + 1] of token ids.

        The model reads ``batch[:, :-1]`` and is scored on predicting ``batch[:, 1:]``.
        """
        expected_shape = (self.train_cfg.batch_size, self.train_cfg.sequence_length + 1)
        if batch.dtype != torch.long or tuple(batch.shape) != expected_shape:
            raise ValueError(f"batch must be int64 of shape {expected_shape}, got {batch.dtype} {tuple(batch.shape)}")
        if batch.min() < 0 or batch.max() >= self.model_cfg.vocab_size:
            raise ValueError(f"batch holds token ids outside [0, {self.model_cfg.vocab_size})")
        step = self.step_count + 1
        lr = self._lr_at(step)
        with self._deterministic():
            batch = batch.to(self.device)
            for group in self.optimizer.param_groups:
                group["lr"] = lr
            bf16 = self.train_cfg.precision == "bf16-mixed"
            with torch.autocast(device_type=self.device.type, dtype=torch.bfloat16, enabled=bf16):
                logits = self.model(batch[:, :-1])
            loss = F.cross_entropy(logits.float().flatten(0, 1), batch[:, 1:].flatten())
            loss.backward()
            grad_norm = torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.train_cfg.grad_clip, foreach=False)
            self.optimizer.step()
            self.optimizer.zero_grad(set_to_none=True)
        self.step_count = step
        return StepLog(step=step, loss=loss.item(), learning_rate=lr, grad_norm=grad_norm.item())

    def _moments_and_adam_step(self) -> tuple[dict[str, torch.Tensor], int]:
        """AdamW's per-parameter moments under checkpoint names, and its (shared) step count."""
        moments: dict[str, torch.Tensor] = {}
        adam_steps: set[int] = set()
        for name, param in self.model.named_parameters():
            # Before the first update AdamW holds no state; it would start from zero moments at step 0.
            state = self.optimizer.state.get(param)
            adam_steps.add(int(state["step"].item()) if state else 0)
            for prefix in MOMENT_PREFIXES:
                moment = state[prefix] if state else torch.zeros_like(param)
                moments[f"{prefix}.{name}"] = moment.detach().cpu().contiguous()
        if len(adam_steps) != 1:
            raise RuntimeError(f"AdamW step counts differ between parameters: {sorted(adam_steps)}")
        return moments, adam_steps.pop()

    def save_checkpoint(self, ckpt_dir: str | os.PathLike[str], *, data_cursor: dict[str, Any]) -> Path:
        """Write the complete training state to ``ckpt_dir``; ``data_cursor`` says where the data stream resumes."""
        if not isinstance(data_cursor, dict):
            raise TypeError(f"data_cursor must be a dict, got {type(data_cursor).__name__}")
        cfg = self.train_cfg
        weights = {name: p.detach().cpu().contiguous() for name, p in self.model.named_parameters()}
        moments, adam_step = self._moments_and_adam_step()
        with self._deterministic():  # the fingerprint records the settings steps ran under
            environment = fingerprint(str(self.device), cfg.precision)
        state = {
            "format": STATE_FORMAT,
            "version": STATE_VERSION,
            "step": self.step_count,
            "tokens_seen": self.step_count * cfg.batch_size * cfg.sequence_length,
            "optimizer": {
                "name": "adamw",
                "implementation": "for-loop",
                "step": adam_step,
                "betas": list(cfg.betas),
                "eps": cfg.eps,
                "weight_decay": cfg.weight_decay,
            },
            "scheduler": {
                "schedule": cfg.schedule,
                "peak_lr": cfg.peak_lr,
                "final_lr": cfg.final_lr,
                "warmup_steps": cfg.warmup_steps,
                "total_steps": cfg.total_steps,
                "last_step": self.step_count,
            },
            "rng": capture_rng_state(),
            "data_cursor": data_cursor,
            "train_config": cfg.to_dict(),
            "environment": environment,
        }
        return write_checkpoint(ckpt_dir, model_config=self.model_cfg, weights=weights, moments=moments, state=state)

    @classmethod
    def from_checkpoint(
        cls,
        ckpt_dir: str | os.PathLike[str],
        device: str | torch.device = "cpu",
        *,
        train_cfg: TrainConfig | None = None,
    ) -> Trainer:
        """Rebuild a trainer from ``save_checkpoint`` output: weights, AdamW state, schedule position, RNGs, cursor.

        ``train_cfg`` replaces the hyperparameters stored in the checkpoint (a replay trains with the
        ones a release *declares*, to test that claim). Raises ``CheckpointError`` (naming the file)
        when the checkpoint is incomplete or malformed.
        """
        ckpt = read_checkpoint(ckpt_dir)
        trainer = cls(ckpt.model_config, train_cfg or ckpt.train_config, device)
        params = dict(trainer.model.named_parameters())
        check_tensors(ckpt.weights, {name: p.shape for name, p in params.items()}, ckpt.path / MODEL_FILE)
        check_tensors(
            ckpt.moments,
            {f"{prefix}.{name}": p.shape for prefix in MOMENT_PREFIXES for name, p in params.items()},
            ckpt.path / OPTIMIZER_FILE,
        )
        with torch.no_grad():
            for name, param in params.items():
                param.copy_(ckpt.weights[name])
        # Through the public load_state_dict, which keeps torch's layout: moments on the parameter's
        # device and dtype, "step" a float32 scalar tensor on the CPU (for-loop, non-capturable AdamW).
        adam_step = torch.tensor(float(ckpt.state["optimizer"]["step"]), dtype=torch.float32)
        optimizer_state = trainer.optimizer.state_dict()
        optimizer_state["state"] = {
            index: {
                "step": adam_step.clone(),
                "exp_avg": ckpt.moments[f"exp_avg.{name}"],
                "exp_avg_sq": ckpt.moments[f"exp_avg_sq.{name}"],
            }
            for index, name in enumerate(params)
        }
        trainer.optimizer.load_state_dict(optimizer_state)
        trainer.step_count = ckpt.state["step"]
        trainer.data_cursor = ckpt.state["data_cursor"]
        try:  # last: building the trainer above consumed random numbers
            trainer.unrestored_rng = restore_rng_state(ckpt.state["rng"])
        except ValueError as exc:
            raise CheckpointError(f"{ckpt.path / STATE_FILE}: {exc}") from None
        return trainer
