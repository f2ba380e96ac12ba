"""What a manifest drafted by init describes, and what it lacks: the closing summary of ``init``."""

from __future__ import annotations

from pathlib import Path

from audit.init.common import _role
from audit.storage.remote import is_remote


def _checkpoints(doc: dict) -> str | None:
    cks = [c for c in doc.get("checkpoints") or [] if isinstance(c, dict)]
    if not cks:
        return None
    steps = [c["step"] for c in cks if type(c.get("step")) is int]
    span = f", steps {min(steps)}–{max(steps)}" if steps else ""
    with_optimizer = sum(1 for c in cks if "optimizer" in (c.get("state") or []))
    return f"checkpoints: {len(cks)}{span}, {with_optimizer} with optimizer state"


def _root_checkpoint(root: Path) -> str | None:
    """A checkpoint whose files lie at the release root (a model repository's main branch) has no step."""
    names = sorted(p.name for p in root.iterdir() if p.is_file() and _role(p.name) is not None)
    if any(_role(n) == "weights" for n in names) and "config.json" in names:
        return (f"a checkpoint at the release root ({', '.join(names[:4])}) has no step init can read: "
                "give it with `llm360-audit init RELEASE --root-step N`")  # fmt: skip
    return None


def inventory(doc: dict, root: Path) -> tuple[list[str], list[str]]:
    """(what was found, what was not), one phrase each."""
    found, missing = [], []
    ck = _checkpoints(doc)
    found.append(ck) if ck else missing.append(_root_checkpoint(root) or "checkpoints (no directory with weights)")
    data = doc.get("data") or {}
    chunks = data.get("chunks") or []
    if chunks:
        kind = (data.get("format") or {}).get("kind", "jsonl-token-ids")
        found.append(f"data: {len(chunks)} chunks ({kind})")
    else:
        missing.append("data chunks (no JSONL, npy, Megatron or Parquet token files)")
    metrics = doc.get("metrics") or {}
    for key, what in (("training_log", "training log"), ("evaluations", "evaluations")):
        entry = metrics.get(key)
        found.append(f"{what}: {entry['path']}") if entry else missing.append(what)
    code = doc.get("code")
    if code and code.get("repo"):
        where = code["repo"] if is_remote(code["repo"]) else f"{code['repo']} at {str(code.get('commit'))[:12]}"
        found.append(f"code: {where}")
    else:
        missing.append("code (no git bundle)")
    config = doc.get("config")
    found.append(f"config: {config['model']}") if config and config.get("model") else missing.append("config")
    return found, missing
