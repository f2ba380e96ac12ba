"""The training frameworks the auditor knows, and the lookups the rest of the auditor uses."""

from __future__ import annotations

from pathlib import Path

from audit.frameworks.hf_trainer import HFTrainer
from audit.frameworks.interface import Framework
from audit.frameworks.litgpt import LitGPT
from audit.frameworks.reference import ReferenceTrainer
from audit.frameworks.torchtitan import Torchtitan
from audit.readers.training_log import TrainingLog

FRAMEWORKS: tuple[Framework, ...] = (ReferenceTrainer(), HFTrainer(), LitGPT(), Torchtitan())


def for_files(file_names: set[str]) -> Framework | None:
    """The framework that wrote a checkpoint holding these file names, or None."""
    return next((f for f in FRAMEWORKS if f.owns(file_names)), None)


def read_log(path: Path, fmt: str) -> TrainingLog:
    """The training log in its declared format (``metrics.training_log.format``)."""
    for framework in FRAMEWORKS:
        if fmt in framework.log_formats:
            return framework.log_formats[fmt](path)
    raise ValueError(f"unknown training-log format {fmt!r}")
