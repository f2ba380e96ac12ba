"""metrics: the per-step training log covers every step up to the last checkpoint with finite values
and the declared learning-rate schedule; every checkpoint has evaluation results."""

from __future__ import annotations

import math

from audit.checks.base import Check, Outcome
from audit.checks.helpers import content
from audit.checks.helpers.files import verify_file
from audit.frameworks.hf_trainer import logging_steps
from audit.frameworks.registry import read_log
from audit.readers.training_log import read_evaluations
from audit.core.release import Release
from audit.spec.schedule import VECTORISED, lr_array, lr_at
from audit.spec.rules.metrics import FILE, NO_LOG, MALFORMED, STEPS, FIELDS, NON_FINITE, LR, LR_CONVENTION, NO_EVALS, EVAL_MISSING, EVAL_NON_FINITE, CONTENT, CHECK as METRICS_CHECK

#: Curves in the report keep at most this many points per series (every k-th step, and the last).
MAX_SERIES_POINTS = 2000
#: Relative tolerance for the logged learning rate (float32 logging loses ~1e-7).
LR_RTOL = 1e-5


#: From this many logged rates on, the schedule is checked with numpy (its import costs more than small logs).
VECTOR_MIN_ROWS = 20_000
VECTOR_BLOCK = 32_768


def _isclose(got: float, want: float) -> bool:
    return math.isclose(got, want, rel_tol=LR_RTOL, abs_tol=1e-15)


def lr_mismatches(log, s, batch_size: int = 1) -> list[tuple[int, float, float]]:
    """(step, logged, scheduled) for every logged learning rate the declared schedule does not give, in step
    order (steps below 1 and non-finite rates are not compared: the log's own findings name those). A log whose
    rate at step s is that of update s + 1 (``log.lr_step_offset``, Megatron-LM's) is compared so.
    ``batch_size``: the global batch (the megatron-* schedules count samples; no vectorised form)."""
    kw = dict(schedule=s.name, peak_lr=s.peak_lr, final_lr=s.final_lr, warmup_steps=s.warmup_steps,
              total_steps=s.total_steps, decay_steps=s.decay_steps)  # fmt: skip
    steps, values, present, ordered = log.rows.buffers("learning_rate")
    if ordered and len(steps) >= VECTOR_MIN_ROWS:
        import numpy as np

        all_st, all_got = np.frombuffer(steps, dtype=np.int64), np.frombuffer(values, dtype=np.float64)
        all_present = np.frombuffer(present, dtype=np.uint8)
        out, vectorised = [], s.name in VECTORISED
        for lo in range(0, len(all_st), VECTOR_BLOCK) if vectorised else ():  # blocks: memory stays flat
            st, got = all_st[lo : lo + VECTOR_BLOCK], all_got[lo : lo + VECTOR_BLOCK]
            keep = (all_present[lo : lo + VECTOR_BLOCK] == 1) & (st >= 1) & np.isfinite(got)
            st, got = st[keep], got[keep]
            want = lr_array(st + log.lr_step_offset, **kw)
            tol = np.maximum(LR_RTOL * np.maximum(np.abs(got), np.abs(want)), 1e-15)
            # A superset of the mismatches (numpy's cos may differ in the last bit), each then decided by lr_at.
            for i in np.flatnonzero((np.abs(got - want) > tol * (1 - 1e-6)) | ~np.isfinite(want)).tolist():
                step, g = int(st[i]), float(got[i])
                w = lr_at(step + log.lr_step_offset, **kw, batch_size=batch_size)
                if not _isclose(g, w):
                    out.append((step, g, w))
        if vectorised:
            return out
    out = []
    for step, got in log.rows.series("learning_rate"):
        if step >= 1 and math.isfinite(got):
            want = lr_at(step + log.lr_step_offset, **kw, batch_size=batch_size)
            if not _isclose(got, want):
                out.append((step, got, want))
    return out


class MetricsCheck(Check):
    info = METRICS_CHECK

    def run(self, release: Release, out: Outcome) -> None:
        m = release.manifest
        metrics = m.metrics
        content.report(release, "metrics", CONTENT, out)
        if metrics is None or metrics.training_log is None:
            out.add(NO_LOG, "the manifest declares no training log")
        else:
            self._log(release, out)
        if metrics is None or metrics.evaluations is None:
            out.add(NO_EVALS, "the manifest declares no evaluation results")
        else:
            self._evals(release, out)

    def _log(self, release: Release, out: Outcome) -> None:
        m = release.manifest
        entry = m.metrics.training_log
        path = verify_file(release, entry, FILE, out, hash_it=release.hash_files)
        if path is None:
            return
        log = read_log(path, entry.format)
        p = entry.path
        if log.problems:
            what = "problem(s) in log_history" if entry.format == "hf-trainer-state" else "bad line(s)"
            out.add(MALFORMED, f"{p}: {len(log.problems)} {what}, first: {log.problems[0]}", p, log.first_problem_line)
        last = m.checkpoints[-1].step if m.checkpoints else max(log.rows, default=0)
        n_absent, absent = log.rows.absent(last)
        if n_absent:
            shown = ", ".join(map(str, absent)) + (" …" if n_absent > 5 else "")
            every = logging_steps(path) if entry.format == "hf-trainer-state" else None
            why = f" (logging_steps is {every}: one mean loss per {every} steps)" if every and every > 1 else ""
            out.add(STEPS, f"{p}: {n_absent} of steps 1–{last} not logged: {shown}{why}", p)
        for name, n in log.missing_fields.items():
            out.add(FIELDS, f"{p}: {n} row(s) without a numeric {name}", p)
        for step, name in log.non_finite[:5]:
            out.add(NON_FINITE, f"{p}: {name} at step {step} is not finite", p, log.line(step))
        if len(log.non_finite) > 5:
            out.add(NON_FINITE, f"{p}: {len(log.non_finite) - 5} more non-finite value(s)", p)
        s = m.config.training.lr_schedule if m.config is not None else None
        if s is not None and entry.format == "hf-trainer-state" and not s.name.startswith("hf-") and s.name != "constant":
            out.add(LR_CONVENTION, f"{p}: learning rates not compared: a Hugging Face Trainer log follows "
                                   f"transformers' schedules, the manifest declares {s.name}", p)  # fmt: skip
        elif s is not None:
            bad = lr_mismatches(log, s, m.config.training.batch_size)
            if bad:
                step, got, want = bad[0]
                of = "" if not log.lr_step_offset else \
                    f" (logged after the scheduler's step: the rate of update {step + log.lr_step_offset})"
                out.add(LR, f"{p}: learning rate at step {step} is {got:.6g}{of}, the {s.name} schedule gives "
                            f"{want:.6g} ({len(bad)} step(s) off)", p, log.line(step))  # fmt: skip
        out.summary = f"{len(log.rows)} steps logged"
        stride, shown = log.rows.thinned(MAX_SERIES_POINTS)
        out.evidence |= {"steps_logged": len(log.rows), "steps_expected": last, "series_stride": stride,
                         "series": {k: [[s, row[k]] for s in shown if k in (row := log.rows[s])]
                                    for k in ("loss", "learning_rate", "grad_norm")}}  # fmt: skip

    def _evals(self, release: Release, out: Outcome) -> None:
        m = release.manifest
        entry = m.metrics.evaluations
        path = verify_file(release, entry, FILE, out, hash_it=release.hash_files)
        if path is None:
            return
        ev = read_evaluations(path)
        p = entry.path
        if ev.problems:
            out.add(MALFORMED, f"{p}: {len(ev.problems)} bad line(s), first: {ev.problems[0]}", p, ev.first_problem_line)
        tasks = set(entry.tasks)
        lacking = []
        for ck in m.checkpoints:
            have = {k.split("/")[0] for k in ev.results.get(ck.step, {})}
            if not have or (tasks - have):
                lacking.append((ck.step, sorted(tasks - have) or ["any task"]))
        for step, what in lacking:
            out.add(EVAL_MISSING, f"{p}: checkpoint at step {step} has no result for {', '.join(what)}", p)
        for step, res in sorted(ev.results.items()):
            for key, value in res.items():
                if not math.isfinite(value):
                    out.add(EVAL_NON_FINITE, f"{p}: {key} at step {step} is {value}", p)
        evaluated = sum(1 for ck in m.checkpoints if ck.step in ev.results)
        out.summary = (out.summary + ", " if out.summary else "") + f"{evaluated} checkpoints evaluated"
        out.evidence |= {"evaluated_checkpoints": sum(1 for ck in m.checkpoints if ck.step in ev.results),
                         "evaluations": {k: [[s, r[k]] for s, r in sorted(ev.results.items()) if k in r]
                                         for k in sorted({k for r in ev.results.values() for k in r})}}  # fmt: skip
