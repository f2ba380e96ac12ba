"""Bounded JSONL reading: one record per line, line length and nesting limited."""

from __future__ import annotations

import json
from collections.abc import Iterator

import orjson
from pathlib import Path
from typing import Any

#: orjson reads an integer beyond 64 bits as a float, always of at least this magnitude.
_BIG = 2.0**63


def _may_hold_big_int(value: Any) -> bool:
    """Whether an orjson result holds a float that may have been written as an integer beyond 64 bits
    (then the line is parsed again by the standard parser, which keeps such integers exact)."""
    stack = [value]
    while stack:
        v = stack.pop()
        t = type(v)
        if t is float:
            if not -_BIG < v < _BIG:
                return True
            continue
        items = v.values() if t is dict else v if t is list else None
        if items is None:
            continue
        types = set(map(type, items))  # one pass in C; a list of token ids stops here
        if float in types or list in types or dict in types:
            stack.extend(x for x in items if type(x) in (float, list, dict))
    return False

#: A line longer than this is reported, not parsed (Amber's lines are ~12 KB).
MAX_LINE_BYTES = 64 * 1024 * 1024


class BadLine:
    """A line that is not one JSON value; ``reason`` is a short phrase."""

    __slots__ = ("reason",)

    def __init__(self, reason: str):
        self.reason = reason


def exact(line: bytes) -> Any:
    """A line parsed by the standard parser (NaN/Infinity, integers beyond 64 bits exact), or a BadLine."""
    try:
        return json.loads(line)
    except (ValueError, RecursionError) as exc:
        return BadLine(f"not valid JSON ({str(exc).splitlines()[0][:80]})")


def iter_jsonl_lines(path: Path) -> Iterator[tuple[int, Any, bytes]]:
    """Like :func:`iter_jsonl`, with each raw line, and *without* the big-integer check: a value may hold
    floats orjson made of integers beyond 64 bits, and the caller who sees a float it did not expect
    re-reads the line with :func:`exact` (a list of token ids is then checked once, not twice)."""
    with open(path, "rb") as f:
        lineno = 0
        while True:
            line = f.readline(MAX_LINE_BYTES + 1)
            if not line:
                return
            lineno += 1
            if len(line) > MAX_LINE_BYTES and not line.endswith(b"\n"):
                while line and not line.endswith(b"\n"):
                    line = f.readline(MAX_LINE_BYTES)
                yield lineno, BadLine(f"line longer than {MAX_LINE_BYTES} bytes"), b""
                continue
            if not line.strip():
                continue
            try:
                yield lineno, orjson.loads(line), line
            except (orjson.JSONDecodeError, RecursionError):
                yield lineno, exact(line), line


def iter_jsonl(path: Path) -> Iterator[tuple[int, Any]]:
    """Yield ``(line_number, value | BadLine)`` for each non-empty line; memory bounded per line."""
    for lineno, value, line in iter_jsonl_lines(path):
        # a float that may be orjson's reading of an integer beyond 64 bits: the standard parser keeps it exact
        yield lineno, exact(line) if not isinstance(value, BadLine) and _may_hold_big_int(value) else value
