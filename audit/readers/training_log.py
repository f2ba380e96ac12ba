"""Readers for the per-step training log and the per-checkpoint evaluation results (JSONL)."""

from __future__ import annotations

import math
from array import array
from bisect import bisect_left, bisect_right
from collections.abc import Callable, Iterator
from operator import itemgetter
from dataclasses import dataclass, field
from pathlib import Path

import orjson

from audit.readers.jsonl import MAX_LINE_BYTES, BadLine, iter_jsonl

LOG_FIELDS = ("loss", "learning_rate", "grad_norm")


class StepTable:
    """step → {field: value}, stored as columns (a few bytes per step instead of a dict per step:
    Amber's 274,320-step log takes ~9 MB). Read-only mapping API for the checks."""

    def __init__(self) -> None:
        self._steps = array("q")
        self._cols = {name: array("d") for name in LOG_FIELDS}
        self._present = {name: bytearray() for name in LOG_FIELDS}
        self._index: dict[int, int] | None = None  # built only if steps arrive out of order
        # Where each row was read (a line number, an entry index; -1: unknown): runs of consecutive lines as
        # (first row, first line) while rows come a block at a time, one entry per row once they do not.
        self._runs: list[tuple[int, int]] = []
        self._positions: array | None = None
        self._columns = [(name, self._cols[name], self._present[name]) for name in LOG_FIELDS]

    def _after_last(self, step: int) -> bool:
        """The common case, steps logged in increasing order: no lookup needed."""
        return self._index is None and (not self._steps or step > self._steps[-1])

    def add(self, step: int, row: dict[str, float], position: int = -1) -> bool:
        """Add a row (read at ``position`` of its file); False if the step is already there."""
        in_order = self._after_last(step)
        if not in_order and step in self:
            return False
        if not in_order and self._index is None:
            self._index = {s: i for i, s in enumerate(self._steps)}
        if self._index is not None:
            self._index[step] = len(self._steps)
        self._positions_per_row().append(position)
        self._steps.append(step)
        for name, col, present in self._columns:
            if name in row:
                col.append(row[name])
                present.append(1)
            else:
                col.append(math.nan)
                present.append(0)
        return True

    def extend(self, steps: list[int], cols: list[tuple[str, list, bool]], first_line: int) -> None:
        """Append rows read in order (steps increasing past the last one), a column at a time; ``cols``:
        (field, values, present) — values all floats where present, all None where not."""
        n = len(steps)
        if self._positions is None:
            self._runs.append((len(self._steps), first_line))
        else:
            self._positions += array("q", range(first_line, first_line + n))
        self._steps += array("q", steps)  # array + array: one C loop (extend() from a list is several times slower)
        for name, values, present in cols:
            self._cols[name] += array("d", values) if present else array("d", [math.nan]) * n
            self._present[name] += b"\x01" * n if present else bytes(n)

    def _find(self, step: int) -> int | None:
        if self._index is not None:
            return self._index.get(step)
        i = bisect_left(self._steps, step)
        return i if i < len(self._steps) and self._steps[i] == step else None

    def __contains__(self, step: object) -> bool:
        return isinstance(step, int) and not self._after_last(step) and self._find(step) is not None

    def __len__(self) -> int:
        return len(self._steps)

    def __iter__(self) -> Iterator[int]:
        return iter(sorted(self._steps) if self._index is not None else self._steps)

    def _row(self, i: int) -> dict[str, float]:
        return {name: self._cols[name][i] for name in LOG_FIELDS if self._present[name][i]}

    def position(self, step: int) -> int | None:
        """Where the row of ``step`` was read (see :attr:`TrainingLog.position_kind`), or None."""
        i = self._find(step)
        if i is None:
            return None
        if self._positions is not None:
            return None if self._positions[i] < 0 else self._positions[i]
        row, line = self._runs[bisect_right(self._runs, (i, math.inf)) - 1]
        return line + i - row

    def _positions_per_row(self) -> array:
        """The positions as one entry per row (from here on: rows added one at a time)."""
        if self._positions is None:
            self._positions = array("q")
            ends = [row for row, _ in self._runs[1:]] + [len(self._steps)]
            for (row, line), end in zip(self._runs, ends):
                self._positions += array("q", range(line, line + end - row))
        return self._positions

    def get(self, step: int, default=None):
        i = self._find(step)
        return default if i is None else self._row(i)

    def __getitem__(self, step: int) -> dict[str, float]:
        i = self._find(step)
        if i is None:
            raise KeyError(step)
        return self._row(i)

    def items(self) -> Iterator[tuple[int, dict[str, float]]]:
        for step in self:
            yield step, self[step]

    def series(self, name: str) -> Iterator[tuple[int, float]]:
        """(step, value) of one field, where logged, in step order; no per-row dicts."""
        col, present = self._cols[name], self._present[name]
        order = sorted(range(len(self._steps)), key=self._steps.__getitem__) if self._index is not None else None
        for i in order if order is not None else range(len(self._steps)):
            if present[i]:
                yield self._steps[i], col[i]

    def absent(self, last: int, show: int = 5) -> tuple[int, list[int]]:
        """How many of steps 1…``last`` are not logged, and the first ``show`` of them (no set of every step)."""
        steps = self._steps if self._index is None else sorted(self._steps)
        lo, hi = bisect_left(steps, 1), bisect_right(steps, last)
        count = last - (hi - lo)  # steps are unique
        first: list[int] = []
        expect = 1
        for i in range(lo, hi) if count else ():
            s = steps[i]
            if s > expect:
                first.extend(range(expect, min(s, expect + show - len(first))))
                if len(first) >= show:
                    return count, first
            expect = s + 1
        first.extend(range(expect, min(last + 1, expect + show - len(first))) if count else ())
        return count, first[:show]

    def thinned(self, most: int) -> tuple[int, list[int]]:
        """(stride, steps): every stride-th logged step in step order, and the last — at most ``most`` + 1
        points for a curve, without a list of every step."""
        steps = self._steps if self._index is None else sorted(self._steps)
        stride = max(1, math.ceil(len(steps) / most))
        shown = steps[::stride].tolist() if isinstance(steps, array) else steps[::stride]
        return stride, shown + ([steps[-1]] if steps and (len(steps) - 1) % stride else [])

    def buffers(self, name: str) -> tuple[array, array, bytearray, bool]:
        """The raw columns, for vectorised checks: (steps, values of ``name``, present flags, in step order)."""
        return self._steps, self._cols[name], self._present[name], self._index is None

    def values(self) -> Iterator[dict[str, float]]:
        for _, row in self.items():
            yield row


@dataclass
class TrainingLog:
    rows: StepTable = field(default_factory=StepTable)  # step → field → value
    problems: list[str] = field(default_factory=list)  # malformed lines, duplicates
    non_finite: list[tuple[int, str]] = field(default_factory=list)  # (step, field)
    missing_fields: dict[str, int] = field(default_factory=dict)  # field → rows lacking it
    position_kind: str = "line"  # what StepTable.position counts: "line" (1-based) or "log_history" (index)
    first_problem_line: int | None = None  # the line of problems[0], in a line-based log
    #: 1 where the learning rate logged at step s is the one update s + 1 uses (Megatron-LM logs the rate after
    #: the scheduler's step); 0 where it is the rate of update s itself.
    lr_step_offset: int = 0

    def problem(self, message: str, line: int | None = None) -> None:
        if not self.problems and line is not None and line > 0 and self.position_kind == "line":
            self.first_problem_line = line
        self.problems.append(message)

    def line(self, step: int) -> int | None:
        """The 1-based line of ``step``'s row, in a line-based log."""
        return self.rows.position(step) if self.position_kind == "line" else None

    def where(self, step: int) -> str | None:
        """Where the row of ``step`` is in its file, e.g. ``line 5`` or ``log_history[4]``."""
        pos = self.rows.position(step)
        if pos is None:
            return None
        return f"line {pos}" if self.position_kind == "line" else f"{self.position_kind}[{pos}]"


def _number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _float(v: int | float) -> float:
    """JSON integers can be arbitrarily large; those beyond float range count as infinite."""
    try:
        return float(v)
    except OverflowError:
        return math.inf if v > 0 else -math.inf


_INT64 = (-(2**63), 2**63)


def add_record(log: TrainingLog, where: str | Callable[[], str], rec: object, position: int = -1) -> None:
    """Add one logged record (a dict with an integer step); ``where`` (or a function giving it, so that
    the common case builds no string) locates it in problems."""
    step = rec.get("step") if type(rec) is dict else None
    if type(step) is not int:
        log.problem(f"{where if isinstance(where, str) else where()}: no integer 'step'", position)
        return
    if not _INT64[0] <= step < _INT64[1]:
        log.problem(f"{where if isinstance(where, str) else where()}: step {str(step)[:20]}… out of range", position)
        return
    rows = log.rows
    if not rows._after_last(step) and step in rows:
        log.problem(f"{where if isinstance(where, str) else where()}: step {step} logged twice", position)
        return
    row: dict[str, float] = {}
    for name in LOG_FIELDS:
        v = rec.get(name)
        kind = type(v)
        if kind is float:  # the common case: no conversion, one finiteness test
            if v - v != 0.0:  # NaN or ±inf
                log.non_finite.append((step, name))
            row[name] = v
        elif kind is int:
            value = _float(v)
            if not math.isfinite(value):
                log.non_finite.append((step, name))
            row[name] = value
        else:
            log.missing_fields[name] = log.missing_fields.get(name, 0) + 1
    rows.add(step, row, position)


#: The fast path reads the log in blocks of this many bytes (memory: the block's rows as dicts, at once).
BLOCK_BYTES = 256 << 10
_BIG_FLOAT = 2.0**63


class _Irregular(Exception):
    """The block is not the common, regular case: the file is read again line by line."""


def _columns(lines: list[bytes], after: int) -> tuple[list[int], list[tuple[str, list, bool]]]:
    """The steps and the field columns of a block of regular lines: every line a JSON object with an integer
    step, steps increasing (past ``after``), each field a finite float on every line or on none. Anything
    else raises :class:`_Irregular` (then the line-by-line reader finds and words it)."""
    try:
        recs = list(map(orjson.loads, lines))
        steps = list(map(itemgetter("step"), recs))
    except (orjson.JSONDecodeError, RecursionError, KeyError, TypeError):
        raise _Irregular from None
    if set(map(type, steps)) != {int} or steps[0] <= after or sorted(set(steps)) != steps:
        raise _Irregular
    if not (-(2**63) <= steps[0] and steps[-1] < 2**63):
        raise _Irregular
    cols = []
    for name in LOG_FIELDS:
        try:
            col = list(map(itemgetter(name), recs))
        except KeyError:  # absent from some line (or all)
            col = [r.get(name) for r in recs]
        kinds = set(map(type, col))
        if kinds == {type(None)}:
            cols.append((name, col, False))
            continue
        if kinds != {float}:
            raise _Irregular  # ints, strings, a field on some lines only: the slow path says what
        try:
            total = math.fsum(col)  # finite exactly when every value is (and no sum overflows)
        except OverflowError:
            raise _Irregular from None
        if not math.isfinite(total) or not (-_BIG_FLOAT < min(col) and max(col) < _BIG_FLOAT):
            raise _Irregular  # non-finite values, or floats that may have been integers beyond 64 bits
        cols.append((name, col, True))
    return steps, cols


def _read_regular(path: Path) -> TrainingLog | None:
    """The log read in blocks with C-level loops, or None when any line is irregular (blank, malformed,
    out of order, a missing or non-float field, a huge number): the common case at a fraction of the cost
    of :func:`read_training_log`'s line-by-line path, with the same result."""
    log = TrainingLog()
    rows, line, tail = log.rows, 0, b""
    with open(path, "rb") as f:
        while True:
            block = f.read(BLOCK_BYTES)
            data = tail + block
            if not block:
                if data.strip():
                    data += b"\n"  # the last line, without its newline
                else:
                    return log
            cut = data.rfind(b"\n")
            if cut < 0:
                if len(data) > MAX_LINE_BYTES:
                    return None
                tail = data
                continue
            lines, tail = data[:cut].split(b"\n"), data[cut + 1 :]
            if b"" in lines:
                return None  # blank lines are skipped by the line reader but counted: let it number them
            try:
                steps, cols = _columns(lines, rows._steps[-1] if rows._steps else -(2**63) - 1)
            except _Irregular:
                return None
            rows.extend(steps, cols, line + 1)
            for name, _, present in cols:
                if not present:  # as the line reader counts them: every row lacks the field
                    log.missing_fields[name] = log.missing_fields.get(name, 0) + len(steps)
            line += len(lines)
            if not block:
                return log


def read_training_log(path: Path) -> TrainingLog:
    try:
        fast = _read_regular(path)
    except OSError:
        fast = None
    if fast is not None:
        return fast
    log = TrainingLog()
    for lineno, rec in iter_jsonl(path):
        if isinstance(rec, BadLine):
            log.problem(f"line {lineno}: {rec.reason}", lineno)
        else:
            add_record(log, lambda: f"line {lineno}", rec, lineno)  # noqa: B023 (called at once, if at all)
    return log


@dataclass
class Evaluations:
    results: dict[int, dict[str, float]] = field(default_factory=dict)  # step → "task/metric" → value
    problems: list[str] = field(default_factory=list)
    first_problem_line: int | None = None

    def problem(self, message: str, line: int) -> None:
        if not self.problems:
            self.first_problem_line = line
        self.problems.append(message)


def read_evaluations(path: Path) -> Evaluations:
    """Lines ``{"step": int, "task": str, "metric": str, "value": number}``."""
    ev = Evaluations()
    for lineno, rec in iter_jsonl(path):
        if isinstance(rec, BadLine):
            ev.problem(f"line {lineno}: {rec.reason}", lineno)
            continue
        if not (isinstance(rec, dict) and type(rec.get("step")) is int and isinstance(rec.get("task"), str)
                and _number(rec.get("value"))):  # fmt: skip
            ev.problem(f"line {lineno}: needs integer step, string task and numeric value", lineno)
            continue
        key = f"{rec['task']}/{rec.get('metric', 'value')}"
        ev.results.setdefault(rec["step"], {})[key] = _float(rec["value"])
    return ev
