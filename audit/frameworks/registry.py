"""The training frameworks the auditor knows, and the lookups the rest of the auditor uses."""

from __future__ import annotations

from pathlib import Path

from audit.frameworks.hf_trainer import HFTrainer
from audit.frameworks.interface import Framework
from audit.frameworks.litgpt import LitGPT
from audit.frameworks.megatron import Megatron
from audit.frameworks.reference import ReferenceTrainer
from audit.frameworks.torchtitan import Torchtitan
from audit.readers.training_log import TrainingLog

FRAMEWORKS: tuple[Framework, ...] = (ReferenceTrainer(), HFTrainer(), LitGPT(), Megatron(), Torchtitan())


def for_files(file_names: set[str]) -> Framework | None:
    """The framework that wrote a checkpoint holding these file names, or None."""
    return next((f for f in FRAMEWORKS if f.owns(file_names)), None)


def read_log(path: Path, fmt: str) -> TrainingLog:
    """The training log in its declared format (``metrics.training_log.format``)."""
    for framework in FRAMEWORKS:
        if fmt in framework.log_formats:
            return framework.log_formats[fmt](path)
    raise ValueError(f"unknown training-log format {fmt!r}")


def checkpoint_directory(directory: Path) -> Path:
    """The checkpoint directory a directory of files belongs to (itself, or the one a framework nests it in)."""
    return next((d for f in FRAMEWORKS if (d := f.nested_in(directory)) is not None), directory)


def embedded_model_config(path: Path, rel: str) -> dict | None:
    """A model config a framework keeps inside a checkpoint file, or None; raises ValueError naming ``rel``."""
    return next((c for f in FRAMEWORKS if (c := f.model_config(path, rel)) is not None), None)


def pickle_allows(file_name: str) -> dict[str, bool]:
    """The weights-only loader's allowances for a pickled checkpoint file of this name."""
    framework = for_files({file_name})
    return dict.fromkeys(framework.pickle_allows, True) if framework is not None else {}
