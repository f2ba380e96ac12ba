"""Reference trainer: a small LLaMA causal LM whose checkpoints resume bit-exactly (safetensors + JSON, no pickle)."""

from audit.trainer.checkpoint import CHECKPOINT_FILES, Checkpoint, CheckpointError, read_checkpoint
from audit.trainer.config import ModelConfig, TrainConfig
from audit.trainer.determinism import deterministic
from audit.trainer.model import CausalLM
from audit.trainer.trainer import StepLog, Trainer

__all__ = [
    "CHECKPOINT_FILES",
    "CausalLM",
    "Checkpoint",
    "CheckpointError",
    "ModelConfig",
    "StepLog",
    "TrainConfig",
    "Trainer",
    "deterministic",
    "read_checkpoint",
]
