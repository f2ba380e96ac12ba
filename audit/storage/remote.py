"""Components published elsewhere: a Hugging Face repository or a git URL, declared in the manifest.

The audit never downloads anything. A remote component is checked where ``--resolve-local``
maps it to a local clone, and otherwise reported as not fetched (a warning, never a crash).
References are compared by a canonical key, so ``LLM360/Amber``, ``hf://LLM360/Amber`` and
``https://huggingface.co/LLM360/Amber.git`` are the same repository.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

HF_HOST = "huggingface.co"
_HF_ID = re.compile(r"[A-Za-z0-9][\w.-]*/[\w.-]+")


class ResolveError(ValueError):
    """A --resolve-local value that cannot be used; one line."""


def is_remote(ref: str) -> bool:
    """Whether a repository reference is a URL or an scp-like git address (``git@host:owner/name``).

    A bare ``owner/name`` is a Hugging Face id only where the manifest expects a published repository
    (``checkpoints_source``, ``data.source``); for ``code.repo`` it is a path inside the release."""
    return "://" in ref or ref.startswith("git@")


def canonical(ref: str) -> str:
    """``host/owner/name`` for a repository reference (URL, scp-like git address or HF repo id)."""
    ref = ref.strip()
    if ref.startswith("hf://"):
        ref = f"{HF_HOST}/{ref[len('hf://'):]}"
    elif _HF_ID.fullmatch(ref):
        ref = f"{HF_HOST}/{ref}"
    else:
        m = re.fullmatch(r"(?:[a-z+]+://)?(?:[^@/]+@)?([^/:]+)[:/](.+)", ref)
        if m is None:
            return ref
        ref = f"{m[1].lower()}/{m[2]}"
    ref = ref.rstrip("/")
    ref = ref[: -len(".git")] if ref.endswith(".git") else ref
    if ref.startswith(f"{HF_HOST}/models/"):
        ref = HF_HOST + "/" + ref[len(f"{HF_HOST}/models/"):]
    return ref


def _remote_urls(path: Path) -> list[str]:
    """URLs of the remotes of the git repository at ``path`` (read from its config, git not run)."""
    import configparser

    cfg = path / ".git" / "config"
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    try:
        parser.read_string(cfg.read_text(errors="replace"))
    except (OSError, configparser.Error):
        return []
    return [parser[s]["url"] for s in parser.sections() if s.startswith("remote ") and "url" in parser[s]]


@dataclass
class Resolver:
    """Canonical repository key → local clone, from ``--resolve-local``."""

    clones: dict[str, Path] = field(default_factory=dict)

    @classmethod
    def from_options(cls, values: list[str]) -> "Resolver":
        """Each value is ``PATH`` (a clone: its remotes say what it is) or ``REF=PATH``."""
        r = cls()
        for value in values:
            ref, sep, path_text = value.rpartition("=")
            path = Path(path_text if sep else value).expanduser().resolve()
            if not path.is_dir():
                raise ResolveError(f"--resolve-local {value}: {path} is not a directory")
            if sep:
                r.clones[canonical(ref)] = path
                continue
            urls = _remote_urls(path)
            if not urls:
                raise ResolveError(f"--resolve-local {value}: {path} is a not a clone with a remote; use REF=PATH")
            for url in urls:
                r.clones[canonical(url)] = path
        return r

    def find(self, ref: str) -> Path | None:
        return self.clones.get(canonical(ref))
