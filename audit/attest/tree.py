"""The release's files as model_signing's ``files`` serialization lists them, and their digests.

model_signing (1.1.1) walks every path under the model directory, refuses symbolic links and special
files (with ``allow_symlinks`` false, as here), and leaves out the git paths at the top level
(:data:`GIT_PATHS`); names are POSIX paths relative to the root, ordered by their components."""

from __future__ import annotations

import os
import stat
from pathlib import Path, PurePosixPath

from audit.storage.hashing import HashCache, Hasher

#: model_signing's default ignored paths (``ignore_git_paths``), as it records them in the statement.
GIT_PATHS = (".git", ".gitattributes", ".github", ".gitignore")


class TreeProblem(ValueError):
    """A release model_signing cannot serialize (a symlink, a special file): one line."""


def release_files(root: Path) -> list[str]:
    """Every regular file under ``root`` except the git paths, release-relative, in model_signing's order."""
    out: list[str] = []
    for dirpath, dirnames, filenames in os.walk(root, onerror=_raise):
        for name in sorted(dirnames + filenames):
            path = Path(dirpath) / name
            rel = path.relative_to(root).as_posix()
            st = path.lstat()
            if stat.S_ISLNK(st.st_mode):
                raise TreeProblem(f"{rel} is a symbolic link: model_signing cannot sign or verify a release holding one")
            if rel.split("/")[0] in GIT_PATHS:
                continue
            if stat.S_ISREG(st.st_mode):
                out.append(rel)
            elif not stat.S_ISDIR(st.st_mode):
                raise TreeProblem(f"{rel} is not a regular file or directory")
        dirnames[:] = [d for d in dirnames if (Path(dirpath) / d).relative_to(root).as_posix() not in GIT_PATHS]
    return sorted(out, key=lambda rel: PurePosixPath(rel).parts)


def _raise(exc: OSError) -> None:
    raise exc


def digests(root: Path, names: list[str], known: dict[str, str], cache_dir: Path | None) -> dict[str, str]:
    """SHA-256 of each file: from ``known`` (what the audit verified) when given, else through the hash
    cache (unchanged files cost a lookup). Raises OSError for a file that cannot be read."""
    todo = {root / rel: rel for rel in names if rel not in known}
    out = {rel: known[rel] for rel in names if rel in known}
    cache = HashCache(cache_dir) if cache_dir is not None and todo else None
    try:
        for path, digest in Hasher(cache).digest_many(todo).items():
            if isinstance(digest, OSError):
                raise digest
            out[todo[path]] = digest
    finally:
        if cache is not None:
            cache.close()
    return {rel: out[rel] for rel in names}
