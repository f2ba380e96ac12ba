"""Bounded JSONL reading: one record per line, line length and nesting limited."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator

import orjson
from pathlib import Path
from typing import Any

#: An integer literal of 19+ digits (not the fraction or exponent of a float, which orjson reads exactly).
_LONG_NUMBER = re.compile(rb"(?<![\d.eE])\d{19,}(?![\d.eE])")

#: A line longer than this is reported, not parsed (Amber's lines are ~12 KB).
MAX_LINE_BYTES = 64 * 1024 * 1024


class BadLine:
    """A line that is not one JSON value; ``reason`` is a short phrase."""

    __slots__ = ("reason",)

    def __init__(self, reason: str):
        self.reason = reason


def iter_jsonl(path: Path) -> Iterator[tuple[int, Any]]:
    """Yield ``(line_number, value | BadLine)`` for each non-empty line; memory bounded per line."""
    with open(path, "rb") as f:
        lineno = 0
        while True:
            line = f.readline(MAX_LINE_BYTES + 1)
            if not line:
                return
            lineno += 1
            if len(line) > MAX_LINE_BYTES and not line.endswith(b"\n"):
                while line and not line.endswith(b"\n"):  # skip the rest of the over-long line
                    line = f.readline(MAX_LINE_BYTES)
                yield lineno, BadLine(f"line longer than {MAX_LINE_BYTES} bytes")
                continue
            if not line.strip():
                continue
            if not _LONG_NUMBER.search(line):  # orjson turns integers beyond 64 bits into floats
                try:
                    yield lineno, orjson.loads(line)  # fast path: strict JSON
                    continue
                except (orjson.JSONDecodeError, RecursionError):
                    pass
            try:  # the standard parser also reads NaN/Infinity and integers beyond 64 bits
                yield lineno, json.loads(line)
            except (ValueError, RecursionError) as exc:
                yield lineno, BadLine(f"not valid JSON ({str(exc).splitlines()[0][:80]})")
