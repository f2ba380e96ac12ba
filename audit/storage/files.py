"""Safe paths inside a release, and atomic writes."""

from __future__ import annotations

import functools
import os
import signal
import tempfile
from contextlib import contextmanager
from pathlib import Path

from audit import interrupts


class UnsafePath(ValueError):
    """A path from release content points outside the release root."""


def resolve_inside(root: Path, rel: str, *, root_resolved: bool = False) -> Path:
    """Resolve ``rel`` against ``root``; refuse absolute paths, ``..`` escapes and symlinks leaving root."""
    if not rel or rel.startswith(("/", "\\")) or (len(rel) > 1 and rel[1] == ":"):
        raise UnsafePath(f"{rel!r} is not a relative path inside the release")
    if not root_resolved:
        root = root.resolve()
    candidate = (root / rel).resolve()
    if candidate != root and root not in candidate.parents:
        raise UnsafePath(f"{rel!r} resolves outside the release ({candidate})")
    return candidate


@functools.cache
def _file_mode() -> int:
    """The mode a new file gets under the process umask (mkstemp's own 0600 would hide reports)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return 0o666 & ~mask


def _staged(path: Path, mode: int | None = None) -> tuple[int, str]:
    """A temporary sibling of ``path`` with ``mode``, else the umask's: (descriptor, its path)."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.fchmod(fd, _file_mode() if mode is None else mode)
    return fd, tmp


def write_atomic(path: Path, data: str | bytes, mode: int | None = None) -> None:
    """Write to a temporary file next to ``path`` and rename it into place (``mode``, else from the umask)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = data.encode() if isinstance(data, str) else data
    fd, tmp = _staged(path, mode)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(payload)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


@contextmanager
def signals_deferred():
    """Hold SIGINT and SIGTERM until the block ends (a set of renames is not interrupted halfway)."""
    held = {signal.SIGINT, signal.SIGTERM}
    old = signal.pthread_sigmask(signal.SIG_BLOCK, held)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)


def write_all_atomic(files: dict[Path, str | bytes]) -> None:
    """Write every file to a temporary sibling, then rename them all with signals held: an
    interruption leaves the previous complete set or the new complete set, never a mix."""
    staged: list[tuple[str, Path]] = []
    try:
        interrupts.check()
        for path, data in files.items():
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = _staged(path)
            staged.append((tmp, path))
            with os.fdopen(fd, "wb") as f:  # no fsync per file: the renames below are what readers see
                f.write(data.encode() if isinstance(data, str) else data)
        with signals_deferred():
            interrupts.check()  # one that arrived while staging: the previous set stays
            for tmp, path in staged:
                os.replace(tmp, path)
            staged = []
    finally:
        for tmp, _ in staged:
            Path(tmp).unlink(missing_ok=True)
