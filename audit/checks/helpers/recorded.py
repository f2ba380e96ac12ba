"""What a checkpoint's own files record about it — its step, tokens seen, data cursor, hyperparameters —
as its training framework's adapter reads them. The checks hold these against the manifest's declarations,
without any replay."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from audit.frameworks.interface import CheckpointFacts, RecordedTraining
from audit.frameworks.registry import FRAMEWORKS
from audit.readers.bounded import load_json
from audit.storage.files import UnsafePath


def _reader(release):
    def read_json(path: Path) -> dict[str, Any] | None:
        try:
            rel = path.relative_to(release.root).as_posix()
            data = load_json(release.path(rel))
        except (ValueError, UnsafePath, OSError, RecursionError):
            return None
        return data if isinstance(data, dict) else None

    return read_json


def _directory(release, ck) -> Path | None:
    if ck.path is None:
        return None  # a git revision: its files are read through git, not as a directory
    try:
        d = release.path(ck.path)
    except UnsafePath:
        return None
    return d if d.is_dir() else None


def facts(release, ck) -> CheckpointFacts | None:
    """The step, tokens and cursor the checkpoint directory's files record, or None (no framework reads it)."""

    def compute() -> CheckpointFacts | None:
        d = _directory(release, ck)
        if d is None:
            return None
        read = _reader(release)
        return next((f for fw in FRAMEWORKS if (f := fw.checkpoint_facts(d, read)) is not None), None)

    return release.memo(("facts", ck.step, ck.path), compute)


def training(release, ck) -> list[RecordedTraining]:
    """What the checkpoint's files record of config.training, one entry per recording file."""
    d = _directory(release, ck)
    if d is None:
        return []
    read = _reader(release)
    return [r for fw in FRAMEWORKS for r in fw.recorded_training(d, release.root, read)]
