"""What a refresh changed: every fact of the new manifest that differs from the one on disk (old → new),
and every file or directory init found but left out, with the reason.

The changes are not noted one by one while refreshing (a note forgotten is a silent change): they are
the difference between the manifest read from disk and the one written, so every value that differs
is reported. The refresh only says where a new value came from (:meth:`Sources.because`).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

#: A list of entries identified by their path (or @revision), and what one of its entries is called.
ENTRY_LISTS = {"checkpoints": "checkpoint", "chunks": "chunk", "files": "file"}
#: ``Change.field`` of an entry added or removed (old or new is then the entry's name).
ENTRY_KINDS = (*ENTRY_LISTS.values(), "manifest")
_DIGEST = re.compile(r"[0-9a-f]{64}")
_WIDTH = 60


@dataclass(frozen=True)
class Change:
    """One fact of the manifest that init changed.

    ``where`` is the entry holding the fact (``checkpoints[step 12]``, a file's or a chunk's path), or
    empty for a key of the manifest itself; ``field`` is the fact's key in it, dotted
    (``step``, ``sha256``, ``sources.code``, ``config.training.batch_size``). For an entry added or
    removed, ``field`` is its kind (one of :data:`ENTRY_KINDS`) and ``new`` or ``old`` its name.
    ``old`` is None for a fact absent from the manifest on disk, ``new`` for one init removed;
    ``source`` says where the new value came from, or why an entry went."""

    where: str
    field: str
    old: Any
    new: Any
    source: str = ""

    def __str__(self) -> str:
        why = f" ({self.source})" if self.source else ""
        if self.field in ENTRY_KINDS:
            verb, name = ("added", self.new) if self.old is None else ("removed", self.old)
            return f"{self.where + ': ' if self.where else ''}{verb} {self.field} {name}{why}"
        label = f"{self.where} {self.field}" if self.where else self.field
        return f"{label}: {show(self.old)} → {show(self.new)}{why}"


@dataclass(frozen=True)
class Dropped:
    """A file or directory init found in the release but did not describe, and why."""

    path: str
    reason: str

    def __str__(self) -> str:
        return f"dropped {self.path}: {self.reason}"


def show(value: Any) -> str:
    """A value as one short piece of a line: digests cut to 8 hex digits, long values cut with …"""
    if value is None:
        return "(none)"
    if isinstance(value, dict) and isinstance(value.get("path"), str):
        return value["path"]  # a file entry, by its path
    if isinstance(value, str):
        text = value[:8] + "…" if _DIGEST.fullmatch(value) else value.replace("\n", "\\n")  # one line
    else:
        text = json.dumps(value, ensure_ascii=False, separators=(", ", ": "), default=str)
    return text if len(text) <= _WIDTH else text[: _WIDTH - 1] + "…"


class Sources:
    """Where the refresh took new values from, keyed by (entry, field): the entry is a checkpoint's
    path (or @revision), a file's or chunk's path, or empty for a key of the manifest itself."""

    def __init__(self) -> None:
        self.of: dict[tuple[str, str], str] = {}

    def because(self, entry: str, field: str, source: str) -> None:
        self.of[(entry, field)] = source


def entry_name(e: dict) -> str:
    """An entry's identity in its list: its path, or @REVISION for a checkpoint published as a git branch."""
    return e["path"] if e.get("path") is not None else f"@{e.get('revision')}"


def diff(before: dict, after: dict, sources: Sources, why_gone: Callable[[str, str], str]) -> list[Change]:
    """Every fact of ``after`` that differs from ``before``; ``why_gone(kind, name)`` says why an entry went."""
    out: list[Change] = []
    _Differ(sources, why_gone, out).mapping(before, after, "", "", "")
    return out


def _is_file_entry(value: Any) -> bool:
    return isinstance(value, dict) and isinstance(value.get("path"), str)


def _describe(kind: str, e: dict) -> str:
    """What an added entry is, in a few words."""
    if kind == "checkpoint":
        return f"step {e['step']}" if type(e.get("step")) is int else "no step yet"
    if kind == "chunk" and "sequences" in e:
        return f"{e['sequences']} sequences, {e.get('tokens')} tokens"
    return str(e.get("role") or "")


class _Differ:
    def __init__(self, sources: Sources, why_gone: Callable[[str, str], str], out: list[Change]):
        self.sources, self.why_gone, self.out = sources, why_gone, out

    def mapping(self, old: dict, new: dict, where: str, entry: str, prefix: str) -> None:
        """``where``: the entry's label in a line; ``entry``: its name (for sources); ``prefix``: dotted key so far."""
        for key in [*new, *(k for k in old if k not in new)]:
            self.value(old.get(key), new.get(key), where, entry, prefix + str(key))

    def value(self, old: Any, new: Any, where: str, entry: str, key: str) -> None:
        if old == new:
            return
        name = key.rpartition(".")[2]
        lists = all(isinstance(v, list | None) for v in (old, new))
        if lists and name in ENTRY_LISTS and (where == "" or name == "files") and self.entries(old or [], new or [], where, key):
            return
        if _is_file_entry(old) and _is_file_entry(new) and old["path"] == new["path"]:
            return self.mapping(old, new, new["path"], new["path"], "")
        if not (_is_file_entry(old) or _is_file_entry(new)) and all(isinstance(v, dict | None) for v in (old, new)):
            return self.mapping(old or {}, new or {}, where, entry, key + ".")
        self.out.append(Change(where, key, old, new, self.sources.of.get((entry, key), "")))

    def entries(self, old: list, new: list, where: str, key: str) -> bool:
        """Entries matched by name; False (compare the lists whole) where names are missing or repeated."""
        if not all(isinstance(e, dict) for e in (*old, *new)):
            return False
        before, after = {entry_name(e): e for e in old}, {entry_name(e): e for e in new}
        if len(before) != len(old) or len(after) != len(new):
            return False
        kind, container = ENTRY_LISTS[key.rpartition(".")[2]], where or key
        for n, e in after.items():
            if n not in before:
                self.out.append(Change(container, kind, None, n, self.sources.of.get((n, kind)) or _describe(kind, e)))
            else:
                self.mapping(before[n], e, self.label(kind, before[n], n), n, "")
        for n in (n for n in before if n not in after):
            self.out.append(Change(container, kind, n, None, self.sources.of.get((n, kind)) or self.why_gone(kind, n)))
        return True

    @staticmethod
    def label(kind: str, e: dict, name: str) -> str:
        if kind != "checkpoint":
            return name
        return f"checkpoints[step {e['step']}]" if type(e.get("step")) is int else f"checkpoints[{name}]"
