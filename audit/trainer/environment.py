"""Fingerprint of the numerical environment a training step ran in.

Bit-exact replay is only promised in an identical environment (DESIGN.md section 4), so every
checkpoint records one of these and the replay compares it with its own. The fingerprint is a
flat dict of JSON values, stable for a given machine and setup: no timestamps, hostnames or PIDs.
"""

from __future__ import annotations

import functools
import hashlib
import os
import platform
from functools import reduce
from pathlib import Path
from typing import Any

import torch

# The leaf fp32-precision knobs of torch >= 2.9 (which decide; a parent only fills in leaves set to "none"),
# for the backends whose fp32 math may be reduced: cuBLAS, cuDNN and oneDNN (CPU) matmuls.
FP32_PRECISION_KNOBS = ("cuda.matmul", "cudnn.conv", "cudnn.rnn", "mkldnn.matmul")
HAS_FP32_PRECISION_API = hasattr(getattr(torch.backends.cudnn, "conv", None), "fp32_precision")


def fp32_precision_knob(path: str) -> Any:
    """The ``torch.backends`` object at a dotted ``path``, e.g. ``"cuda.matmul"``."""
    return reduce(getattr, path.split("."), torch.backends)


def fp32_precision_settings() -> dict[str, str]:
    """Current fp32 math mode per backend: ``"ieee"`` (full fp32), ``"tf32"``, ``"bf16"`` or ``"none"`` (inherit)."""
    if HAS_FP32_PRECISION_API:
        return {path: fp32_precision_knob(path).fp32_precision for path in FP32_PRECISION_KNOBS}
    cudnn = "tf32" if torch.backends.cudnn.allow_tf32 else "ieee"
    return {
        "cuda.matmul": "tf32" if torch.backends.cuda.matmul.allow_tf32 else "ieee",
        "cudnn.conv": cudnn,
        "cudnn.rnn": cudnn,
    }


def _cpu_name() -> str:
    """The CPU model from /proc/cpuinfo when available, else what ``platform`` knows."""
    try:
        cpuinfo = Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace")
    except OSError:
        cpuinfo = ""
    for line in cpuinfo.splitlines():
        key, _, value = line.partition(":")
        if key.strip() in ("model name", "Model", "Hardware") and value.strip():
            return value.strip()
    return platform.processor() or platform.machine()


#: The reference trainer's modules whose code decides the numbers a training step produces.
ARITHMETIC_MODULES = ("checkpoint", "config", "determinism", "model", "rng", "trainer")


@functools.cache
def trainer_code_digest() -> str:
    """SHA-256 (16 hex digits) of the code that does the arithmetic: the reference trainer's modules
    (:data:`ARITHMETIC_MODULES`) and audit/spec/schedule.py. Two runs with different training code are
    different environments."""
    package = Path(__file__).resolve().parent.parent  # audit/
    h = hashlib.sha256()
    files = [package / "trainer" / f"{name}.py" for name in ARITHMETIC_MODULES] + [package / "spec" / "schedule.py"]
    for path in sorted(files):
        h.update(path.name.encode() + b"\0" + path.read_bytes())
    return h.hexdigest()[:16]


def fingerprint(device: str = "cpu", precision: str = "fp32") -> dict[str, Any]:
    """Describe the software, hardware and numerical settings that training on ``device`` depends on."""
    device_type = torch.device(device).type
    fp: dict[str, Any] = {
        "python_version": platform.python_version(),
        "torch_version": torch.__version__,
        "cuda_version": torch.version.cuda,
        "device_type": device_type,
        "device_name": torch.cuda.get_device_name(device) if device_type == "cuda" else _cpu_name(),
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "num_threads": torch.get_num_threads(),
        "precision": precision,
        "deterministic_algorithms": torch.are_deterministic_algorithms_enabled(),
        "cublas_workspace_config": os.environ.get("CUBLAS_WORKSPACE_CONFIG"),
        "trainer_code": trainer_code_digest(),
    }
    for backend, mode in fp32_precision_settings().items():
        fp[f"fp32_precision.{backend}"] = mode
    if device_type == "cuda":
        fp["cudnn_version"] = torch.backends.cudnn.version()
    return fp


def diff_fingerprints(a: dict[str, Any], b: dict[str, Any]) -> list[str]:
    """Sorted names of the fields whose values differ, including fields present in only one of them."""
    return sorted(key for key in a.keys() | b.keys() if key not in a or key not in b or a[key] != b[key])
