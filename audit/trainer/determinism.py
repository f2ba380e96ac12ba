"""Process-wide switches that make torch training reproducible, set and restored as one unit.

``deterministic(num_threads)`` turns on deterministic algorithms, pins cuBLAS's workspace
(``CUBLAS_WORKSPACE_CONFIG=:4096:8``), turns reduced-precision (TF32) fp32 math off and pins the
CPU intra-op thread count (which can change float results, pytorch#88718); on exit it puts every
previous value back.

TF32 has two torch APIs: ``fp32_precision`` strings (torch >= 2.9) and the legacy ``allow_tf32``
booleans. Torch raises when a process reads one after the other was written, so this module (and
``audit.trainer.environment``, which reads them) uses the new API whenever it exists, the legacy one only
on older torch.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

import torch

from audit.trainer.environment import HAS_FP32_PRECISION_API, fp32_precision_knob, fp32_precision_settings

CUBLAS_WORKSPACE_CONFIG = ":4096:8"


def _set_fp32_precision(settings: dict[str, str]) -> None:
    if HAS_FP32_PRECISION_API:
        for path, value in settings.items():
            fp32_precision_knob(path).fp32_precision = value
    else:
        torch.backends.cuda.matmul.allow_tf32 = settings["cuda.matmul"] == "tf32"
        torch.backends.cudnn.allow_tf32 = settings["cudnn.conv"] == "tf32"


@contextmanager
def deterministic(num_threads: int) -> Iterator[None]:
    """Run the body with deterministic, full-fp32, ``num_threads``-thread torch; restore everything after.

    ``CUBLAS_WORKSPACE_CONFIG`` is read when cuBLAS first allocates its workspace for a stream, so
    on CUDA it only takes effect if this context is entered before the process's first cuBLAS call.
    """
    previous_algorithms = torch.are_deterministic_algorithms_enabled()
    previous_warn_only = torch.is_deterministic_algorithms_warn_only_enabled()
    previous_cublas = os.environ.get("CUBLAS_WORKSPACE_CONFIG")
    previous_precision = fp32_precision_settings()
    previous_threads = torch.get_num_threads()
    try:
        torch.use_deterministic_algorithms(True)
        os.environ["CUBLAS_WORKSPACE_CONFIG"] = CUBLAS_WORKSPACE_CONFIG
        _set_fp32_precision(dict.fromkeys(previous_precision, "ieee"))
        torch.set_num_threads(num_threads)
        yield
    finally:
        torch.set_num_threads(previous_threads)
        _set_fp32_precision(previous_precision)
        if previous_cublas is None:
            os.environ.pop("CUBLAS_WORKSPACE_CONFIG", None)
        else:
            os.environ["CUBLAS_WORKSPACE_CONFIG"] = previous_cublas
        torch.use_deterministic_algorithms(previous_algorithms, warn_only=previous_warn_only)
