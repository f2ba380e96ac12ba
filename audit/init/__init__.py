"""``llm360-audit init``: write or refresh the manifest from the files in a release.

Facts the files establish (hashes, sizes, token and sequence counts, tensor-bearing files, steps)
are recomputed on every run; what only a human can say (name, license, hyperparameters, the
mixture once declared, step ranges, order) is kept as written.
"""

from __future__ import annotations

import copy
import os
import stat
from dataclasses import dataclass, field
from pathlib import Path

from audit import SPEC_VERSION
from audit.spec import schemas
from audit.readers import yamlio
from audit.readers.bounded import load_json
from audit.storage.files import write_atomic
from audit.init.changes import Change, Dropped, Sources, diff
from audit.init.checkpoints import CheckpointsPart
from audit.core.progress import Progress
from audit.init.common import KEY_ORDER, Digests, _walk
from audit.init.inventory import inventory
from audit.storage.hashing import HashCache, Hasher
from audit.init.config import ConfigPart
from audit.init.data import DataPart
from audit.spec.manifest import MANIFEST_NAME

__all__ = ["Change", "Dropped", "InitError", "InitResult", "init_release"]


class InitError(ValueError):
    """The manifest cannot be refreshed; the message is one line."""


@dataclass
class InitResult:
    path: Path
    text: str
    changes: list[Change] = field(default_factory=list)  # every fact that differs from the manifest on disk
    dropped: list[Dropped] = field(default_factory=list)  # what was found but left out, and why
    notes: list[str] = field(default_factory=list)  # what init guessed, and what is still to complete by hand
    found: list[str] = field(default_factory=list)  # what the manifest now describes, one phrase each
    not_found: list[str] = field(default_factory=list)  # what it does not, and why it matters
    written: bool = False

    @property
    def empty(self) -> bool:
        """Nothing to audit: no checkpoint and no data."""
        return not any(f.startswith(("checkpoint", "data")) for f in self.found)


class _Refresher(CheckpointsPart, ConfigPart, DataPart):
    def __init__(self, root: Path, doc: dict, before: dict, checkpoint_every: int | None, digests: Digests):
        self.root, self.doc, self.before = root, doc, before  # before: the manifest as on disk
        self.notes: list[str] = []
        self.sources = Sources()
        self.digests = digests
        self.files, self.dropped = _walk(root)
        self.indexed: dict[str, int] = {}  # _key(checkpoint) → index, for ckpt_N directories and branches
        self.recorded: dict[str, tuple[int | None, str]] = {}  # _key(checkpoint) → (tokens its files record, file)
        self.every = checkpoint_every  # steps between index-numbered checkpoints, when the user knows it

    def note(self, msg: str) -> None:
        self.notes.append(msg)

    def drop(self, path: str, reason: str) -> None:
        self.dropped.append(Dropped(path, reason))

    def because(self, entry: str, field: str, source: str) -> None:
        self.sources.because(entry, field, source)

    @staticmethod
    def _json(path: Path) -> dict | None:
        try:
            data = load_json(path)
        except (OSError, ValueError, RecursionError):
            return None
        return data if isinstance(data, dict) else None

    def changes(self, after: dict, on_disk: bytes | None, text: str) -> list[Change]:
        """What differs from the manifest on disk; a rewrite that changes no fact still counts once."""
        if on_disk is None:
            return [Change("", "manifest", None, MANIFEST_NAME)]
        gone = {d.path: d.reason for d in self.dropped}

        def why_gone(kind: str, name: str) -> str:
            if name in gone:
                return gone[name]
            if not os.path.lexists(self.root / name):
                return "no longer exists"
            return "no weights file in it any more" if kind == "checkpoint" else "no longer found by init"

        found = diff(self.before, after, self.sources, why_gone)
        if not found and text.encode() != on_disk:
            found.append(Change(MANIFEST_NAME, "layout", "as written", "init's", "key order, quoting; comments are not kept"))
        return found


def _load(path: Path, on_disk: bytes | None) -> dict:
    if on_disk is None:
        return {}
    try:
        loaded = yamlio.loads(on_disk)
    except yamlio.YamlError as exc:
        raise InitError(f"cannot refresh {path}: {exc}; fix or remove it") from None
    if loaded is not None and not isinstance(loaded, dict):
        raise InitError(f"cannot refresh {path}: it is not a mapping; fix or remove it")
    return loaded or {}


def init_release(root: Path, *, write: bool = True, checkpoint_every: int | None = None, hash_files: bool = True,
                 cache_dir: Path | None = None, progress: Progress | None = None,
                 root_step: int | None = None) -> InitResult:
    """Write (or with ``write=False`` only compute) RELEASE/llm360.yaml from the files found. Files are hashed
    in parallel through the hash cache in ``cache_dir`` (the audit's), or not at all (``hash_files=False``).
    Nothing is written when nothing auditable (no checkpoint, no data) was found, nor when the manifest on
    disk already says it all (it stays byte-identical); a rewritten manifest keeps its file mode.
    ``root_step``: the step of a checkpoint whose files lie at the release root (a model repository's
    main branch), declared as ``path: .`` unless the manifest already declares one."""
    root = root.resolve()  # the paths the audit hashes, so its cache lookups hit
    path = root / MANIFEST_NAME
    on_disk = path.read_bytes() if path.is_file() else None
    doc = _load(path, on_disk)
    before = copy.deepcopy(doc)
    doc.setdefault("spec_version", SPEC_VERSION)
    doc.setdefault("name", root.name)
    if root_step is not None and not any(isinstance(c, dict) and c.get("path") == "." for c in doc.get("checkpoints") or []):
        doc.setdefault("checkpoints", []).append({"step": root_step, "path": "."})
    progress = progress or Progress()
    cache = HashCache(cache_dir) if cache_dir is not None and hash_files else None
    digests = Digests(Hasher(cache) if hash_files else None)
    r = _Refresher(root, doc, before, checkpoint_every, digests)
    try:
        with progress.task("hashing", unit="B") as advance:
            digests.prefetch(r.files, advance)
    finally:
        if cache is not None:
            cache.close()
    if cache is not None and cache.problem:
        r.note(f"hashed without the cache ({cache.problem})")
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
    problems = list(map(schemas.innermost, schemas.validator("manifest").iter_errors(ordered)))
    for e in problems[:5]:
        r.note(f"still to complete by hand: {'.'.join(map(str, e.absolute_path)) or '(root)'}: {e.message}")
    result = InitResult(path=path, text=text, changes=r.changes(yamlio.loads(text), on_disk, text), dropped=r.dropped,
                        notes=list(dict.fromkeys(r.notes)))  # fmt: skip
    result.found, result.not_found = inventory(ordered, root)
    if write and not result.empty and result.changes:
        write_atomic(path, text, mode=None if on_disk is None else stat.S_IMODE(path.stat().st_mode))
        result.written = True
    return result
