"""Read-only access to the release's training code: a git bundle, a repository directory, or a remote.

The repository is release content, hence untrusted: git runs with hooks and fsmonitor disabled and
without system or global configuration, and bundles are cloned bare into a temporary directory.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from typing import TYPE_CHECKING

from audit.storage.files import UnsafePath, resolve_inside

_SAFE_OPTIONS = ["core.fsmonitor=false", "core.hooksPath=/dev/null", "protocol.ext.allow=never"]
_SAFE_ENV = {"GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": os.devnull, "GIT_TERMINAL_PROMPT": "0"}


if TYPE_CHECKING:
    import git


def _git():
    """GitPython, imported on first use (it costs ~35 ms that a --no-code audit need not pay)."""
    import git

    return git


def blob_at(commit, path: str):
    """The file ``path`` in a commit's tree, or None (absent, or a directory)."""
    try:
        blob = commit.tree / path
    except KeyError:
        return None
    return blob if blob.type == "blob" else None


class CodeRepoError(ValueError):
    """The code repository could not be opened; the message is one line."""


@dataclass
class CodeRepo:
    kind: str  # "bundle" | "directory"
    repo: git.Repo
    _tmp: str | None = None

    @classmethod
    def open(cls, root: Path, ref: str) -> "CodeRepo":
        git = _git()
        try:
            path = resolve_inside(root, ref)
        except UnsafePath as exc:
            raise CodeRepoError(str(exc)) from None
        if not path.exists():
            raise CodeRepoError(f"{ref} does not exist")
        try:
            if path.is_file():
                tmp = tempfile.mkdtemp(prefix="llm360-audit-code-")
                try:
                    with git.Git().custom_environment(**_SAFE_ENV):
                        git.Git().execute(
                            ["git", *sum((["-c", o] for o in _SAFE_OPTIONS), []), "clone", "--quiet",
                             "--bare", "--mirror", str(path), tmp],
                        )
                except git.GitCommandError as exc:
                    shutil.rmtree(tmp, ignore_errors=True)
                    detail = (exc.stderr or "").strip().splitlines()
                    raise CodeRepoError(
                        f"{ref} is not a readable git bundle: {detail[-1] if detail else exc.status}"
                    ) from None
                return cls._wrap("bundle", git.Repo(tmp), tmp)
            return cls._wrap("directory", git.Repo(path, search_parent_directories=False))
        except (git.InvalidGitRepositoryError, git.NoSuchPathError):
            raise CodeRepoError(f"{ref} is not a git repository") from None

    @classmethod
    def open_dir(cls, path: Path) -> "CodeRepo":
        """A repository directory outside the release: a local clone named by --resolve-local."""
        git = _git()
        try:
            return cls._wrap("directory", git.Repo(path, search_parent_directories=False))
        except (git.InvalidGitRepositoryError, git.NoSuchPathError):
            raise CodeRepoError(f"{path} is not a git repository") from None

    @classmethod
    def _wrap(cls, kind: str, repo: git.Repo, tmp: str | None = None) -> "CodeRepo":
        repo.git.update_environment(**_SAFE_ENV)
        repo.git.set_persistent_git_options(c=_SAFE_OPTIONS)
        return cls(kind=kind, repo=repo, _tmp=tmp)

    def commit(self, sha: str) -> git.Commit | None:
        git = _git()
        try:  # repo.commit() is lazy and accepts absent objects: ask git whether it exists
            if self.repo.git.cat_file("-t", sha) != "commit":
                return None
            return self.repo.commit(sha)
        except (git.BadName, ValueError, git.GitCommandError):
            return None

    def read_at(self, sha: str, path: str) -> bytes | None:
        commit = self.commit(sha)
        blob = blob_at(commit, path) if commit is not None else None
        return None if blob is None else blob.data_stream.read()

    def export(self, sha: str, dest: Path) -> None:
        """Check the commit out into ``dest`` (a temporary directory), never touching the release.

        A bundle's temporary mirror gets a detached worktree; a repository directory is cloned first.
        """
        if self.kind == "bundle":
            self.repo.git.worktree("add", "--detach", str(dest), sha)
            return
        clone = _git().Repo.clone_from(self.repo.git_dir, dest, no_checkout=True, env=_SAFE_ENV)
        try:
            clone.git.update_environment(**_SAFE_ENV)
            clone.git.set_persistent_git_options(c=_SAFE_OPTIONS)
            clone.git.checkout("--detach", sha)
        finally:
            clone.close()

    def dirty_files(self) -> list[str] | None:
        """Modified, staged or untracked files of a directory repository (None for a bundle)."""
        if self.kind != "directory":
            return None
        out = self.repo.git.status("--porcelain", "--untracked-files=all")
        return [line[3:] for line in out.splitlines() if line.strip()]

    def head_sha(self) -> str | None:
        try:
            return self.repo.head.commit.hexsha
        except (ValueError, TypeError):
            return None

    def close(self) -> None:
        self.repo.close()
        if self._tmp:
            shutil.rmtree(self._tmp, ignore_errors=True)
