"""The exact sequences each training step consumed, read from the release's data chunks.

With ``within_chunk: sequential``, step s of a chunk whose steps start at ``first_step`` takes lines
``(s - first_step) × batch_size`` … ``+ batch_size`` of the chunk, in file order.
"""

from __future__ import annotations

from audit.jsonl import BadLine, iter_jsonl
from audit.release import Release


class ReplayDataError(ValueError):
    """The data of a step cannot be read; the message names the file and the line."""


def step_batches(release: Release, first: int, last: int) -> list[list[list[int]]]:
    """For each step first..last, its batch of token-id sequences."""
    m = release.manifest
    batch = m.config.training.batch_size
    want_len = m.config.training.sequence_length + 1
    fmt = m.data.format
    wanted: dict[str, dict[int, int]] = {}  # chunk path → line index → step
    for step in range(first, last + 1):
        chunk = next(c for c in m.data.chunks if c.first_step and c.first_step <= step <= (c.last_step or 0))
        base = (step - chunk.first_step) * batch
        for i in range(base, base + batch):
            wanted.setdefault(chunk.path, {})[i] = step
    out: dict[int, list[list[int]]] = {s: [] for s in range(first, last + 1)}
    for path, lines in wanted.items():
        if not release.has_file(path):
            raise ReplayDataError(f"{path} does not exist")
        stop = max(lines)
        index = -1
        for lineno, rec in iter_jsonl(release.path(path)):
            index += 1
            if index > stop:
                break
            if index not in lines:
                continue
            ids = rec.get(fmt.tokens_field) if isinstance(rec, dict) else None
            if isinstance(rec, BadLine) or not isinstance(ids, list) or not all(type(t) is int for t in ids):
                raise ReplayDataError(f"{path} line {lineno}: not a list of token ids")
            if len(ids) != want_len:
                raise ReplayDataError(f"{path} line {lineno}: {len(ids)} token ids, the step needs {want_len}")
            out[lines[index]].append(ids)
        if index < stop:
            raise ReplayDataError(f"{path} has {index + 1} sequences; step {lines[stop]} needs line {stop + 1}")
    return [out[s] for s in range(first, last + 1)]
