"""JSONL chunks (``jsonl-token-ids``): one JSON object per line with a list of token ids, as Amber's
``train_NNN.jsonl`` (``{"token_ids": [...], "source": "c4"}``)."""

from __future__ import annotations

from pathlib import Path

from audit.formats.interface import ChunkScan
from audit.readers.jsonl import BadLine, exact, iter_jsonl, iter_jsonl_lines
from audit.spec.manifest import DataFormat

_INT_ONLY = {int}


def scan(path: Path, fmt: DataFormat, vocab_size: int | None, scan: ChunkScan) -> ChunkScan:
    for lineno, rec, line in iter_jsonl_lines(path):
        if isinstance(rec, BadLine):
            scan.malformed += 1
            scan.malformed_line = scan.malformed_line or lineno
            scan._problem(f"line {lineno}: {rec.reason}")
            continue
        ids = rec.get(fmt.tokens_field) if isinstance(rec, dict) else None
        if isinstance(ids, list) and ids and set(map(type, ids)) != _INT_ONLY:  # C loops, no generator
            rec = exact(line)  # a float may be orjson's reading of an integer beyond 64 bits: read it exactly
            ids = rec.get(fmt.tokens_field) if isinstance(rec, dict) else None
        if not isinstance(ids, list) or (ids and set(map(type, ids)) != _INT_ONLY):
            scan.malformed += 1
            scan.malformed_line = scan.malformed_line or lineno
            scan._problem(f"line {lineno}: no list of integer {fmt.tokens_field!r}")
            continue
        scan.sequences += 1
        scan.tokens += len(ids)
        scan.lengths[len(ids)] += 1
        source = rec.get(fmt.source_field)
        scan.sources[source if isinstance(source, str) else "<unlabelled>"] += len(ids)
        if ids:
            lo, hi = min(ids), max(ids)
            scan.max_token_id = max(scan.max_token_id, hi)
            if lo < 0 or (vocab_size is not None and hi >= vocab_size):
                bad = sum(1 for t in ids if t < 0 or (vocab_size is not None and t >= vocab_size))
                scan.out_of_vocab += bad
                scan.vocab_line = scan.vocab_line or lineno
                scan._problem(f"line {lineno}: {bad} token id(s) outside [0, {vocab_size})")
    return scan


def sequences(path: Path, fmt: DataFormat, indices: list[int]) -> dict[int, list[int]]:
    wanted = set(indices)
    found: dict[int, list[int]] = {}
    stop, index = max(wanted), -1
    for lineno, rec in iter_jsonl(path):
        index += 1
        if index > stop:
            break
        if index not in wanted:
            continue
        ids = rec.get(fmt.tokens_field) if isinstance(rec, dict) else None
        if isinstance(rec, BadLine) or not isinstance(ids, list) or not all(type(t) is int for t in ids):
            raise ValueError(f"line {lineno}: not a list of token ids")
        found[index] = ids
    if index < stop:
        raise ValueError(f"sequence {stop} is asked for, but the file holds {index + 1} sequences")
    return found
