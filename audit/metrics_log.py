"""Readers for the per-step training log and the per-checkpoint evaluation results (JSONL)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

from audit.jsonl import BadLine, iter_jsonl

LOG_FIELDS = ("loss", "learning_rate", "grad_norm")


@dataclass
class TrainingLog:
    rows: dict[int, dict[str, float]] = field(default_factory=dict)  # step → field → value
    problems: list[str] = field(default_factory=list)  # malformed lines, duplicates
    non_finite: list[tuple[int, str]] = field(default_factory=list)  # (step, field)
    missing_fields: dict[str, int] = field(default_factory=dict)  # field → rows lacking it


def _number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _float(v: int | float) -> float:
    """JSON integers can be arbitrarily large; those beyond float range count as infinite."""
    try:
        return float(v)
    except OverflowError:
        return math.inf if v > 0 else -math.inf


def read_training_log(path: Path) -> TrainingLog:
    log = TrainingLog()
    for lineno, rec in iter_jsonl(path):
        if isinstance(rec, BadLine) or not isinstance(rec, dict) or type(rec.get("step")) is not int:
            why = rec.reason if isinstance(rec, BadLine) else "no integer 'step'"
            log.problems.append(f"line {lineno}: {why}")
            continue
        step = rec["step"]
        if step in log.rows:
            log.problems.append(f"line {lineno}: step {step} logged twice")
            continue
        row: dict[str, float] = {}
        for name in LOG_FIELDS:
            v = rec.get(name)
            if not _number(v):
                log.missing_fields[name] = log.missing_fields.get(name, 0) + 1
                continue
            value = _float(v)
            if not math.isfinite(value):
                log.non_finite.append((step, name))
            row[name] = value
        log.rows[step] = row
    return log


@dataclass
class Evaluations:
    results: dict[int, dict[str, float]] = field(default_factory=dict)  # step → "task/metric" → value
    problems: list[str] = field(default_factory=list)


def read_evaluations(path: Path) -> Evaluations:
    """Lines ``{"step": int, "task": str, "metric": str, "value": number}``."""
    ev = Evaluations()
    for lineno, rec in iter_jsonl(path):
        if isinstance(rec, BadLine):
            ev.problems.append(f"line {lineno}: {rec.reason}")
            continue
        if not (isinstance(rec, dict) and type(rec.get("step")) is int and isinstance(rec.get("task"), str)
                and _number(rec.get("value"))):  # fmt: skip
            ev.problems.append(f"line {lineno}: needs integer step, string task and numeric value")
            continue
        key = f"{rec['task']}/{rec.get('metric', 'value')}"
        ev.results.setdefault(rec["step"], {})[key] = _float(rec["value"])
    return ev
