"""Checkpoints published as git branches of the release's own repository, read from git objects.

LLM360 publishes each checkpoint as a branch of a Hugging Face model repository (Amber:
``ckpt_000`` … ``ckpt_359``; CrystalCoder: ``CrystalCoder_phase{N}_checkpoint_{step:06d}``). A
local clone has them as remote-tracking refs; nothing here checks a branch out or touches the
working tree. Large files are git-LFS pointers whose ``oid`` is the SHA-256 of the contents; the
contents are local only where ``git lfs pull`` fetched them into ``.git/lfs/objects``.

In the manifest a checkpoint with a ``revision`` and no ``path`` lives in that revision, and its
files are named ``REVISION:PATH`` (git's own notation), which keeps every file name unique.
"""

from __future__ import annotations

import re
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from audit.storage.files import UnsafePath, resolve_inside
from audit.storage.coderepo import _SAFE_ENV, _SAFE_OPTIONS, _git, blob_at

LFS_SPEC = b"version https://git-lfs.github.com/spec/v1"
#: A pointer file is small; anything larger is contents.
MAX_POINTER_BYTES = 1024

#: Branch names recognised as checkpoints out of the box: a step, or an index (the N-th checkpoint).
PATTERNS = (
    re.compile(r"CrystalCoder_phase(?P<phase>\d+)_checkpoint_(?P<step>\d+)"),
    re.compile(r"ckpt_(?P<index>\d+)"),
    re.compile(r"(?:step|checkpoint)[-_](?P<step>\d+)"),
)


class GitStoreError(ValueError):
    """The release's repository cannot be read; one line."""


@dataclass(frozen=True)
class LfsPointer:
    oid: str  # sha256 of the contents
    size: int


def parse_lfs_pointer(data: bytes) -> LfsPointer | None:
    """The pointer a git-LFS placeholder holds, or None if ``data`` is not one."""
    if len(data) > MAX_POINTER_BYTES or not data.startswith(LFS_SPEC):
        return None
    fields = dict(line.split(" ", 1) for line in data.decode("ascii", "replace").splitlines() if " " in line)
    oid, size = fields.get("oid", ""), fields.get("size", "")
    if not re.fullmatch(r"sha256:[0-9a-f]{64}", oid) or not size.isdigit():
        return None
    return LfsPointer(oid=oid[len("sha256:"):], size=int(size))


def split_ref(rel: str) -> tuple[str, str] | None:
    """``REVISION:PATH`` → (revision, path); None for a plain path."""
    rev, sep, path = rel.partition(":")
    return (rev, path) if sep and rev and path else None


def match_branch(name: str) -> dict[str, int] | None:
    """{"step": …} or {"index": …} (and "phase") for a recognised checkpoint branch name."""
    for pattern in PATTERNS:
        m = pattern.fullmatch(name)
        if m:
            return {k: int(v) for k, v in m.groupdict().items() if v is not None}
    return None


@dataclass
class GitFile:
    rev: str
    path: str
    size: int  # of the blob: the pointer's size for an LFS file
    pointer: LfsPointer | None
    local: Path | None  # a file with the contents, when available


class GitStore:
    """Read-only view of the branches and blobs of the repository at the release root."""

    def __init__(self, root: Path):
        git = _git()
        if not (root / ".git").exists():
            raise GitStoreError(f"{root} is not a git repository (checkpoints with a revision and no path live in one)")
        try:
            self.repo = git.Repo(root, search_parent_directories=False)
        except (git.InvalidGitRepositoryError, git.NoSuchPathError):
            raise GitStoreError(f"{root} is not a readable git repository") from None
        self.repo.git.update_environment(**_SAFE_ENV)
        self.repo.git.set_persistent_git_options(c=_SAFE_OPTIONS)
        self.root = root
        self._branches: dict[str, object] | None = None
        self._tmp: Path | None = None

    def branches(self) -> dict[str, object]:
        """Branch name → commit, local branches first, then remote-tracking ones (``origin/ckpt_000``)."""
        if self._branches is None:
            found: dict[str, object] = {}
            for ref in self.repo.references:
                path = ref.path  # refs/heads/x, refs/remotes/origin/x, refs/tags/x
                if path.startswith("refs/heads/"):
                    name = path[len("refs/heads/"):]
                elif path.startswith("refs/remotes/") and path.count("/") >= 3:
                    name = path.split("/", 3)[3]
                    if name == "HEAD" or name in found:
                        continue
                else:
                    continue
                try:
                    found.setdefault(name, ref.commit)
                except Exception:  # a symbolic, dangling or broken ref (several exception types)
                    continue
            self._branches = found
        return self._branches

    def files(self, rev: str) -> list[str]:
        """Paths of every file at ``rev`` (from the trees alone); a tree that cannot be read lists nothing."""
        commit = self.branches().get(rev)
        if commit is None:
            return []
        try:
            return [b.path for b in commit.tree.traverse() if b.type == "blob"]
        except Exception:  # a damaged repository (missing objects) raises several types; absent, not a crash
            return []

    def file(self, rev: str, path: str) -> GitFile | None:
        """The file at ``rev``, or None when it is absent or its objects cannot be read (a damaged repository)."""
        try:
            return self._file(rev, path)
        except GitStoreError:
            raise
        except Exception:  # gitdb/GitPython raise ValueError, BadObject, GitCommandError … for missing objects
            return None

    def _file(self, rev: str, path: str) -> GitFile | None:
        commit = self.branches().get(rev)
        blob = blob_at(commit, path) if commit is not None else None
        if blob is None:
            return None
        pointer = parse_lfs_pointer(blob.data_stream.read()) if blob.size <= MAX_POINTER_BYTES else None
        if pointer is not None:
            try:  # a symlinked object may not lead out of the release
                obj = resolve_inside(self.root, f".git/lfs/objects/{pointer.oid[:2]}/{pointer.oid[2:4]}/{pointer.oid}")
            except UnsafePath:
                obj = None
            return GitFile(rev, path, blob.size, pointer, obj if obj is not None and obj.is_file() else None)
        return GitFile(rev, path, blob.size, None, self._materialize(rev, path, blob))

    def _materialize(self, rev: str, path: str, blob) -> Path:
        """Write a (non-LFS) blob into a private temporary directory, streamed, once."""
        if self._tmp is None:
            self._tmp = Path(tempfile.mkdtemp(prefix="llm360-audit-git-"))
        try:
            dest = resolve_inside(self._tmp / "r", f"{rev}/{path}")
        except UnsafePath as exc:
            raise GitStoreError(str(exc)) from None
        if not dest.is_file():
            dest.parent.mkdir(parents=True, exist_ok=True)
            with open(dest, "wb") as f:
                self.repo.git.cat_file("blob", blob.hexsha, output_stream=f)
        return dest

    def close(self) -> None:
        self.repo.close()
        if self._tmp is not None:
            shutil.rmtree(self._tmp, ignore_errors=True)
