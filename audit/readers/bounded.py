"""Bounded reads of whole documents from untrusted files: the size is checked before a byte is read,
so a hostile release cannot make the auditor load gigabytes. Every JSON and YAML document the
auditor reads whole goes through here; streaming readers (JSONL lines, safetensors headers, pickle
opcodes) bound what they read themselves."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

#: A JSON document (config, training state, trainer_state.json with 274k logged steps ≈ 45 MB,
#: a shard's report.json) larger than this is refused unread.
MAX_JSON_BYTES = 256 * 1024 * 1024
#: A YAML document (the manifest, the policy) larger than this is refused unread.
MAX_YAML_BYTES = 16 * 1024 * 1024


class TooLarge(ValueError):
    """The file is larger than the limit for its kind; nothing was read."""


def read_bytes(path: Path, limit: int) -> bytes:
    """The file's bytes, or :class:`TooLarge` when it is over ``limit`` (OSError as raised)."""
    if path.stat().st_size > limit:
        raise TooLarge(f"larger than {limit} bytes; not read")
    return path.read_bytes()


def load_json(path: Path, limit: int = MAX_JSON_BYTES) -> Any:
    """Parse a JSON file of at most ``limit`` bytes (raises OSError, ValueError or RecursionError)."""
    return json.loads(read_bytes(path, limit))
