"""What was read from a file, kept while the file is unchanged: the cache key is its path with its size and
modification time, so a file rewritten in place (a test's tampering, a user's fix) is read again."""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")


def while_unchanged(maxsize: int) -> Callable[[Callable[[Path, str], T]], Callable[[Path, str], T]]:
    """Decorate ``read(path, rel)``: one call per (file, size, mtime) among the last ``maxsize``; the file's
    ``stat`` raises OSError as the read would."""

    def decorate(read: Callable[[Path, str], T]) -> Callable[[Path, str], T]:
        @functools.lru_cache(maxsize=maxsize)
        def cached(path: str, rel: str, size: int, mtime_ns: int) -> T:
            return read(Path(path), rel)

        @functools.wraps(read)
        def call(path: Path, rel: str) -> T:
            st = path.stat()
            return cached(str(path), rel, st.st_size, st.st_mtime_ns)

        return call

    return decorate
