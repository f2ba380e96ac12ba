"""Every random-number generator a training process owns, as JSON (no pickle).

Layout of the ``rng`` object in ``training_state.json``:
    python      {"version": 3, "state": [625 ints], "gauss_next": float | null}   (random.getstate())
    numpy       {"bit_generator": "MT19937", "state": [624 ints], "pos": int,
                 "has_gauss": int, "cached_gaussian": float}                      (np.random.get_state())
    torch_cpu   base64 of torch.get_rng_state() bytes
    torch_cuda  [base64 of torch.cuda.get_rng_state(i) for each visible CUDA device]
"""

from __future__ import annotations

import base64
import binascii
import random
from typing import Any

import numpy as np
import torch

RNG_KEYS = ("python", "numpy", "torch_cpu", "torch_cuda")


def _encode(state: torch.Tensor) -> str:
    return base64.b64encode(state.numpy().tobytes()).decode("ascii")


def _decode(text: object, where: str) -> torch.Tensor:
    if not isinstance(text, str):
        raise ValueError(f"{where} must be a base64 string")
    try:
        raw = base64.b64decode(text, validate=True)
    except binascii.Error as exc:
        raise ValueError(f"{where} is not valid base64: {exc}") from None
    return torch.frombuffer(bytearray(raw), dtype=torch.uint8)


def capture_rng_state() -> dict[str, Any]:
    """The current state of python's, numpy's and torch's (CPU and every CUDA device) global generators."""
    py_version, py_state, py_gauss = random.getstate()
    np_name, np_keys, np_pos, np_has_gauss, np_cached = np.random.get_state()
    cuda_states = torch.cuda.get_rng_state_all() if torch.cuda.is_available() else []
    return {
        "python": {"version": py_version, "state": list(py_state), "gauss_next": py_gauss},
        "numpy": {
            "bit_generator": np_name,
            "state": [int(k) for k in np_keys],
            "pos": int(np_pos),
            "has_gauss": int(np_has_gauss),
            "cached_gaussian": float(np_cached),
        },
        "torch_cpu": _encode(torch.get_rng_state()),
        "torch_cuda": [_encode(s) for s in cuda_states],
    }


def _is_uint32_list(value: object, length: int) -> bool:
    return (
        isinstance(value, list)
        and len(value) == length
        and all(isinstance(v, int) and not isinstance(v, bool) and 0 <= v < 2**32 for v in value)
    )


def restore_rng_state(rng: dict[str, Any]) -> list[str]:
    """Inverse of ``capture_rng_state``; raise ``ValueError`` (before changing anything) if ``rng`` is malformed.

    Returns the generators that could not be restored: the CUDA generators of devices this process
    does not see (e.g. a GPU run resumed on a CPU-only machine). Callers that promise exactness must
    report them.
    """
    if not isinstance(rng, dict):
        raise ValueError("rng must be an object")
    if missing := [k for k in RNG_KEYS if k not in rng]:
        raise ValueError(f"rng is missing {', '.join(missing)}")

    py = rng["python"]
    if not (
        isinstance(py, dict)
        and py.get("version") == 3
        and _is_uint32_list(py.get("state"), 625)
        and py["state"][-1] <= 624  # the last entry is the Mersenne Twister position
    ):
        raise ValueError("rng.python must hold version 3 and 625 uint32s of state ending in a position 0..624")
    if not (py.get("gauss_next") is None or isinstance(py.get("gauss_next"), float)):
        raise ValueError("rng.python.gauss_next must be a float or null")

    np_state = rng["numpy"]
    if not (
        isinstance(np_state, dict)
        and np_state.get("bit_generator") == "MT19937"
        and _is_uint32_list(np_state.get("state"), 624)
        and isinstance(np_state.get("pos"), int)
        and 0 <= np_state["pos"] <= 624
        and np_state.get("has_gauss") in (0, 1)
        and isinstance(np_state.get("cached_gaussian"), float)
    ):
        raise ValueError(
            "rng.numpy must hold an MT19937 state: 624 uint32 keys, pos 0..624, has_gauss 0|1, cached_gaussian"
        )

    torch_cpu = _decode(rng["torch_cpu"], "rng.torch_cpu")
    expected_bytes = torch.get_rng_state().numel()
    if torch_cpu.numel() != expected_bytes:
        raise ValueError(f"rng.torch_cpu has {torch_cpu.numel()} bytes, expected {expected_bytes}")
    if not isinstance(rng["torch_cuda"], list):
        raise ValueError("rng.torch_cuda must be a list")
    torch_cuda = [_decode(s, f"rng.torch_cuda[{i}]") for i, s in enumerate(rng["torch_cuda"])]
    visible = torch.cuda.device_count() if torch.cuda.is_available() else 0
    for device, state in enumerate(torch_cuda[:visible]):
        if state.numel() != (cuda_bytes := torch.cuda.get_rng_state(device).numel()):
            raise ValueError(f"rng.torch_cuda[{device}] has {state.numel()} bytes, expected {cuda_bytes}")

    try:  # torch checks the content of its state; do it first so a refusal changes nothing
        torch.set_rng_state(torch_cpu)
    except RuntimeError as exc:
        raise ValueError(f"rng.torch_cpu was refused by torch: {exc}") from None
    random.setstate((py["version"], tuple(py["state"]), py["gauss_next"]))
    np.random.set_state(
        (
            "MT19937",
            np.array(np_state["state"], dtype=np.uint32),
            np_state["pos"],
            np_state["has_gauss"],
            np_state["cached_gaussian"],
        )
    )
    for device, state in enumerate(torch_cuda[:visible]):
        torch.cuda.set_rng_state(state, device)
    return [f"torch_cuda[{device}]" for device in range(visible, len(torch_cuda))]
