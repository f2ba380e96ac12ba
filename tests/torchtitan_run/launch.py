"""Runs torchtitan 0.3.0's own ``torchtitan.train`` on CPU with torch 2.13 (its arguments are torchtitan's).

torchtitan targets GPUs and a newer torch; these shims let its unchanged training code run here:
* the device: torch reports no accelerator, torchtitan then assumes 'cuda'; made 'cpu' (gloo backend);
* ``torch.cpu`` lacks the memory-stat functions torchtitan's memory monitor calls: zeros; its
  ``current_device()`` is 'cpu', which ``barrier(device_ids=...)`` refuses: the ids are dropped;
* ``torch.distributed.set_timeout`` is newer than 2.13, which has ``distributed_c10d._set_pg_timeout``;
* FlexAttention has no CPU backward: the same mask (its ``mask_mod``, made dense) through
  ``scaled_dot_product_attention``;
* torchtitan imports triton unconditionally (GPU kernels never called here): a do-nothing module, put in
  place after torch has recorded that no triton is installed.
Single process: RANK 0 of WORLD_SIZE 1 on a local rendezvous."""

from __future__ import annotations

import os
import sys
import types

os.environ.setdefault("TORCHDYNAMO_DISABLE", "1")  # torch.compile a no-op: no C++ toolchain needed on CPU
os.environ.setdefault("RANK", "0")
os.environ.setdefault("LOCAL_RANK", "0")
os.environ.setdefault("WORLD_SIZE", "1")
os.environ.setdefault("MASTER_ADDR", "127.0.0.1")
if "MASTER_PORT" not in os.environ:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        os.environ["MASTER_PORT"] = str(s.getsockname()[1])

import torch  # noqa: E402
import torch._utils  # noqa: E402
import torch._functorch.partitioners  # noqa: E402,F401  (these import triton if present: before the stand-in)
import torch._inductor.utils  # noqa: E402,F401
import torch.utils._triton as _triton  # noqa: E402

_triton.has_triton_package(), _triton.has_triton()  # cached as False before the stand-in exists
torch._utils._get_available_device_type = lambda: "cpu"


class _Anything:
    def __call__(self, *args, **kwargs):
        return args[0] if len(args) == 1 and callable(args[0]) and not kwargs else _Anything()

    def __getattr__(self, name):
        return _anything(name)

    def __getitem__(self, item):
        return _Anything()


def _anything(name: str):
    if name.startswith("__"):
        raise AttributeError(name)
    return _Anything()


for _name in ("triton", "triton.language"):
    _mod = types.ModuleType(_name)
    _mod.__getattr__ = _anything  # type: ignore[method-assign]
    sys.modules[_name] = _mod
sys.modules["triton"].language = sys.modules["triton.language"]

_cpu = torch.cpu
for _fn, _value in (("reset_peak_memory_stats", None), ("empty_cache", None), ("memory_stats", {}),
                    ("get_device_name", "cpu"), ("set_device", None), ("synchronize", None)):
    if not hasattr(_cpu, _fn):
        setattr(_cpu, _fn, lambda *a, _v=_value, **k: _v)
if not hasattr(_cpu, "get_device_properties"):
    _cpu.get_device_properties = lambda *a, **k: types.SimpleNamespace(total_memory=1, name="cpu")
if not hasattr(torch.distributed, "set_timeout"):
    from torch.distributed.distributed_c10d import _set_pg_timeout

    torch.distributed.set_timeout = lambda timeout, group=None: _set_pg_timeout(timeout, group)

_barrier = torch.distributed.barrier


def _cpu_barrier(*args, device_ids=None, **kwargs):  # torch.cpu.current_device() is 'cpu', not an index
    return _barrier(*args, **kwargs)


torch.distributed.barrier = _cpu_barrier

from torch.nn.attention.flex_attention import create_mask  # noqa: E402

from torchtitan.models.common.attention import FlexAttention  # noqa: E402


def _sdpa_flex(q, k, v, *, score_mod, block_mask, scale, enable_gqa, return_aux, kernel_options):
    assert score_mod is None and not return_aux.lse, "the CPU shim covers plain masked attention only"
    mask = create_mask(block_mask.mask_mod, q.shape[0], 1, q.shape[-2], k.shape[-2], device=q.device)
    out = torch.nn.functional.scaled_dot_product_attention(q, k, v, attn_mask=mask, scale=scale,
                                                           enable_gqa=enable_gqa)
    return out, None


FlexAttention.compiled_flex_attn = staticmethod(_sdpa_flex)

if __name__ == "__main__":
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from torchtitan.train import main

    main()
