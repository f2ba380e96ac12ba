"""What the parts of init share: the release's files, their roles, file entries, constants."""

from __future__ import annotations

import json
import os
import re
import stat
from pathlib import Path
from collections.abc import Callable
from typing import Any

from audit.frameworks.hf_trainer import TRAINER_STATE
from audit.init.changes import Dropped
from audit.spec.manifest import MANIFEST_NAME
from audit.storage.hashing import Hasher

STATE_COMPONENTS = ("weights", "optimizer", "scheduler", "rng", "data_cursor")
KEY_ORDER = ("spec_version", "name", "description", "license", "code", "config", "checkpoints", "checkpoints_source",
             "data", "metrics")
ENTRYPOINTS = ("train.py", "pretrain.py", "main.py")
WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth")
#: Hidden files that are release content: torch.distributed.checkpoint's (pickled) metadata.
LISTED_DOTFILES = {".metadata"}
#: Directories that *number* checkpoints rather than naming their step: Amber's ``ckpt_000`` …
#: ``ckpt_359`` (each published as a git branch of that name), where ``ckpt_N`` is the N-th checkpoint,
#: saved after data chunk N. ``step_NNNNNN`` and HF Trainer's ``checkpoint-N`` hold a step.
INDEX_DIR = re.compile(r"ckpt_(\d+)")
#: Key order of a checkpoint entry written by init (that of examples/amber-manifest.yaml).
CHECKPOINT_KEYS = ("step", "tokens", "path", "revision", "state", "files")


def _first_record(path: Path) -> Any:
    try:
        with open(path, "rb") as f:
            return json.loads(f.readline(1 << 24))
    except (OSError, ValueError, RecursionError):
        return None


def _walk(root: Path) -> tuple[list[Path], list[Dropped]]:
    """The release's files — regular files under root, and symlinks to files inside it (the audit reads
    those too) — skipping hidden directories; and what was left out, with the reason."""
    found: list[Path] = []
    dropped: list[Dropped] = []

    def unlisted(exc: OSError) -> None:
        where = Path(exc.filename or root)
        dropped.append(Dropped(where.relative_to(root).as_posix(), f"cannot be read: {exc.strerror or exc}"))

    for dirpath, dirnames, filenames in os.walk(root, onerror=unlisted):
        here = Path(dirpath)
        links = {d for d in dirnames if not d.startswith(".") and (here / d).is_symlink()}
        dropped += [Dropped((here / d).relative_to(root).as_posix(), _left_out(root, here / d)) for d in sorted(links)]
        dirnames[:] = sorted(d for d in dirnames if not d.startswith(".") and d not in links)
        for name in sorted(filenames):
            if name == MANIFEST_NAME or (name.startswith(".") and name not in LISTED_DOTFILES):
                continue
            p = here / name
            reason = _left_out(root, p)
            found.append(p) if reason is None else dropped.append(Dropped(p.relative_to(root).as_posix(), reason))
    return found, dropped


def _left_out(root: Path, p: Path) -> str | None:
    """Why a path found under root is not release content, or None. A symlink may not leave the release
    (the audit never reads outside it); one to a directory is never followed (no loops, no file twice)."""
    if p.is_symlink():
        try:
            target = p.resolve(strict=True)
        except (OSError, RuntimeError):
            return f"a broken symlink (to {os.readlink(p)})"
        if target != root and root not in target.parents:
            return f"a symlink to {target}, outside the release"
        if target.is_dir():
            return "a symlink to a directory, not followed"
    try:
        if not stat.S_ISREG(p.stat().st_mode):
            return "not a regular file"
        os.close(os.open(p, os.O_RDONLY))
    except OSError as exc:
        return f"cannot be read: {exc.strerror or exc}"
    return None


def _role(name: str) -> str | None:
    if name.endswith(".index.json") or name == ".metadata":  # torch DCP's .metadata indexes its .distcp files
        return "weights-index"
    if name.endswith(".distcp"):  # torch DCP (torchtitan): weights, optimizer and trainer state in one
        return "weights"
    if name in ("config.json", "training_args.bin", "model_config.yaml"):  # HF's pickled TrainingArguments; LitGPT's config
        return "config"
    if name.startswith("optimizer"):
        return "optimizer"
    if name.startswith("scheduler") and name.endswith((".pt", ".pth", ".bin")):
        return "scheduler"
    if name.startswith("rng_state"):
        return "rng"
    if name in ("training_state.json", TRAINER_STATE, "common.pt"):  # common.pt: megatron-core's torch_dist args etc.
        return "training-state"
    if name.endswith(WEIGHT_SUFFIXES) and name != "training_args.bin":
        return "weights"
    return None


class Digests:
    """The sha256 of the release's files for init: all hashed up front, in parallel and through the audit's
    hash cache (so the audit right after init hashes nothing), or none at all (``--no-hash``)."""

    def __init__(self, hasher: Hasher | None):
        self.hasher = hasher
        self._known: dict[Path, str] = {}

    def prefetch(self, paths: list[Path], on_bytes: Callable[[int], None]) -> None:
        if self.hasher is not None:
            got = self.hasher.digest_many(paths, on_bytes)
            self._known.update({p: d for p, d in got.items() if isinstance(d, str)})

    def entry(self, root: Path, p: Path, **extra) -> dict:
        """A manifest file entry: path, sha256 (unless --no-hash), size, and ``extra``."""
        entry: dict[str, Any] = {"path": p.relative_to(root).as_posix()}
        if self.hasher is not None:
            entry["sha256"] = self._known.get(p) or self.hasher.digest(p)
        return entry | {"size": p.stat().st_size, **extra}

    def merge(self, old: dict, fresh: dict) -> dict:
        """An existing entry refreshed; with --no-hash its old digest goes too (sizes only, as declared)."""
        merged = {**old, **fresh}
        if self.hasher is None:
            merged.pop("sha256", None)
        return merged


def keep_roles(old_files: object, new_files: list[dict]) -> list[dict]:
    """The file entries found, each with the role the manifest gave it (a human may correct init's guess)."""
    old = {f.get("path"): f for f in old_files or [] if isinstance(f, dict)} if isinstance(old_files, list) else {}
    for f in new_files:
        if (old.get(f["path"]) or {}).get("role"):
            f["role"] = old[f["path"]]["role"]
    return new_files


def _span(paths: list[str]) -> str:
    return paths[0] if len(paths) == 1 else f"{paths[0]} … {paths[-1]} ({len(paths)})"


def _records(path: Path):
    with open(path, "rb") as f:
        for line in f:
            try:
                yield json.loads(line)
            except ValueError:
                continue
