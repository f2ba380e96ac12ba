"""Parallel hashing and the hash cache: unchanged files come from the cache, changed files never do."""

from __future__ import annotations

import hashlib
import os

from audit.core.auditor import Auditor
from audit.core.options import AuditOptions, ScopeOptions
from audit.storage.hashing import HashCache, Hasher
from audit.replay import ReplayOptions
from conftest import flip_tensor_byte


def _audit(release, cache_dir=None, hash_files=True):
    return Auditor().audit(release, AuditOptions(replay=ReplayOptions(mode="none"),
                                                 scope=ScopeOptions(cache_dir=cache_dir, hash_files=hash_files)))  # fmt: skip


def test_parallel_digests_equal_hashlib(tmp_path):
    files = []
    for i, size in enumerate([0, 1, 4 << 20, (4 << 20) + 7, 9_999_999]):
        p = tmp_path / f"f{i}"
        p.write_bytes(os.urandom(size))
        files.append(p)
    seen = []
    got = Hasher(workers=3).digest_many(files, seen.append)
    assert got == {p: hashlib.sha256(p.read_bytes()).hexdigest() for p in files}
    assert sum(seen) == sum(p.stat().st_size for p in files)


def test_warm_audit_reads_the_cache(release, tmp_path):
    cold = _audit(release, tmp_path / "cache")
    assert cold.scope.hashes_from_cache == 0 and cold.scope.bytes_hashed > 3_000_000
    warm = _audit(release, tmp_path / "cache")
    assert warm.scope.bytes_hashed == 0 and warm.scope.hashes_from_cache == 41
    assert warm.verdict == "pass" and warm.criteria == cold.criteria
    assert not any(p.name == "hashes.sqlite" for p in release.rglob("*"))  # the cache lives outside the release


def test_a_file_changed_after_caching_is_rehashed_and_caught(release, tmp_path):
    _audit(release, tmp_path / "cache")
    path = release / "checkpoints" / "step_000020" / "model.safetensors"
    st = path.stat()
    flip_tensor_byte(path, at=-5, mask=0xFF)
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))  # same size, same mtime: only the ctime tells
    report = _audit(release, tmp_path / "cache")
    assert "checkpoints.sha256-mismatch" in {f.id for f in report.findings}
    assert report.scope.bytes_hashed == st.st_size and report.scope.hashes_from_cache == 40


def test_cache_entry_is_replaced_not_accumulated(tmp_path):
    cache = HashCache(tmp_path / "c")
    p = tmp_path / "x"
    p.write_bytes(b"one")
    Hasher(cache).digest(p)
    p.write_bytes(b"two!")
    assert Hasher(cache).digest(p) == hashlib.sha256(b"two!").hexdigest()
    assert cache._db.execute("SELECT COUNT(*) FROM hashes").fetchone()[0] == 1
    cache.close()


def test_no_hash_says_so(release):
    report = _audit(release, hash_files=False)
    assert report.scope.hashing == "off" and report.scope.bytes_hashed == 0
    assert "files_hashed" not in report.criteria["model_checkpoints"].evidence
