"""Statistical evidence from the weights and the data alone, for segments that cannot be replayed exactly
(weights-only releases such as Amber and Pythia): the order test (audit.forensics.order), the palimpsest
correlation and the Analysis360 memorization score (audit.forensics.memory). No CLI, no rendering here."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from audit.spec.manifest import Checkpoint

#: Weights the tests read: safetensors, or torch.save pickles (pytorch_model.bin, lit_model.pth, …) opened
#: weights-only after the static scan.
WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth", ".ckpt")


def weight_files(ck: Checkpoint) -> list[str]:
    """The checkpoint's weights files the tests load (torch-free, for the checks that select segments)."""
    files = [f.path for f in ck.files if f.role == "weights" and f.path.endswith(WEIGHT_SUFFIXES)]
    safetensors_only = [p for p in files if p.endswith(".safetensors")]
    return safetensors_only or files  # both published (as HF repos often are): the safetensors copy
