"""Model and training configuration of the reference trainer, as frozen dataclasses.

``ModelConfig`` round-trips through a Hugging Face ``LlamaForCausalLM`` ``config.json`` dict;
``TrainConfig`` round-trips through a plain JSON-friendly dict. Both validate on construction, so
an inconsistent configuration fails early with a ``ValueError`` that says what is wrong.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

from audit.spec.schedule import SCHEDULES

PRECISIONS = ("fp32", "bf16-mixed")


def _check_field_types(obj: Any) -> None:
    """Type-check a config dataclass (values may come from untrusted JSON); coerce ints to floats.

    Field types are compared as strings: this module's ``from __future__ import annotations`` makes
    ``dataclasses.Field.type`` the annotation's source text.
    """
    owner = type(obj).__name__
    for f in dataclasses.fields(obj):
        value = getattr(obj, f.name)
        is_number = isinstance(value, (int, float)) and not isinstance(value, bool)
        if f.type == "float" and is_number:
            object.__setattr__(obj, f.name, float(value))
        elif f.type == "tuple[float, float]" and isinstance(value, (list, tuple)) and len(value) == 2:
            if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value):
                raise ValueError(f"{owner}.{f.name} must be two numbers, got {value!r}")
            object.__setattr__(obj, f.name, (float(value[0]), float(value[1])))
        elif not (
            (f.type == "int" and isinstance(value, int) and not isinstance(value, bool))
            or (f.type == "bool" and isinstance(value, bool))
            or (f.type == "str" and isinstance(value, str))
        ):
            raise ValueError(f"{owner}.{f.name} must be of type {f.type}, got {value!r}")


def _require_positive(owner: str, **values: float) -> None:
    for name, value in values.items():
        if not (math.isfinite(value) and value > 0):
            raise ValueError(f"{owner}.{name} must be finite and > 0, got {value}")


def _require_non_negative(owner: str, **values: float) -> None:
    for name, value in values.items():
        if not (math.isfinite(value) and value >= 0):
            raise ValueError(f"{owner}.{name} must be finite and >= 0, got {value}")


def _missing_keys(d: dict[str, Any], keys: tuple[str, ...]) -> list[str]:
    return [k for k in keys if k not in d]


@dataclass(frozen=True)
class ModelConfig:
    """Architecture of a LLaMA causal LM (the subset of ``LlamaConfig`` the reference model implements)."""

    vocab_size: int
    hidden_size: int
    intermediate_size: int
    num_hidden_layers: int
    num_attention_heads: int
    num_key_value_heads: int
    max_position_embeddings: int
    rms_norm_eps: float = 1e-6
    rope_theta: float = 10000.0
    tie_word_embeddings: bool = False
    initializer_range: float = 0.02

    def __post_init__(self) -> None:
        _check_field_types(self)
        _require_positive(
            "ModelConfig",
            vocab_size=self.vocab_size,
            hidden_size=self.hidden_size,
            intermediate_size=self.intermediate_size,
            num_hidden_layers=self.num_hidden_layers,
            num_attention_heads=self.num_attention_heads,
            num_key_value_heads=self.num_key_value_heads,
            max_position_embeddings=self.max_position_embeddings,
            rms_norm_eps=self.rms_norm_eps,
            rope_theta=self.rope_theta,
            initializer_range=self.initializer_range,
        )
        if self.hidden_size % self.num_attention_heads:
            raise ValueError(
                f"hidden_size {self.hidden_size} is not a multiple of num_attention_heads {self.num_attention_heads}"
            )
        if self.num_attention_heads % self.num_key_value_heads:
            raise ValueError(
                f"num_attention_heads {self.num_attention_heads} is not a multiple of "
                f"num_key_value_heads {self.num_key_value_heads}"
            )
        if self.head_dim % 2:
            raise ValueError(f"head_dim {self.head_dim} must be even for rotary embeddings")

    @property
    def head_dim(self) -> int:
        return self.hidden_size // self.num_attention_heads

    def to_hf_config(self) -> dict[str, Any]:
        """The ``config.json`` dict of the equivalent ``transformers.LlamaForCausalLM``."""
        return {
            "architectures": ["LlamaForCausalLM"],
            "model_type": "llama",
            "vocab_size": self.vocab_size,
            "hidden_size": self.hidden_size,
            "intermediate_size": self.intermediate_size,
            "num_hidden_layers": self.num_hidden_layers,
            "num_attention_heads": self.num_attention_heads,
            "num_key_value_heads": self.num_key_value_heads,
            "head_dim": self.head_dim,
            "max_position_embeddings": self.max_position_embeddings,
            "rms_norm_eps": self.rms_norm_eps,
            "rope_theta": self.rope_theta,
            "rope_scaling": None,
            "tie_word_embeddings": self.tie_word_embeddings,
            "initializer_range": self.initializer_range,
            "hidden_act": "silu",
            "attention_bias": False,
            "attention_dropout": 0.0,
            "mlp_bias": False,
            "pretraining_tp": 1,
            "torch_dtype": "float32",
            "use_cache": True,
            "bos_token_id": None,
            "eos_token_id": None,
            "pad_token_id": None,
        }

    @classmethod
    def from_hf_config(cls, d: dict[str, Any]) -> ModelConfig:
        """Read a LLaMA ``config.json`` dict; raise ``ValueError`` for anything this model cannot represent.

        Accepts both the transformers 4.x layout (top-level ``rope_theta``) and the 5.x layout
        (``rope_parameters: {"rope_type": "default", "rope_theta": ...}``).
        """
        if not isinstance(d, dict):
            raise ValueError(f"a model config must be a JSON object, got {type(d).__name__}")
        required = (
            "vocab_size",
            "hidden_size",
            "intermediate_size",
            "num_hidden_layers",
            "num_attention_heads",
            "max_position_embeddings",
        )
        if missing := _missing_keys(d, required):
            raise ValueError(f"model config is missing {', '.join(missing)}")
        if d.get("model_type", "llama") != "llama":
            raise ValueError(f"model_type must be 'llama', got {d['model_type']!r}")
        # Features of LlamaConfig the reference model does not implement: refuse rather than mis-model.
        unsupported = {
            "hidden_act": ("silu", d.get("hidden_act", "silu")),
            "attention_bias": (False, d.get("attention_bias", False)),
            "mlp_bias": (False, d.get("mlp_bias", False)),
            "pretraining_tp": (1, d.get("pretraining_tp", 1)),
            "rope_scaling": (None, d.get("rope_scaling")),
        }
        for key, (supported, actual) in unsupported.items():
            if actual != supported:
                raise ValueError(f"unsupported {key}={actual!r} (the reference model needs {supported!r})")
        rope_theta = d.get("rope_theta", 10000.0)
        if (rope := d.get("rope_parameters")) is not None:
            if not isinstance(rope, dict) or rope.get("rope_type", "default") != "default":
                raise ValueError(f"unsupported rope_parameters={rope!r} (only the default rope type)")
            rope_theta = rope.get("rope_theta", rope_theta)
        num_key_value_heads = d.get("num_key_value_heads")
        config = cls(
            vocab_size=d["vocab_size"],
            hidden_size=d["hidden_size"],
            intermediate_size=d["intermediate_size"],
            num_hidden_layers=d["num_hidden_layers"],
            num_attention_heads=d["num_attention_heads"],
            num_key_value_heads=d["num_attention_heads"] if num_key_value_heads is None else num_key_value_heads,
            max_position_embeddings=d["max_position_embeddings"],
            rms_norm_eps=d.get("rms_norm_eps", 1e-6),
            rope_theta=rope_theta,
            tie_word_embeddings=d.get("tie_word_embeddings", False),
            initializer_range=d.get("initializer_range", 0.02),
        )
        head_dim = d.get("head_dim")
        if head_dim is not None and head_dim != config.head_dim:
            raise ValueError(f"unsupported head_dim={head_dim} (the reference model needs hidden_size/heads)")
        return config


@dataclass(frozen=True, kw_only=True)
class TrainConfig:
    """Optimisation hyperparameters of one training run (AdamW + an ``audit.spec.schedule`` LR schedule).

    Keyword-only: many fields are same-typed numbers, and a positional mix-up would go unnoticed.
    """

    peak_lr: float
    final_lr: float
    warmup_steps: int
    total_steps: int
    batch_size: int
    sequence_length: int
    seed: int
    schedule: str = "warmup-cosine"
    betas: tuple[float, float] = (0.9, 0.95)
    eps: float = 1e-8
    weight_decay: float = 0.1
    grad_clip: float = 1.0
    precision: str = "fp32"
    num_threads: int = 1

    def __post_init__(self) -> None:
        _check_field_types(self)
        _require_positive(
            "TrainConfig",
            total_steps=self.total_steps,
            batch_size=self.batch_size,
            sequence_length=self.sequence_length,
            num_threads=self.num_threads,
            peak_lr=self.peak_lr,
            eps=self.eps,
            grad_clip=self.grad_clip,
        )
        _require_non_negative(
            "TrainConfig",
            final_lr=self.final_lr,
            warmup_steps=self.warmup_steps,
            weight_decay=self.weight_decay,
            beta1=self.betas[0],
            beta2=self.betas[1],
        )
        if not 0 <= self.seed < 2**32:  # numpy's legacy global generator takes 32-bit seeds
            raise ValueError(f"TrainConfig.seed must be in [0, 2**32), got {self.seed}")
        if self.schedule not in SCHEDULES:
            raise ValueError(f"unknown schedule {self.schedule!r}; known: {', '.join(SCHEDULES)}")
        if self.precision not in PRECISIONS:
            raise ValueError(f"unknown precision {self.precision!r}; known: {', '.join(PRECISIONS)}")

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly dict (``betas`` as a list)."""
        d = dataclasses.asdict(self)
        d["betas"] = list(self.betas)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TrainConfig:
        """Inverse of ``to_dict``; raise ``ValueError`` naming missing or unknown keys."""
        if not isinstance(d, dict):
            raise ValueError(f"a train config must be a JSON object, got {type(d).__name__}")
        fields = {f.name: f for f in dataclasses.fields(cls)}
        required = tuple(
            name
            for name, f in fields.items()
            if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
        )
        if missing := _missing_keys(d, required):
            raise ValueError(f"train config is missing {', '.join(missing)}")
        if unknown := sorted(set(d) - set(fields)):
            raise ValueError(f"train config has unknown keys {', '.join(unknown)}")
        return cls(**d)
