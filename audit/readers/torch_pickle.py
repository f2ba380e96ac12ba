"""The one way the auditor opens a pickle: ``torch.load(weights_only=True)``, and only with torch ≥ 2.6.

Unpickling can run arbitrary code, so a pickled file is never handed to ``pickle.load`` or to
``torch.load(weights_only=False)``. The weights-only unpickler accepts tensors and plain containers
and refuses every other global *before* calling it, so a payload in a hostile file never runs: the
file is reported instead. torch is imported here lazily, only when a release holds such a file.
"""

from __future__ import annotations

import pickle
import re
import warnings
from contextlib import nullcontext
from pathlib import Path
from typing import Any, Literal

MIN_TORCH = (2, 6)
#: A pickle that is not a torch.save zip archive cannot be memory-mapped; larger ones are refused.
MAX_UNMAPPED_BYTES = 256 * 1024 * 1024
ZIP_MAGIC = b"PK\x03\x04"

Problem = Literal["unverifiable", "refused", "unreadable"]


class PickleProblem(ValueError):
    """Why a pickled file was not (or could not be) read; the message is one line naming the file."""

    def __init__(self, kind: Problem, message: str):
        super().__init__(message)
        self.kind = kind


def torch_supported(version: str) -> bool:
    """True for torch versions whose weights-only unpickler we rely on (2.6 and later)."""
    m = re.match(r"(\d+)\.(\d+)", version)
    return m is not None and (int(m.group(1)), int(m.group(2))) >= MIN_TORCH


def looks_pickled(path: Path) -> bool:
    """Starts like a pickle (protocol 2+) or a torch.save zip archive, whatever the file's name."""
    try:
        with open(path, "rb") as f:
            head = f.read(4)
    except OSError:
        return False
    return (len(head) >= 2 and head[0] == 0x80 and 2 <= head[1] <= 5) or head == ZIP_MAGIC


def _allowed(numpy_arrays: bool, namespaces: bool):
    """Globals allowed besides tensors: numpy arrays (as HF Trainer's rng_state.pth and Megatron's rng_state
    hold: the globals transformers allows itself) and Megatron's ``args``: ``argparse.Namespace`` (made by
    ``__new__``, its ``__dict__`` set — no code of the pickle's choosing runs) and the inert classes its
    attributes hold, each bound to a stand-in that builds a record (:mod:`audit.readers.pickle_inert`:
    megatron-core is never imported)."""
    import argparse

    import torch

    from audit.readers.pickle_inert import stand_ins

    allowed: list = [argparse.Namespace, *stand_ins()] if namespaces else []
    if numpy_arrays:
        import numpy as np

        core = getattr(np, "_core", None) or np.core
        allowed += [core.multiarray._reconstruct, np.ndarray, np.dtype, type(np.dtype(np.uint32))]
    return torch.serialization.safe_globals(allowed) if allowed else nullcontext()


#: Lines of torch's error text that are advice, not the reason.
_ADVICE = ("Weights only load failed", "Check the documentation", "Please file an issue", "(1)", "(2)")


def _reason(exc: BaseException) -> str:
    """The first sentence of the informative line of a torch error, short."""
    lines = [s.strip() for s in str(exc).splitlines() if s.strip() and not s.strip().startswith(_ADVICE)]
    return (lines[0].split(". ")[0] if lines else type(exc).__name__)[:120]


def load_weights_only(path: Path, rel: str, *, numpy_arrays: bool = False, namespaces: bool = False) -> Any:
    """``torch.load(path, weights_only=True, map_location="cpu", mmap=...)``; raises :class:`PickleProblem`.

    ``rel`` names the file in messages. Zip archives are memory-mapped (memory stays flat however
    large the optimizer state); a legacy pickle larger than :data:`MAX_UNMAPPED_BYTES` is refused.
    """
    torch = _torch(rel)
    try:
        with open(path, "rb") as f:
            zipped = f.read(4) == ZIP_MAGIC
        if not zipped and path.stat().st_size > MAX_UNMAPPED_BYTES:
            raise PickleProblem("unreadable", f"{rel}: not a torch.save zip archive and larger than "
                                              f"{MAX_UNMAPPED_BYTES} bytes; not opened")  # fmt: skip
    except OSError as exc:
        raise PickleProblem("unreadable", f"{rel}: cannot be read ({exc.strerror or exc})") from None
    return _load(torch, rel, lambda: torch.load(path, weights_only=True, map_location="cpu", mmap=zipped), numpy_arrays,
                 namespaces)


def load_bytes_weights_only(data: bytes, rel: str) -> Any:
    """``torch.load`` of in-memory ``torch.save`` bytes (one item of a DCP ``.distcp``), weights-only;
    raises :class:`PickleProblem` naming ``rel``."""
    import io

    torch = _torch(rel)
    return _load(torch, rel, lambda: torch.load(io.BytesIO(data), weights_only=True, map_location="cpu"), False, False)


def _torch(rel: str):
    try:
        import torch
    except ImportError:
        raise PickleProblem("unverifiable", f"{rel}: torch is not installed, so the pickle was not opened") from None
    if not torch_supported(torch.__version__):
        raise PickleProblem("unverifiable", f"{rel}: torch {torch.__version__} is older than 2.6, whose "
                                            "weights-only loader is required; the pickle was not opened")  # fmt: skip
    return torch


def _load(torch, rel: str, call, numpy_arrays: bool, namespaces: bool) -> Any:
    try:
        with _allowed(numpy_arrays, namespaces), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # torch's notes on pickle protocols: the finding says what matters
            return call()
    except PickleProblem:
        raise
    except pickle.UnpicklingError as exc:
        refused = re.search(r"GLOBAL ([\w.]+)", str(exc))
        if refused:
            raise PickleProblem("refused", f"{rel}: the weights-only loader refused it: it needs "
                                           f"{refused.group(1)}, which tensors and plain containers never do") from None  # fmt: skip
        raise PickleProblem("unreadable", f"{rel}: not a readable torch.save file ({_reason(exc)})") from None
    except Exception as exc:  # a corrupt archive or pickle raises many types; none may escape as a crash
        raise PickleProblem("unreadable", f"{rel}: not a readable torch.save file ({_reason(exc)})") from None


def load_scanned(path: Path, rel: str, *, numpy_arrays: bool = False, namespaces: bool = False) -> Any:
    """:func:`load_weights_only` after the static scan (:mod:`audit.readers.pickle_scan`): a pickle that
    would import anything outside the allow-list is refused by name and never reaches torch.load."""
    from audit.readers.pickle_scan import scan_pickle_file

    try:
        scan = scan_pickle_file(path, rel)
    except ValueError as exc:
        raise PickleProblem("unreadable", str(exc)) from None
    if scan.unsafe:
        raise PickleProblem("refused", f"{rel}: a pickle that would import {', '.join(scan.unsafe[:3])}; not opened")
    return load_weights_only(path, rel, numpy_arrays=numpy_arrays, namespaces=namespaces)
