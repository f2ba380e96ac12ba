"""The exact sequences each training step consumed, read from the release's data chunks.

With ``within_chunk: sequential``, step s of a chunk whose steps start at ``first_step`` takes
sequences ``(s - first_step) × batch_size`` … ``+ batch_size`` of the chunk, in file order. With a
global order (``data.order.global_indices``, OLMo's ``global_indices.npy``), step s takes positions
``(s - 1) × batch_size`` … of that array, each the index of a sequence in all chunks concatenated
in manifest order. Chunks in any of the data formats are read through audit.formats; only the
sequences a step needs.
"""

from __future__ import annotations

from bisect import bisect_right
from itertools import accumulate

from audit.formats.interface import ReaderMissing
from audit.formats.registry import read_sequences
from audit.core.release import Release


class ReplayDataError(ValueError):
    """The data of a step cannot be read; the message names the file and the sequence."""


Slot = tuple[int, int]  # (step, position in its batch)


def _sequential(release: Release, first: int, last: int) -> dict[str, dict[int, list[Slot]]]:
    m = release.manifest
    batch = m.config.training.batch_size
    wanted: dict[str, dict[int, list[Slot]]] = {}
    for step in range(first, last + 1):
        chunk = next(c for c in m.data.chunks if c.first_step and c.first_step <= step <= (c.last_step or 0))
        base = (step - chunk.first_step) * batch
        for j in range(batch):
            wanted.setdefault(chunk.path, {}).setdefault(base + j, []).append((step, j))
    return wanted


def _global(release: Release, first: int, last: int) -> dict[str, dict[int, list[Slot]]]:
    from audit.formats.arrays import NpyError, npy_array

    m = release.manifest
    gi = m.data.order.global_indices
    batch = m.config.training.batch_size
    counts = [c.sequences for c in m.data.chunks]
    if None in counts:
        raise ReplayDataError(f"chunk {m.data.chunks[counts.index(None)].path} declares no sequence count")
    try:
        order = npy_array(release.path(gi.path))
    except (NpyError, OSError) as exc:
        raise ReplayDataError(f"{gi.path}: {exc}") from None
    ends = list(accumulate(counts))
    wanted: dict[str, dict[int, list[Slot]]] = {}
    for step in range(first, last + 1):
        for j in range(batch):
            pos = (step - 1) * batch + j
            if pos >= order.size:
                raise ReplayDataError(f"{gi.path} has {order.size} positions; step {step} needs position {pos}")
            g = int(order[pos])
            k = bisect_right(ends, g)
            if g < 0 or k >= len(ends):
                raise ReplayDataError(f"{gi.path} position {pos}: index {g} is outside the chunks' {ends[-1]} sequences")
            local = g - (ends[k - 1] if k else 0)
            wanted.setdefault(m.data.chunks[k].path, {}).setdefault(local, []).append((step, j))
    return wanted


def _read(release: Release, path: str, indices: set[int]) -> dict[int, list[int]]:
    fmt = release.manifest.data.format
    if not release.has_file(path):
        raise ReplayDataError(f"{path} does not exist")
    try:
        return read_sequences(release.path(path), fmt, sorted(indices))
    except (ValueError, ReaderMissing, OSError) as exc:
        raise ReplayDataError(f"{path}: {exc}") from None


def step_batches(release: Release, first: int, last: int) -> list[list[list[int]]]:
    """For each step first..last, its batch of token-id sequences, in batch order."""
    m = release.manifest
    batch = m.config.training.batch_size
    want_len = m.config.training.sequence_length + 1
    order = m.data.order
    global_order = order.global_indices is not None or order.within_chunk == "global-indices"
    if global_order and order.global_indices is None:
        raise ReplayDataError("data.order.within_chunk is global-indices but no global_indices file is declared")
    wanted = _global(release, first, last) if global_order else _sequential(release, first, last)
    out = {s: [None] * batch for s in range(first, last + 1)}
    for path, slots in wanted.items():
        for index, ids in _read(release, path, set(slots)).items():
            if len(ids) != want_len:
                raise ReplayDataError(f"{path} sequence {index}: {len(ids)} token ids, the step needs {want_len}")
            for step, j in slots[index]:
                out[step][j] = ids
    return [out[s] for s in range(first, last + 1)]
