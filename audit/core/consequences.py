"""Consequential findings linked to their root cause: a file or directory that is missing (or unsafe)
explains every other finding about what lies in it — one deleted checkpoint is one problem, not three.
The consequences stay in the report (and count for the verdict); reporters show them under their cause."""

from __future__ import annotations

import re

from audit.spec.report import Cause, Finding

#: Rules whose finding is a root cause: the file or directory at its path is not there to look at.
ROOT_SUFFIXES = (".missing", ".file-missing", ".unsafe-path")


def _within(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip("/") + "/")


def _mentions(message: str, root: str) -> bool:
    """Whether the message names ``root`` or a path under it, as a whole path (not a suffix of another)."""
    return re.search(rf"(?:^|[\s(]){re.escape(root.rstrip('/'))}(?:$|[\s/:,;)])", message) is not None


def link(findings: list[Finding]) -> None:
    """Set ``cause`` on each finding that follows from a missing or unsafe path (a root cause found by
    another criterion, or earlier by the same one)."""
    roots = [(i, f) for i, f in enumerate(findings) if f.path and f.id.endswith(ROOT_SUFFIXES)]
    if not roots:
        return
    for i, f in enumerate(findings):
        if f.cause is not None:
            continue
        is_root = bool(f.path) and f.id.endswith(ROOT_SUFFIXES)
        for j, r in roots:
            if j == i or (is_root and j > i):
                continue  # a root cause is explained only by an earlier one
            if _within(f.path, r.path) if f.path else _mentions(f.message, r.path):  # a path-less replay finding
                f.cause = Cause(id=r.id, path=r.path)
                break
