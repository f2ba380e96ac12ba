"""``llm360-audit init``: write or refresh the manifest from the files in a release.

Facts the files establish (hashes, sizes, token and sequence counts, tensor-bearing files, steps)
are recomputed on every run; what only a human can say (name, license, hyperparameters, the
mixture once declared, step ranges, order) is kept as written.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from audit import SPEC_VERSION
from audit.spec import schemas
from audit.readers import yamlio
from audit.readers.bounded import load_json
from audit.storage.files import write_atomic
from audit.init.checkpoints import CheckpointsPart
from audit.init.common import KEY_ORDER, _walk
from audit.init.config import ConfigPart
from audit.init.data import DataPart
from audit.spec.manifest import MANIFEST_NAME

__all__ = ["InitError", "InitResult", "init_release"]


class InitError(ValueError):
    """The manifest cannot be refreshed; the message is one line."""


@dataclass
class InitResult:
    path: Path
    text: str
    changes: list[str] = field(default_factory=list)


class _Refresher(CheckpointsPart, ConfigPart, DataPart):
    def __init__(self, root: Path, doc: dict, checkpoint_every: int | None = None):
        self.root, self.doc, self.changes = root, doc, []
        self.files = _walk(root)
        self.indexed: dict[str, int] = {}  # _key(checkpoint) → index, for ckpt_N directories and branches
        self.every = checkpoint_every  # steps between index-numbered checkpoints, when the user knows it

    def note(self, msg: str) -> None:
        self.changes.append(msg)

    @staticmethod
    def _json(path: Path) -> dict | None:
        try:
            data = load_json(path)
        except (OSError, ValueError, RecursionError):
            return None
        return data if isinstance(data, dict) else None


def init_release(root: Path, *, write: bool = True, checkpoint_every: int | None = None) -> InitResult:
    path = root / MANIFEST_NAME
    doc: dict = {}
    if path.is_file():
        try:
            loaded = yamlio.loads(path.read_bytes())
        except yamlio.YamlError as exc:
            raise InitError(f"cannot refresh {path}: {exc}; fix or remove it") from None
        if loaded is not None and not isinstance(loaded, dict):
            raise InitError(f"cannot refresh {path}: it is not a mapping; fix or remove it")
        doc = loaded or {}
    doc.setdefault("spec_version", SPEC_VERSION)
    doc.setdefault("name", root.name)
    r = _Refresher(root, doc, checkpoint_every)
    r.license()
    r.code()
    r.checkpoints()
    r.git_checkpoints()
    r.config()
    r.data()
    r.index_steps()
    r.fill_tokens()
    r.metrics()
    ordered = {k: doc[k] for k in KEY_ORDER if k in doc} | {k: v for k, v in doc.items() if k not in KEY_ORDER}
    text = yamlio.dumps(ordered)
    problems = list(schemas.validator("manifest").iter_errors(ordered))
    for e in problems[:5]:
        r.note(f"still to complete by hand: {'.'.join(map(str, e.absolute_path)) or '(root)'}: {e.message}")
    if write:
        write_atomic(path, text)
    return InitResult(path=path, text=text, changes=list(dict.fromkeys(r.changes)))
