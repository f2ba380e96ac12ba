"""A released checkpoint's weights in a model, and what the statistical tests ask of it: per-sequence loss
(mean next-token cross-entropy) and greedy continuations. Batched, ``torch.no_grad``, deterministic
(audit.trainer.deterministic), on the CPU unless told otherwise.

LLaMA-family configs (``model_type`` llama) go through the reference model; any other architecture
(GPT-NeoX/Pythia, …) through ``transformers`` when it is installed (an optional extra): its own class
for the config's ``model_type``, built from the config alone — never code from the release."""

from __future__ import annotations

import json

import safetensors.torch
import torch
import torch.nn.functional as F
from safetensors import SafetensorError

from audit.core.release import Release
from audit.forensics import weight_files
from audit.spec.manifest import Checkpoint
from audit.trainer import CausalLM, ModelConfig, deterministic

BATCH = 32


class ForensicsError(ValueError):
    """A checkpoint or sequence the tests cannot use; the message names the file."""


def _config(release: Release, ck: Checkpoint) -> dict:
    own = next((f.path for f in ck.files if f.path.rsplit("/", 1)[-1] == "config.json"), None)
    if own is not None and release.has_file(own):
        try:
            return json.loads(release.path(own).read_bytes())
        except (OSError, ValueError) as exc:
            raise ForensicsError(f"{own}: not readable JSON: {exc}") from None
    try:
        config = release.model_config()
    except ValueError as exc:
        raise ForensicsError(f"checkpoint step {ck.step}: {exc}") from None
    if not config:
        raise ForensicsError(f"checkpoint step {ck.step}: no model config (config.json) to build the model from")
    return config


def _pickled_tensors(release: Release, path: str) -> dict[str, torch.Tensor]:
    from audit.frameworks.torch_state import model_state
    from audit.readers.torch_pickle import PickleProblem, load_scanned

    try:
        state = model_state(load_scanned(release.path(path), path))
    except PickleProblem as exc:
        raise ForensicsError(str(exc)) from None
    if state is None:
        raise ForensicsError(f"{path}: not a state dict of tensors (nor one under 'model')")
    return state


def checkpoint_tensors(release: Release, ck: Checkpoint) -> dict[str, torch.Tensor]:
    """Every tensor of the checkpoint's weights, as stored; ``ForensicsError`` naming the file."""
    weights = weight_files(ck)
    if not weights:
        raise ForensicsError(f"checkpoint step {ck.step}: no safetensors or torch.save weights declared")
    tensors: dict[str, torch.Tensor] = {}
    for path in weights:
        if not release.has_file(path):
            raise ForensicsError(f"{path} is missing")
        if not path.endswith(".safetensors"):
            tensors |= _pickled_tensors(release, path)
            continue
        try:
            release.header(path)  # never hand a malformed file to a tensor loader
            tensors |= safetensors.torch.load(release.path(path).read_bytes())
        except (ValueError, OSError, SafetensorError) as exc:
            raise ForensicsError(f"{path}: {exc}") from None
    return tensors


class _HFLogits(torch.nn.Module):
    """A transformers causal LM called as the reference model is: token ids in, logits out."""

    def __init__(self, model: torch.nn.Module):
        super().__init__()
        self.model = model

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        return self.model(input_ids=ids, use_cache=False).logits


def _transformers_model(config: dict, ck: Checkpoint) -> torch.nn.Module:
    kind = config.get("model_type")
    try:
        import transformers
    except ImportError:
        raise ForensicsError(f"checkpoint step {ck.step}: model_type {kind!r} needs transformers "
                             "(pip install transformers); only LLaMA models run without it") from None  # fmt: skip
    try:
        cfg = transformers.AutoConfig.for_model(kind, **{k: v for k, v in config.items() if k != "model_type"})
        with deterministic(1):
            return transformers.AutoModelForCausalLM.from_config(cfg, trust_remote_code=False)
    except (ValueError, KeyError, TypeError) as exc:
        raise ForensicsError(f"checkpoint step {ck.step}: transformers cannot build model_type {kind!r}: {exc}") from None


def load_model(release: Release, ck: Checkpoint, device: str = "cpu",
               tensors: dict[str, torch.Tensor] | None = None) -> torch.nn.Module:  # fmt: skip
    """The checkpoint's weights (``tensors`` when already read) in the reference LLaMA, or in transformers'
    class for another ``model_type``; ``ForensicsError`` when they do not fit it."""
    config = _config(release, ck)
    llama = config.get("model_type", "llama") == "llama"
    if llama:
        try:
            model = CausalLM(ModelConfig.from_hf_config(config))
        except ValueError as exc:
            raise ForensicsError(f"checkpoint step {ck.step}: the reference LLaMA cannot be built: {exc}") from None
    else:
        model = _transformers_model(config, ck)
    if tensors is None:
        tensors = checkpoint_tensors(release, ck)
    params = dict(model.named_parameters())
    missing = sorted(set(params) - set(tensors))
    shapes = [n for n, p in params.items() if n in tensors and tensors[n].shape != p.shape]
    if missing or shapes:
        what = f"lacks {missing[0]}" if missing else f"{shapes[0]} has shape {tuple(tensors[shapes[0]].shape)}"
        kind = "a LLaMA" if llama else f"a {config.get('model_type')}"
        raise ForensicsError(f"{weight_files(ck)[0]}: not {kind} of its config ({what})")
    with torch.no_grad():
        for name, param in params.items():
            param.copy_(tensors[name].to(param.dtype))
    return (model if llama else _HFLogits(model)).to(device).eval()


def sequence_losses(model: torch.nn.Module, sequences: list[list[int]], device: str = "cpu") -> list[float]:
    """Mean next-token cross-entropy of each sequence (sequences of equal length batch together)."""
    out = [0.0] * len(sequences)
    by_length: dict[int, list[int]] = {}
    for i, ids in enumerate(sequences):
        if len(ids) < 2:
            raise ForensicsError(f"a sequence of {len(ids)} token(s) has no next token to predict")
        by_length.setdefault(len(ids), []).append(i)
    with deterministic(1), torch.no_grad():
        for idx in by_length.values():
            for b in range(0, len(idx), BATCH):
                part = idx[b : b + BATCH]
                batch = torch.tensor([sequences[i] for i in part], dtype=torch.long, device=device)
                logits = model(batch[:, :-1]).float()
                loss = F.cross_entropy(logits.transpose(1, 2), batch[:, 1:], reduction="none").mean(dim=1)
                for i, v in zip(part, loss.tolist()):
                    out[i] = v
    return out


def greedy(model: torch.nn.Module, prompts: list[list[int]], length: int, device: str = "cpu") -> list[list[int]]:
    """``length`` greedily decoded tokens after each prompt (prompts of one length, recomputed each step)."""
    if not prompts:
        return []
    with deterministic(1), torch.no_grad():
        ids = torch.tensor(prompts, dtype=torch.long, device=device)
        for _ in range(length):
            nxt = model(ids)[:, -1].argmax(dim=-1, keepdim=True)
            ids = torch.cat([ids, nxt], dim=1)
    return ids[:, -length:].tolist()
