"""A declared file exists, stays inside the release and matches its declared size and hash."""

from __future__ import annotations

from audit.checks.base import Outcome
from audit.spec.rules import Rule
from audit.storage.files import UnsafePath
from audit.spec.manifest import FileEntry


def verify_file(release, entry: FileEntry, rules: dict[str, Rule], out: Outcome, *, hash_it: bool = True):
    """Check one declared file: inside the release, present, size and sha256 as declared (the digest
    comparison may come later: see :meth:`Release.when_hashed`).

    Returns the resolved path when the file is present and safe (even if its hash differs), else None.
    A file of a git revision whose LFS contents are not in the clone is checked against its pointer
    (sha256 and size) and counted in ``evidence["files_not_local"]``; None is returned.
    """
    gf = release.locate.git_file(entry.path)
    if gf is not None and gf.pointer is not None:
        p = gf.pointer
        if (entry.sha256 is not None and entry.sha256 != p.oid) or (entry.size is not None and entry.size != p.size):
            out.add(rules["pointer"], f"{entry.path}: the LFS pointer says sha256 {p.oid[:16]}… and {p.size} bytes, "
                                      f"the manifest {(entry.sha256 or '-')[:16]}… and {entry.size} bytes", entry.path)  # fmt: skip
        if gf.local is None:
            out.evidence["files_not_local"] = out.evidence.get("files_not_local", 0) + 1
            return None
    try:
        path = release.path(entry.path)
    except UnsafePath as exc:
        out.add(rules["unsafe"], str(exc), entry.path)
        return None
    if not path.is_file():
        out.add(rules["missing"], f"{entry.path} does not exist", entry.path)
        return None
    size = path.stat().st_size
    out.evidence["files_checked"] = out.evidence.get("files_checked", 0) + 1
    if entry.size is not None and size != entry.size:  # then the digest differs too: one finding says it
        out.add(rules["size"], f"{entry.path} is {size} bytes, manifest says {entry.size}", entry.path)
        return path
    if entry.sha256 is None:
        if hash_it:  # an audit that hashes nothing (--no-hash) has no digest to miss
            out.add(rules["nohash"], f"{entry.path} has no declared sha256", entry.path)
    elif hash_it:
        declared = entry.sha256

        def compare(actual: str | OSError) -> None:  # now, or once the background hashing has the digest
            if isinstance(actual, OSError):
                out.add(rules["missing"], f"{entry.path} cannot be read: {actual.strerror or actual}", entry.path)
            elif actual != declared:
                out.add(rules["sha"], f"{entry.path}: sha256 is {actual[:16]}…, manifest says {declared[:16]}…", entry.path)

        if release.when_hashed(entry.path, compare):  # False: another shard hashes it
            out.evidence["files_hashed"] = out.evidence.get("files_hashed", 0) + 1
            out.evidence["bytes_hashed"] = out.evidence.get("bytes_hashed", 0) + size
    return path
