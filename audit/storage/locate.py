"""Where a manifest path's contents are: the release directory, a checkpoint branch of a git
repository (``REVISION:PATH``), or the local clone of a remote component (``--resolve-local``).

Every path is resolved inside its root (no ``..``, no absolute paths, no symlink out); contents
that are not available resolve to a path that can never exist, so checks report them as missing
unless they know better (a git-LFS pointer, a remote not fetched)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from audit.storage.files import resolve_inside
from audit.storage.gitstore import GitFile, GitStore, GitStoreError, split_ref
from audit.spec.manifest import Manifest
from audit.storage.remote import Resolver

#: Where contents that are not available resolve: /dev/null is no directory, so nothing is under it.
ABSENT = Path(os.devnull)


@dataclass
class Locator:
    root: Path  # resolved
    manifest: Manifest
    resolver: Resolver = field(default_factory=Resolver)
    _dirs: dict[str, Path] = field(default_factory=dict)  # resolved directories of the release
    _files: dict[str, Path] = field(default_factory=dict)  # resolved files that are no symlinks
    _store: GitStore | GitStoreError | None = None
    _git_files: dict[str, GitFile | None] = field(default_factory=dict)
    _git_revisions: set[str] = field(default_factory=set)  # checkpoints published as branches
    _remote_data: set[str] = field(default_factory=set)  # paths relative to data.source

    def __post_init__(self) -> None:
        m = self.manifest
        self._git_revisions = {c.revision for c in m.checkpoints if c.revision and c.path is None}
        if m.data is not None and m.data.source is not None:
            self._remote_data = {e.path for c in m.data.chunks for e in (c, c.index) if e is not None}
            self._remote_data |= {m.data.order.global_indices.path} if m.data.order.global_indices else set()

    def path(self, rel: str) -> Path:
        """The local file holding ``rel``'s contents (raises :class:`audit.storage.files.UnsafePath`)."""
        gf = self.git_file(rel)
        if gf is not None and gf.local is not None:
            return gf.local
        if gf is not None or (split_ref(rel) or ("",))[0] in self._git_revisions:
            return ABSENT / rel.replace(":", "/")
        if rel in self._remote_data:
            data_root = self.data_root()
            return ABSENT / rel if data_root is None else resolve_inside(data_root, rel)
        return self._resolve(rel)

    def _resolve(self, rel: str) -> Path:
        """resolve_inside(root, rel), each directory resolved once: a file that is not a symlink resolves
        to its resolved directory / its name (one lstat instead of a walk of every component)."""
        hit = self._files.get(rel)
        if hit is not None:
            return hit
        head, _, name = rel.rpartition("/")
        if not head or name in ("", ".", "..") or "\\" in rel:
            return resolve_inside(self.root, rel, root_resolved=True)
        parent = self._dirs.get(head)
        if parent is None:
            parent = self._dirs[head] = resolve_inside(self.root, head, root_resolved=True)
        candidate = parent / name
        if os.path.islink(candidate):
            return resolve_inside(self.root, rel, root_resolved=True)
        self._files[rel] = candidate  # each check asks again: resolved once per audit
        return candidate

    def remote(self, ref: str | None) -> Path | None:
        """The local clone --resolve-local gives for a remote reference (None: not fetched)."""
        return None if ref is None else self.resolver.find(ref)

    def checkpoint_root(self) -> Path | None:
        """The repository whose branches hold the revision checkpoints; None when remote and not fetched."""
        src = self.manifest.checkpoints_source
        return self.root if src is None else self.remote(src.repo)

    def data_root(self) -> Path | None:
        """Where the chunk paths are relative to; None when the data is remote and not fetched."""
        src = self.manifest.data.source if self.manifest.data else None
        return self.root if src is None else self.remote(src.repo)

    def git_store(self) -> GitStore:
        """The repository of the checkpoint branches (raises :class:`GitStoreError`)."""
        if self._store is None:
            root = self.checkpoint_root()
            try:
                if root is None:
                    src = self.manifest.checkpoints_source
                    raise GitStoreError(f"{src.repo} is remote and not fetched (--resolve-local PATH maps it to a clone)")
                self._store = GitStore(root)
            except GitStoreError as exc:
                self._store = exc
        if isinstance(self._store, GitStoreError):
            raise self._store
        return self._store

    def git_file(self, rel: str) -> GitFile | None:
        """The git blob behind ``REVISION:PATH`` of a checkpoint published as a revision; None otherwise."""
        ref = split_ref(rel)
        if ref is None or ref[0] not in self._git_revisions:
            return None
        if rel not in self._git_files:
            try:
                self._git_files[rel] = self.git_store().file(*ref)
            except GitStoreError:
                self._git_files[rel] = None
        return self._git_files[rel]

    def unfetched(self, rel: str) -> bool:
        """A file of a checkpoint branch whose contents are not in the clone (an LFS pointer only)."""
        gf = self.git_file(rel)
        return gf is not None and gf.local is None

    def close(self) -> None:
        if isinstance(self._store, GitStore):
            self._store.close()
