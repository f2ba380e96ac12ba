"""On-disk format of a reference-trainer checkpoint: four files, safetensors + JSON, no pickle.

    config.json             HF LlamaForCausalLM config (``ModelConfig.to_hf_config()``)
    model.safetensors       weights under HF names, metadata {"format": "pt"}
    optimizer.safetensors   ``exp_avg.<param>`` and ``exp_avg_sq.<param>`` (fp32) for every parameter
    training_state.json     step, tokens, AdamW step + hyperparameters, scheduler position, every RNG,
                            data cursor, train config, environment fingerprint

Files are written byte-deterministically (sorted JSON keys, no timestamps) and atomically (temp
file + rename). Reading validates everything and raises ``CheckpointError`` naming the file and
what is wrong; it never unpickles anything.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import safetensors.torch
import torch
from safetensors import SafetensorError

from audit.storage.files import write_atomic
from audit.trainer.config import ModelConfig, TrainConfig

CONFIG_FILE = "config.json"
MODEL_FILE = "model.safetensors"
OPTIMIZER_FILE = "optimizer.safetensors"
STATE_FILE = "training_state.json"
CHECKPOINT_FILES = (CONFIG_FILE, MODEL_FILE, OPTIMIZER_FILE, STATE_FILE)

STATE_FORMAT = "llm360-audit/training-state"
STATE_VERSION = 1
MOMENT_PREFIXES = ("exp_avg", "exp_avg_sq")

# Required keys and JSON types of training_state.json; "number" accepts ints and floats.
_STATE_FIELDS: dict[str, dict[str, str]] = {
    "": {
        "format": "str",
        "version": "int",
        "step": "int",
        "tokens_seen": "int",
        "optimizer": "object",
        "scheduler": "object",
        "rng": "object",
        "data_cursor": "object",
        "train_config": "object",
        "environment": "object",
    },
    "optimizer": {
        "name": "str",
        "implementation": "str",
        "step": "int",
        "betas": "list",
        "eps": "number",
        "weight_decay": "number",
    },
    "scheduler": {
        "schedule": "str",
        "peak_lr": "number",
        "final_lr": "number",
        "warmup_steps": "int",
        "total_steps": "int",
        "last_step": "int",
    },
}


class CheckpointError(ValueError):
    """A checkpoint is missing, malformed or inconsistent; the message names the file and the problem."""


@dataclass(frozen=True)
class Checkpoint:
    """The validated content of a checkpoint directory (tensors on CPU, not yet checked against a model)."""

    path: Path
    model_config: ModelConfig
    train_config: TrainConfig
    state: dict[str, Any]
    weights: dict[str, torch.Tensor]
    moments: dict[str, torch.Tensor]


def _json_bytes(obj: Any) -> bytes:
    return (json.dumps(obj, sort_keys=True, indent=2, allow_nan=False) + "\n").encode("utf-8")


def write_checkpoint(
    ckpt_dir: str | os.PathLike[str],
    *,
    model_config: ModelConfig,
    weights: dict[str, torch.Tensor],
    moments: dict[str, torch.Tensor],
    state: dict[str, Any],
) -> Path:
    """Write the four checkpoint files into ``ckpt_dir`` (created if needed); return its path."""
    path = Path(ckpt_dir)
    path.mkdir(parents=True, exist_ok=True)
    metadata = {"format": "pt"}
    write_atomic(path / CONFIG_FILE, _json_bytes(model_config.to_hf_config()))
    write_atomic(path / MODEL_FILE, safetensors.torch.save(weights, metadata=metadata))
    write_atomic(path / OPTIMIZER_FILE, safetensors.torch.save(moments, metadata=metadata))
    write_atomic(path / STATE_FILE, _json_bytes(state))
    return path


def _read_json(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise CheckpointError(f"{path}: file is missing")
    try:
        obj = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CheckpointError(f"{path}: not readable JSON: {exc}") from None
    if not isinstance(obj, dict):
        raise CheckpointError(f"{path}: expected a JSON object, got {type(obj).__name__}")
    return obj


def _read_safetensors(path: Path) -> dict[str, torch.Tensor]:
    if not path.is_file():
        raise CheckpointError(f"{path}: file is missing")
    try:
        # Deserialise from bytes, not mmap: the tensors are private copies the optimizer may update in place.
        return safetensors.torch.load(path.read_bytes())
    except (OSError, SafetensorError) as exc:
        raise CheckpointError(f"{path}: not a readable safetensors file: {exc}") from None


def _has_type(value: Any, kind: str) -> bool:
    if isinstance(value, bool):
        return False  # JSON true/false is never an int or number here
    return {
        "str": isinstance(value, str),
        "int": isinstance(value, int),
        "number": isinstance(value, (int, float)),
        "list": isinstance(value, list),
        "object": isinstance(value, dict),
    }[kind]


def _validate_state(state: dict[str, Any], path: Path) -> TrainConfig:
    """Check the structure and internal consistency of training_state.json; return its train config."""
    for section, fields in _STATE_FIELDS.items():
        obj = state if not section else state[section]
        where = f"{section}." if section else ""
        if missing := [key for key in fields if key not in obj]:
            raise CheckpointError(f"{path}: missing {', '.join(where + key for key in missing)}")
        for key, kind in fields.items():
            if not _has_type(obj[key], kind):
                raise CheckpointError(f"{path}: {where}{key} must be of JSON type {kind}, got {obj[key]!r}")
    if state["format"] != STATE_FORMAT or state["version"] != STATE_VERSION:
        raise CheckpointError(
            f"{path}: format {state['format']!r} version {state['version']!r} is not "
            f"{STATE_FORMAT!r} version {STATE_VERSION}"
        )
    try:
        train_config = TrainConfig.from_dict(state["train_config"])
    except ValueError as exc:
        raise CheckpointError(f"{path}: train_config: {exc}") from None

    optimizer, scheduler = state["optimizer"], state["scheduler"]
    step = state["step"]
    expected = {
        "optimizer.name": (optimizer["name"], "adamw"),
        "optimizer.implementation": (optimizer["implementation"], "for-loop"),
        "optimizer.betas": (optimizer["betas"], list(train_config.betas)),
        "optimizer.eps": (optimizer["eps"], train_config.eps),
        "optimizer.weight_decay": (optimizer["weight_decay"], train_config.weight_decay),
        "scheduler.last_step": (scheduler["last_step"], step),
        "tokens_seen": (state["tokens_seen"], step * train_config.batch_size * train_config.sequence_length),
        **{
            f"scheduler.{key}": (scheduler[key], getattr(train_config, key))
            for key in ("schedule", "peak_lr", "final_lr", "warmup_steps", "total_steps")
        },
    }
    for key, (actual, wanted) in expected.items():
        if actual != wanted:
            raise CheckpointError(f"{path}: {key} is {actual!r}, expected {wanted!r}")
    if step < 0 or not 0 <= optimizer["step"] <= step:
        raise CheckpointError(f"{path}: step {step} and optimizer.step {optimizer['step']} are inconsistent")
    return train_config


def read_checkpoint(ckpt_dir: str | os.PathLike[str]) -> Checkpoint:
    """Read and validate a checkpoint directory; raise ``CheckpointError`` for anything missing or malformed."""
    path = Path(ckpt_dir)
    if not path.is_dir():
        raise CheckpointError(f"{path}: checkpoint directory is missing")
    config_path = path / CONFIG_FILE
    hf_config = _read_json(config_path)
    try:
        model_config = ModelConfig.from_hf_config(hf_config)
    except ValueError as exc:
        raise CheckpointError(f"{config_path}: {exc}") from None
    state = _read_json(path / STATE_FILE)
    train_config = _validate_state(state, path / STATE_FILE)
    return Checkpoint(
        path=path,
        model_config=model_config,
        train_config=train_config,
        state=state,
        weights=_read_safetensors(path / MODEL_FILE),
        moments=_read_safetensors(path / OPTIMIZER_FILE),
    )


def check_tensors(tensors: dict[str, torch.Tensor], expected: dict[str, torch.Size], path: Path) -> None:
    """Require exactly the ``expected`` names, each fp32 with the expected shape."""
    if missing := sorted(set(expected) - set(tensors)):
        raise CheckpointError(f"{path}: missing tensors {', '.join(missing)}")
    if unexpected := sorted(set(tensors) - set(expected)):
        raise CheckpointError(f"{path}: unexpected tensors {', '.join(unexpected)}")
    for name, shape in expected.items():
        tensor = tensors[name]
        if tensor.dtype != torch.float32 or tensor.shape != shape:
            raise CheckpointError(
                f"{path}: {name} is {tensor.dtype} {tuple(tensor.shape)}, expected torch.float32 {tuple(shape)}"
            )
