"""``init`` for a clone of a model repository whose checkpoints are branches (see audit.storage.gitstore).

Each recognised branch becomes a checkpoint with ``revision`` set, no ``path``, and files named
``REVISION:PATH``; digests and sizes come from the git-LFS pointers where the files are pointers
(no download needed) and from the blobs otherwise. Nothing is checked out.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from audit.storage.gitstore import GitStore, GitStoreError, match_branch
from audit.spec.names import MANIFEST_NAME
from audit.storage.hashing import sha256_stream

#: Repository plumbing, not checkpoint content.
SKIPPED = {".gitattributes", ".gitignore", MANIFEST_NAME}


def is_git_checkpoint(entry: object) -> bool:
    return isinstance(entry, dict) and entry.get("path") is None and isinstance(entry.get("revision"), str)


def branch_checkpoints(root: Path, existing: dict[str, dict], role: Callable[[str], str | None],
                       note: Callable[[str], None]) -> tuple[list[dict], dict[str, int]]:  # fmt: skip
    """(checkpoint entries, revision → index for index-numbered branches such as ckpt_000)."""
    try:
        store = GitStore(root)
    except GitStoreError:
        return [], {}
    try:
        found = {name: m for name in store.branches() if (m := match_branch(name)) is not None}
        entries, indexed = [], {}
        for name in sorted(found, key=lambda n: (found[n].get("phase", 0), found[n].get("step", found[n].get("index", 0)))):
            m = found[name]
            entry = existing.pop(name, None) or {}
            if "step" in m and entry.get("step") != m["step"]:
                entry["step"] = m["step"]
            if "index" in m:
                indexed[name] = m["index"]
            files = []
            for path in store.files(name):
                if path.rsplit("/", 1)[-1] in SKIPPED:
                    continue
                gf = store.file(name, path)
                if gf is None:
                    note(f"{name}:{path} cannot be read from the repository (a missing object?); not listed")
                    continue
                if gf.pointer is not None:
                    sha, size = gf.pointer.oid, gf.pointer.size
                else:
                    sha, size = sha256_stream(gf.local), gf.local.stat().st_size
                files.append({"path": f"{name}:{path}", "sha256": sha, "size": size,
                              "role": role(path.rsplit("/", 1)[-1]) or "other"})  # fmt: skip
            before = {f.get("path"): f for f in entry.get("files") or [] if isinstance(f, dict)}
            if not before:
                note(f"added checkpoint branch {name} ({len(files)} files" +
                     (f", step {m['step']})" if "step" in m else f", checkpoint index {m['index']})"))
            elif [(f["path"], f["sha256"]) for f in files] != [(f.get("path"), f.get("sha256")) for f in before.values()]:
                note(f"updated files of checkpoint branch {name}")
            for f in files:
                if before.get(f["path"], {}).get("role"):
                    f["role"] = before[f["path"]]["role"]
            entry["revision"] = name
            entry["files"] = files
            entry.setdefault("state", [s for s in ("weights", "optimizer") if any(f["role"] == s for f in files)])
            entries.append(entry)
        for gone in existing:
            note(f"removed checkpoint branch {gone} (no longer a branch of the repository)")
        return entries, indexed
    finally:
        store.close()
