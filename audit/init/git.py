"""``init`` for a clone of a model repository whose checkpoints are branches (see audit.storage.gitstore).

Each recognised branch becomes a checkpoint with ``revision`` set, no ``path``, and files named
``REVISION:PATH``; digests and sizes come from the git-LFS pointers where the files are pointers
(no download needed) and from the blobs otherwise. Nothing is checked out.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from audit.init.common import keep_roles
from audit.storage.gitstore import GitStore, GitStoreError, match_branch
from audit.spec.names import MANIFEST_NAME
from audit.storage.hashing import sha256_stream

#: Repository plumbing, not checkpoint content.
SKIPPED = {".gitattributes", ".gitignore", MANIFEST_NAME}


def is_git_checkpoint(entry: object) -> bool:
    return isinstance(entry, dict) and entry.get("path") is None and isinstance(entry.get("revision"), str)


def branch_checkpoints(root: Path, existing: dict[str, dict], role: Callable[[str], str | None],
                       drop: Callable[[str, str], None], because: Callable[[str, str, str], None],
                       ) -> tuple[list[dict], dict[str, int]]:  # fmt: skip
    """(checkpoint entries, revision → index for index-numbered branches such as ckpt_000). ``drop(path,
    reason)`` is told of each file left out, ``because(entry, field, source)`` where a step came from."""
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
            new = not entry
            if "step" in m and entry.get("step") != m["step"]:
                because(f"@{name}", "step", "the branch name")
                entry["step"] = m["step"]
            if "index" in m:
                indexed[name] = m["index"]
            files = []
            for path in store.files(name):
                if path.rsplit("/", 1)[-1] in SKIPPED:
                    continue
                gf = store.file(name, path)
                if gf is None:
                    drop(f"{name}:{path}", "cannot be read from the repository (a missing object?)")
                    continue
                if gf.pointer is not None:
                    sha, size = gf.pointer.oid, gf.pointer.size
                else:
                    sha, size = sha256_stream(gf.local), gf.local.stat().st_size
                files.append({"path": f"{name}:{path}", "sha256": sha, "size": size,
                              "role": role(path.rsplit("/", 1)[-1]) or "other"})  # fmt: skip
            if new:
                because(f"@{name}", "checkpoint", f"a branch, {len(files)} files, "
                        + (f"step {m['step']}" if "step" in m else f"checkpoint index {m['index']}"))  # fmt: skip
            entry["revision"] = name
            entry["files"] = keep_roles(entry.get("files"), files)
            entry.setdefault("state", [s for s in ("weights", "optimizer") if any(f["role"] == s for f in files)])
            entries.append(entry)
        for gone in existing:
            because(f"@{gone}", "checkpoint", "no longer a branch of the repository")
        return entries, indexed
    finally:
        store.close()
