"""Reads kept while a file is unchanged (audit.readers.file_cache): read once, read again once rewritten."""

from __future__ import annotations

import os

from audit.readers.file_cache import while_unchanged


def test_a_read_is_kept_until_the_file_changes(tmp_path):
    reads = []

    @while_unchanged(maxsize=4)
    def read(path, rel):
        reads.append(rel)
        return path.read_bytes()

    f = tmp_path / "x.bin"
    f.write_bytes(b"one")
    assert read(f, "x.bin") == b"one" and read(f, "x.bin") == b"one" and reads == ["x.bin"]
    st = f.stat()
    f.write_bytes(b"two")  # same size: only the modification time tells
    os.utime(f, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000))
    assert read(f, "x.bin") == b"two" and reads == ["x.bin", "x.bin"]
    f.unlink()
    try:
        read(f, "x.bin")
    except FileNotFoundError:
        pass
    else:
        raise AssertionError("a file gone must raise, not come from the cache")
