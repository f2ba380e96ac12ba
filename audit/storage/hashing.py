"""Parallel, streaming SHA-256 of release files, with a cache outside the release.

Files are hashed concurrently (hashlib releases the GIL on large updates), each streamed in 4 MiB
blocks, so memory stays flat whatever the file size; :meth:`Hasher.start` does it in the background
while the caller goes on (the audit's structural checks run meanwhile). The cache maps a file's identity — path, size,
mtime, ctime, inode and device — to its digest: any change to the file (even one that restores
the mtime, which cannot restore the ctime) makes it miss and the file is hashed again.
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
import threading
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from audit import interrupts

BLOCK = 4 << 20
SCHEMA = """CREATE TABLE IF NOT EXISTS hashes (
    path TEXT, size INTEGER, mtime_ns INTEGER, ctime_ns INTEGER, ino INTEGER, dev INTEGER, sha256 TEXT,
    PRIMARY KEY (path, size, mtime_ns, ctime_ns, ino, dev))"""


def default_cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "llm360-audit"


def _identity(path: Path, st: os.stat_result) -> tuple:
    return (str(path), st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino, st.st_dev)


class HashCache:
    """SQLite file in the cache directory; safe to share between concurrent audits.

    Best-effort: when the cache cannot be opened, read or written (a read-only home, a full disk, a
    locked or corrupt database) it turns itself off, keeps the first reason in :attr:`problem`, and
    the audit goes on hashing every file; it never raises."""

    def __init__(self, directory: Path):
        self.path = directory / "hashes.sqlite"
        self.problem: str | None = None
        self._lock = threading.Lock()
        self._db: sqlite3.Connection | None = None
        try:
            directory.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(self.path, timeout=5, check_same_thread=False)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute(SCHEMA)
        except (OSError, sqlite3.Error) as exc:
            self._off(exc)

    def _off(self, exc: BaseException) -> None:
        """Stop using the cache; remember why (the first reason only)."""
        detail = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        self.problem = self.problem or f"{self.path}: {detail}"
        db, self._db = self._db, None
        if db is not None:
            try:
                db.close()
            except sqlite3.Error:
                pass

    def get(self, path: Path, st: os.stat_result) -> str | None:
        with self._lock:
            if self._db is None:
                return None
            try:
                row = self._db.execute(
                    "SELECT sha256 FROM hashes WHERE path=? AND size=? AND mtime_ns=? AND ctime_ns=? AND ino=? AND dev=?",
                    _identity(path, st),
                ).fetchone()
            except sqlite3.Error as exc:
                self._off(exc)
                return None
        return row[0] if row else None

    def put(self, path: Path, st: os.stat_result, digest: str) -> None:
        with self._lock:
            if self._db is None:
                return
            try:
                self._db.execute("DELETE FROM hashes WHERE path=?", (str(path),))
                self._db.execute("INSERT OR REPLACE INTO hashes VALUES (?,?,?,?,?,?,?)", (*_identity(path, st), digest))
                self._db.commit()
            except sqlite3.Error as exc:
                self._off(exc)

    def close(self) -> None:
        with self._lock:
            if self._db is not None:
                self._db.close()
                self._db = None


def _sequential(fd: int) -> None:
    """Ask for a larger kernel read-ahead, so reading overlaps hashing on cold disks (a hint; Linux)."""
    try:
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_SEQUENTIAL)
    except (AttributeError, OSError):
        pass


def sha256_stream(path: Path, on_bytes: Callable[[int], None] = lambda n: None) -> str:
    h = hashlib.sha256()
    buf = bytearray(BLOCK)
    view = memoryview(buf)
    with open(path, "rb", buffering=0) as f:
        _sequential(f.fileno())
        while n := f.readinto(buf):
            interrupts.check()  # hashing threads stop at their next block, not at the end of the file
            h.update(view[:n])
            on_bytes(n)
    return h.hexdigest()


class Hasher:
    """Hashes files once each, from the cache when it can, in parallel when asked for many."""

    def __init__(self, cache: HashCache | None = None, workers: int | None = None):
        self.cache = cache
        self.workers = workers or min(8, os.cpu_count() or 1)
        self.from_cache = 0
        self.hashed_bytes = 0
        self._lock = threading.Lock()

    def digest(self, path: Path, on_bytes: Callable[[int], None] = lambda n: None) -> str:
        st = path.stat()
        if self.cache is not None and (hit := self.cache.get(path, st)) is not None:
            with self._lock:
                self.from_cache += 1
            return hit
        digest = sha256_stream(path, on_bytes)
        with self._lock:
            self.hashed_bytes += st.st_size
        if self.cache is not None and _identity(path, path.stat()) == _identity(path, st):  # unchanged meanwhile
            self.cache.put(path, st, digest)
        return digest

    def digest_many(self, paths: Iterable[Path], on_bytes: Callable[[int], None] = lambda n: None) -> dict[Path, str | OSError]:
        """Digest of each path (or the OSError that stopped it), largest files first across the workers."""
        unique = sorted(set(paths), key=lambda p: -_size(p))
        lock = threading.Lock()

        def progress(n: int) -> None:
            with lock:
                on_bytes(n)

        def one(p: Path) -> str | OSError:
            try:
                return self.digest(p, progress)
            except OSError as exc:
                return exc

        with ThreadPoolExecutor(max_workers=self.workers) as pool:
            return dict(zip(unique, pool.map(one, unique)))

    def start(self, paths: Iterable[Path], on_bytes: Callable[[int], None] = lambda n: None) -> BackgroundDigests:
        """:meth:`digest_many` in the background."""
        return BackgroundDigests(self, paths, on_bytes)


class Cancelled(Exception):
    """Background hashing was stopped (:meth:`BackgroundDigests.cancel`) before it finished."""


class BackgroundDigests:
    """:meth:`Hasher.digest_many` running in a thread of its own; :meth:`wait` gives its result."""

    def __init__(self, hasher: Hasher, paths: Iterable[Path], on_bytes: Callable[[int], None]):
        self.paths = frozenset(paths)
        self._stop = threading.Event()
        self._result: dict[Path, str | OSError] = {}
        self._error: BaseException | None = None

        def progress(n: int) -> None:
            if self._stop.is_set():
                raise Cancelled
            on_bytes(n)

        def run() -> None:
            try:
                self._result = hasher.digest_many(self.paths, progress)
            except BaseException as exc:  # an interrupt, or Cancelled: re-raised (or dropped) by wait()
                self._error = exc

        self._thread = threading.Thread(target=run, name="llm360-audit-hashing", daemon=True)
        self._thread.start()

    def wait(self) -> dict[Path, str | OSError]:
        """Each path's digest (or the OSError that stopped it), once every file is hashed; re-raises an
        interrupt that stopped the hashing threads."""
        self._thread.join()
        if self._error is not None:
            raise self._error
        return self._result

    def cancel(self) -> None:
        """Stop at each thread's next block and wait for them (the audit ended without the digests)."""
        self._stop.set()
        self._thread.join()


def _size(p: Path) -> int:
    try:
        return p.stat().st_size
    except OSError:
        return 0
