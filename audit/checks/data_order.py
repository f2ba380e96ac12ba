"""data_order: every training step maps to exactly one chunk, each chunk is long enough, and the order
inside chunks is published (or a global order maps every step)."""

from __future__ import annotations

from pathlib import PurePosixPath

from audit.checks.base import Check, Outcome
from audit.checks.helpers import recorded
from audit.checks.helpers.data_formats import global_order
from audit.core.release import Release
from audit.spec.rules.data_order import CHECK as DATA_ORDER_CHECK
from audit.spec.rules.data_order import CURSOR, GAP, NO_ORDER, SHORT, UNKNOWN_ORDER

Ranges = list[tuple[int, int]]


def _coverage(intervals: Ranges, last: int) -> tuple[Ranges, Ranges, int]:
    """From sorted (first, last) step ranges: steps 1..last not covered, steps covered more than once,
    and the number of distinct steps covered — in interval arithmetic (Amber has 274,320 steps)."""
    uncovered, twice, mapped, reach = [], [], 0, 0
    for a, b in intervals:
        if a > reach + 1 and reach + 1 <= last:
            uncovered.append((reach + 1, min(a - 1, last)))
        if a <= reach:
            twice.append((a, min(b, reach)))
        if b > reach:
            mapped += b - max(a, reach + 1) + 1
            reach = b
    if reach < last:
        uncovered.append((reach + 1, last))
    return uncovered, twice, mapped


def _stem(path: str) -> str:
    return str(PurePosixPath(path).with_suffix(""))


def _count(ranges: Ranges) -> int:
    return sum(b - a + 1 for a, b in ranges)


def _fmt_ranges(ranges: Ranges) -> str:
    shown = []
    for a, b in ranges:
        shown += range(a, min(b, a + 5 - len(shown) - 1) + 1)
        if len(shown) >= 5:
            break
    total = _count(ranges)
    return ", ".join(map(str, shown[:5])) + (f" … ({total} in all)" if total > 5 else "")


class DataOrderCheck(Check):
    info = DATA_ORDER_CHECK

    def run(self, release: Release, out: Outcome) -> None:
        m = release.manifest
        if m.data is None or not m.data.chunks:
            out.add(GAP, "no data chunks declared, so no step has its data")
            return
        if m.data.order.global_indices is not None or m.data.order.within_chunk == "global-indices":
            global_order(release, out, GAP, NO_ORDER)
            return
        missing = [c.path for c in m.data.chunks if c.first_step is None or c.last_step is None]
        if missing:
            out.add(NO_ORDER, f"{len(missing)} chunk(s) have no step range, e.g. {missing[0]}", missing[0])
            return
        last = m.checkpoints[-1].step if m.checkpoints else max(c.last_step for c in m.data.chunks)
        intervals = []
        for c in m.data.chunks:
            if c.last_step < c.first_step:
                out.add(GAP, f"{c.path}: last_step {c.last_step} is before first_step {c.first_step}", c.path)
                continue
            intervals.append((c.first_step, c.last_step))
            if m.config is not None and c.sequences is not None:
                need = (c.last_step - c.first_step + 1) * m.config.training.batch_size
                if c.sequences < need:
                    out.add(SHORT, f"{c.path} feeds steps {c.first_step}–{c.last_step} ({need} sequences) "
                                   f"but holds {c.sequences}", c.path)  # fmt: skip
        uncovered, twice, mapped = _coverage(sorted(intervals), last)
        if uncovered:
            out.add(GAP, f"{_count(uncovered)} step(s) have no data: {_fmt_ranges(uncovered)}")
        if twice:
            out.add(GAP, f"{_count(twice)} step(s) are fed by more than one chunk: {_fmt_ranges(twice)}")
        order = m.data.order
        if order.within_chunk == "unknown" or (order.within_chunk == "shuffled" and order.seed is None):
            out.add(UNKNOWN_ORDER, f"order of sequences within chunks is {order.within_chunk}"
                                   + (" and no seed is published" if order.within_chunk == "shuffled" else ""))
        cursors = self._cursors(release, sorted((c.first_step, c.last_step, c.path) for c in m.data.chunks), out)
        out.evidence |= {"steps_mapped": mapped, "last_step": last, "within_chunk": order.within_chunk,
                         "cursors_checked": cursors}  # fmt: skip
        out.summary = f"steps 1–{last} each map to one chunk, {order.within_chunk} within chunks"

    @staticmethod
    def _cursors(release: Release, ranges: list[tuple[int, int, str]], out: Outcome) -> int:
        """Each checkpoint's recorded data cursor against where the step → chunk map says the next step
        starts (the end of the last chunk after the final step); returns how many were compared."""
        if release.manifest.config is None:
            return 0
        batch = release.manifest.config.training.batch_size
        compared = 0
        for ck in release.manifest.checkpoints:
            facts = recorded.facts(release, ck)
            if facts is None or facts.cursor is None:
                continue
            nxt = ck.step + 1
            feeding = [r for r in ranges if r[0] <= nxt <= r[1]]
            if feeding:
                first, _, chunk = feeding[0]
                sequence = (nxt - first) * batch
            else:  # after the final step: the position just past the last step's data
                ending = [r for r in ranges if r[1] == ck.step]
                if not ending:
                    continue
                first, _, chunk = ending[0]
                sequence = (ck.step - first + 1) * batch
            compared += 1
            cur, consumed = facts.cursor, ck.step * batch
            # a chunk re-published in another format (train_003.jsonl → train_003.npy) keeps its place
            if (_stem(cur.chunk), cur.sequence, cur.consumed) != (_stem(chunk), sequence, consumed):
                source = f"{ck.path}/{facts.source}"
                out.add(CURSOR, f"{source}: data cursor at {cur.chunk} sequence {cur.sequence} ({cur.consumed} "
                                f"consumed); the step → chunk map puts step {nxt} at {chunk} sequence {sequence} "
                                f"({consumed} consumed: {ck.step} × {batch})", source)  # fmt: skip
        return compared
