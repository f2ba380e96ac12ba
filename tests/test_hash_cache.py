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


def _release_of(root):
    from audit.core.release import Release
    from audit.spec.manifest_loader import load_manifest

    manifest, digest, problems = load_manifest(root)
    assert manifest is not None, problems
    return Release(root=root, manifest=manifest, manifest_sha256=digest)


def test_background_hashing_answers_comparisons_asked_while_it_ran(release):
    r = _release_of(release)
    rels = r.declared_files()
    r.hash_in_background(lambda n: None)
    got: dict[str, str] = {}
    for rel in rels:  # asked while the threads hash (or after they finished): each answered once, by settle
        assert r.when_hashed(rel, lambda d, rel=rel: got.__setitem__(rel, d))
    r.settle_hashes()
    assert got == {rel: hashlib.sha256((release / rel).read_bytes()).hexdigest() for rel in rels}
    late = []
    assert r.when_hashed(rels[0], late.append) and late == [got[rels[0]]]  # after settling: at once, no rehash
    assert r.hasher.hashed_bytes == sum((release / rel).stat().st_size for rel in rels)
    r.close()


def test_a_file_that_cannot_be_read_is_named_not_raised(release):
    r = _release_of(release)
    rel = next(f for f in r.declared_files() if f.endswith(".safetensors"))
    (release / rel).unlink()
    r.hash_in_background(lambda n: None)
    got = []
    assert r.when_hashed(rel, got.append)
    r.settle_hashes()
    assert len(got) == 1 and isinstance(got[0], FileNotFoundError)
    r.close()


def test_cancelled_background_hashing_stops_its_threads(tmp_path):
    """A file that never ends (a FIFO fed until its reader goes): only cancel() can stop the hashing."""
    import threading

    import pytest

    from audit.storage.hashing import Cancelled

    fifo = tmp_path / "endless"
    os.mkfifo(fifo)

    def feed() -> None:
        try:
            with open(fifo, "wb") as f:
                while True:
                    f.write(bytes(1 << 20))
        except BrokenPipeError:  # the reader closed it: the hashing stopped
            pass

    writer = threading.Thread(target=feed, daemon=True)
    writer.start()
    first = threading.Event()
    pending = Hasher(workers=2).start([fifo], lambda n: first.set())
    assert first.wait(60), "the hashing thread read nothing"
    pending.cancel()  # what Release.close() does when the audit ends early
    assert not pending._thread.is_alive()
    with pytest.raises(Cancelled):
        pending.wait()
    writer.join(60)
    assert not writer.is_alive()
