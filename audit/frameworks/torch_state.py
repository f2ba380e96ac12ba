"""What a loaded torch checkpoint holds, whichever framework saved it: its weights and its optimizer state.

* a plain state dict of tensors (``torch.save(model.state_dict())``);
* LitGPT's ``lit_model.pth``: ``{"model": state dict, "optimizer": state_dict, ...}``;
* Megatron-LM's ``model_optim_rng.pt``: ``{"model": state dict — nested dicts in the legacy model,
  ``_extra_state`` entries that are not tensors —, "optimizer": the torch optimizer's state_dict (FP32Optimizer)
  or that under ``["optimizer"]`` (the fp16/bf16 optimizer), "args", "iteration", ...}``.
"""

from __future__ import annotations

from typing import Any

#: Keys every Megatron model_optim_rng.pt holds beside "model".
_MEGATRON_KEYS = ("iteration", "checkpoint_version")


def is_megatron(obj: Any) -> bool:
    return isinstance(obj, dict) and isinstance(obj.get("model"), dict) and any(k in obj for k in _MEGATRON_KEYS)


def model_state(obj: Any) -> dict[str, Any] | None:
    """The weights of a loaded torch checkpoint (names → tensors), or None when it holds no state dict."""
    import torch

    if is_megatron(obj):
        flat = _flatten(obj["model"], "")
        return flat if flat and all(isinstance(v, torch.Tensor) for v in flat.values()) else None
    inner = obj.get("model") if isinstance(obj, dict) and isinstance(obj.get("model"), dict) else obj
    if isinstance(inner, dict) and inner and all(isinstance(v, torch.Tensor) for v in inner.values()):
        return {str(k): v for k, v in inner.items()}
    return None


def _flatten(state: dict, prefix: str) -> dict[str, Any]:
    """Megatron's nested state dict as dotted names, without ``_extra_state`` entries (Transformer Engine's
    and megatron-core's per-module extra state: None or bytes, never a weight)."""
    out: dict[str, Any] = {}
    for k, v in state.items():
        name = f"{prefix}{k}"
        if str(k) == "_extra_state" or str(k).endswith("._extra_state"):
            continue
        if isinstance(v, dict):
            out |= _flatten(v, f"{name}.")
        else:
            out[name] = v
    return out


def optimizer_state(obj: Any) -> Any:
    """The torch optimizer state_dict of a loaded checkpoint: LitGPT's and Megatron's ``["optimizer"]``
    (Megatron's fp16/bf16 optimizer one level further down), else the object itself."""
    if isinstance(obj, dict) and "state" not in obj and isinstance(obj.get("optimizer"), dict):
        inner = obj["optimizer"]
        if is_megatron(obj) and "state" not in inner and isinstance(inner.get("optimizer"), dict):
            return inner["optimizer"]
        return inner
    return obj
