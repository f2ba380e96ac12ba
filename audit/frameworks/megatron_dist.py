"""Megatron-LM checkpoints in the ``torch_dist`` format (``--ckpt-format torch_dist``, its default since 2024).

Layout (megatron/training/checkpointing.py ``save_checkpoint`` → megatron-core's ``dist_checkpointing.save``):
the save directory holds ``iter_NNNNNNN/`` per checkpoint and ``latest_checkpointed_iteration.txt``; each
checkpoint directory is one PyTorch Distributed Checkpoint of all ranks — ``.metadata`` (a pickle of DCP's
``Metadata``, with megatron-core's ``all_local_plans``: every rank's save plan) and ``__R_N.distcp`` files — plus
``common.pt`` and ``metadata.json``. The DCP items are the sharded part of the state dict ``generate_state_dict``
builds: the model's ``sharded_state_dict()`` (``embedding.word_embeddings.weight``, …; every
``decoder.layers.*`` tensor stacked over the layers on a leading axis, one chunk per layer, layer norms named
as Transformer Engine's fused ones — ``self_attention.linear_qkv.layer_norm_weight`` — whatever the layer
spec; ``_extra_state`` as bytes), the optimizer's (``optimizer.state.exp_avg.<param>``,
``optimizer.state.exp_avg_sq.<param>``, shaped like the parameter) and ``rng_state`` (a ``ShardedObject``:
pickled bytes per pipeline × tensor rank). ``common.pt`` (a ``torch.save`` dict) is the rest: ``args``,
``checkpoint_version``, ``iteration``, ``optimizer`` (``param_groups`` and ``state.common_step``, the step
shared by every parameter), ``opt_param_scheduler``, ``num_floating_point_operations_so_far``,
``content_metadata``. ``metadata.json`` names the backends (``sharded_backend: torch_dist``,
``common_backend: torch``).

``common.pt`` is read like a legacy ``model_optim_rng.pt`` (:mod:`audit.frameworks.megatron`: its opcodes,
nothing imported; the args' megatron-core enums as inert records), ``.metadata`` through the DCP allow-list
(:mod:`audit.readers.dcp`, with the planner classes megatron-core adds). The distributed optimizer's
default sharding (``dp_reshardable``) saves the moments as flattened ``optimizer.distributed.*`` buckets: they
are found and counted, not matched to parameters (which element belongs to which parameter depends on the
bucketing, which the checkpoint does not record); a gathered ``param_state`` object is only found. What this
cannot know besides: MoE experts' extra stacking axes, and the contents of ``rng_state``
(bytes whose pickle holds numpy arrays; only its presence is read).
"""

from __future__ import annotations

import re
from pathlib import Path

from audit.readers import dcp

COMMON = "common.pt"
CONTENT_METADATA = "metadata.json"
STACKED = "decoder.layers."
MOMENT = re.compile(r"optimizer\.state\.(exp_avg|exp_avg_sq)\.(.+)")
#: The distributed optimizer's state (``--use-distributed-optimizer``) in megatron-core's default sharding,
#: ``dp_reshardable`` (``DistributedOptimizer.sharded_param_state_dp_reshardable``): per gradient buffer, dtype
#: and bucket one 1-D tensor of each kind — the bucket's parameters (and padding) end to end, not by parameter.
BUCKET = re.compile(r"optimizer\.distributed\.dp_group_idx_\d+\.gbuf_idx_\d+\.dtype_.+?\.bucket_idx_\d+\."
                    r"(exp_avg|exp_avg_sq|param)")
#: ``dp_zero_gather_scatter`` (deprecated): the whole state gathered into one pickled object.
GATHERED = re.compile(r"optimizer\.distributed\.dp_group_idx_\d+\.param_state")


def is_torch_dist(file_names: set[str]) -> bool:
    """Whether a checkpoint directory's file names are megatron-core's dist_checkpointing (DCP + common.pt)."""
    return COMMON in file_names and dcp.is_dcp_dir(file_names)


def common_file(directory: Path) -> Path | None:
    """The common.pt of a torch_dist checkpoint directory, or None when it is none."""
    try:
        names = {p.name for p in directory.iterdir()}
    except OSError:
        return None
    return directory / COMMON if is_torch_dist(names) and (directory / COMMON).is_file() else None


def weights(meta: dcp.DcpMetadata) -> dict[str, dcp.Item]:
    """The model's tensors as saved (the decoder layers' stacked): every tensor that is not optimizer state."""
    return {k: v for k, v in meta.tensors.items() if not k.startswith("optimizer.")}


def weight_shapes(meta: dcp.DcpMetadata) -> dict[str, tuple[tuple[int, ...], str]]:
    """name → (shape, safetensors dtype) of the model's tensors per layer, as a ``state_dict()`` names them:
    a stacked ``decoder.layers.X`` of shape (L, …) is ``decoder.layers.0.X`` … ``decoder.layers.{L-1}.X``."""
    out: dict[str, tuple[tuple[int, ...], str]] = {}
    for name, it in weights(meta).items():
        shape, dtype = it.shape or (), it.dtype or "?"
        if name.startswith(STACKED) and shape:
            rest = name[len(STACKED):]
            out |= {f"{STACKED}{i}.{rest}": (shape[1:], dtype) for i in range(shape[0])}
        else:
            out[name] = (shape, dtype)
    return out


def moments(meta: dcp.DcpMetadata) -> dict[str, dict[str, dcp.Item]]:
    """parameter name (as the weights name it) → {"exp_avg", "exp_avg_sq"} items of the optimizer state."""
    out: dict[str, dict[str, dcp.Item]] = {}
    for name, it in meta.items.items():
        m = MOMENT.fullmatch(name)
        if m is not None:
            out.setdefault(m.group(2), {})[m.group(1)] = it
    return out


def flattened(meta: dcp.DcpMetadata) -> dict[str, tuple[int, int]]:
    """The distributed optimizer's flattened buckets: kind ("exp_avg", "exp_avg_sq", "param") → (bucket tensors,
    elements in all); {} when the state is not saved that way."""
    out: dict[str, tuple[int, int]] = {}
    for name, it in meta.items.items():
        m = BUCKET.fullmatch(name)
        if m is not None and it.kind == "tensor":
            n, numel = out.get(m.group(1), (0, 0))
            out[m.group(1)] = (n + 1, numel + it.numel)
    return out


def gathered(meta: dcp.DcpMetadata) -> bool:
    """Whether the distributed optimizer's state is one gathered object (``dp_zero_gather_scatter``)."""
    return any(GATHERED.fullmatch(k) for k in meta.items)


def carries_optimizer(meta: dcp.DcpMetadata) -> bool:
    """Moments by parameter (model space), in the distributed optimizer's buckets, or gathered into one object."""
    flat = flattened(meta)
    return bool(moments(meta)) or ("exp_avg" in flat and "exp_avg_sq" in flat) or gathered(meta)


def holds_rng(meta: dcp.DcpMetadata) -> bool:
    return any(k == "rng_state" or k.startswith("rng_state/") for k in meta.items)
