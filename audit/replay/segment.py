"""Replay one segment and decide its status honestly.

Same environment: ``bit-exact`` or ``mismatch``. Different environment (or none recorded):
``bit-exact`` only if the values are bitwise equal anyway, else ``within-tolerance`` when every
difference is within the relative tolerance, else ``mismatch``. Never a false ``bit-exact``, never a
``mismatch`` for an honest cross-hardware difference.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

from audit import interrupts
from audit.spec.manifest import Checkpoint
from audit.frameworks.registry import read_log
from audit.readers.training_log import TrainingLog
from audit.core.release import Release
from audit.frameworks.registry import for_files
from audit.replay import compare, dcp_state
from audit.replay.data import ReplayDataError, step_batches
from audit.replay.engines import EngineError, run_builtin, run_command
from audit.replay.options import ReplayOptions
from audit.replay.plan import why_not

MAX_TENSORS_LISTED = 20
COMPARED_ROLES = ("weights", "optimizer", "training-state")
#: Logged steps a replay must reproduce bit for bit before an unrecorded environment counts as the same.
SAME_ARITHMETIC_STEPS = 2


def _released_log(release: Release) -> tuple[TrainingLog, str | None]:
    """The released training log and its path (an empty log when none is released)."""
    m = release.manifest
    if m.metrics is None or m.metrics.training_log is None or not release.has_file(m.metrics.training_log.path):
        return TrainingLog(), None
    entry = m.metrics.training_log
    return read_log(release.path(entry.path), entry.format), entry.path


def _divergence(div: compare.LogDivergence, log: TrainingLog, path: str | None) -> tuple[str, dict]:
    """The first differing logged value in words, and as segment fields (both values, where the released one is)."""
    where = log.where(div.step)
    at = f" ({path} {where})" if path and where else ""
    text = (f"the step log differs from step {div.step}: {div.field} {div.replayed!r} replayed, "
            f"{div.released!r} released{at}")  # fmt: skip
    fields = dict(first_divergent_field=div.field, replayed_value=div.replayed, released_value=div.released,
                  released_log_path=path)  # fmt: skip
    if log.position_kind == "line":
        fields["released_log_line"] = log.rows.position(div.step)
    return text, fields


def _released_env(release: Release, ck: Checkpoint) -> dict | None:
    try:
        env = release.training_state(ck).get("environment")
    except ValueError:
        return None
    return env if isinstance(env, dict) else None


def _same_arithmetic(env_diff: list[str], exact, logs: list[dict], log: TrainingLog) -> int:
    """Where the release records no environment: the number of logged steps the replay reproduced bit for
    bit when at least :data:`SAME_ARITHMETIC_STEPS` (the second and later follow updates the replay
    computed), else 0. A machine that computes differently does not give the same losses and gradient
    norms step after step."""
    if env_diff != [compare.NO_FINGERPRINT] or exact is not None:
        return 0
    logged = sum(1 for r in logs if log.rows.get(r["step"]) is not None and any(k in r for k in compare.LOG_FIELDS))
    return logged if logged >= SAME_ARITHMETIC_STEPS else 0


def replay_segment(release: Release, start: Checkpoint, end: Checkpoint, opts: ReplayOptions, released):
    """(the segment's result, the fingerprint of the environment it ran in or None)."""
    from audit.spec.report import ReplaySegment

    engine = "command" if release.manifest.code and release.manifest.code.replay_command else "builtin"
    reason = why_not(release, start, end, engine, opts.allow_exec)
    if reason:
        return ReplaySegment(start_step=start.step, end_step=end.step, status="skipped", reason=reason, engine=engine), None
    last = end.step if opts.steps is None else min(end.step, start.step + opts.steps)
    with_state = last == end.step
    seg = dict(start_step=start.step, end_step=last, engine=engine, compared=["log", "state"] if with_state else ["log"])
    began = time.perf_counter()
    for f in start.files + (end.files if with_state else []):
        if f.path.endswith(".safetensors"):
            try:
                release.header(f.path)  # never hand a malformed file to a tensor loader
            except ValueError as exc:
                return ReplaySegment(**seg, status="error", reason=f"{f.path}: {exc}"), None
    if engine == "builtin" and any(f.role == "training-state" for f in start.files):
        try:
            release.training_state(start)  # bounded and validated before the trainer reads it
        except ValueError as exc:
            return ReplaySegment(**seg, status="error", reason=str(exc)), None
    owner = for_files({f.path.rsplit("/", 1)[-1] for f in start.files})
    own_data = engine == "command" and owner is not None and owner.resumes_own_data
    try:
        # own_data: the framework's loader resumes from the checkpoint; one empty batch per step to replay
        batches = [[] for _ in range(last - start.step)] if own_data else step_batches(release, start.step + 1, last)
        with tempfile.TemporaryDirectory(prefix="llm360-replay-") as tmp:
            run = (run_command if engine == "command" else run_builtin)(release, start, batches, opts, Path(tmp))
            state, not_compared = None, None
            if with_state:
                roles = COMPARED_ROLES + (("scheduler", "rng") if engine == "builtin" else ())  # a command leaves what it saves
                names = [f.path.rsplit("/", 1)[-1] for f in end.files if f.role in roles]
                try:
                    if any(n.endswith(".distcp") for n in names):  # PyTorch DCP: every item of .metadata, by value
                        state = dcp_state.compare_dcp(release.path(end.path), run.out)
                    else:
                        state = compare.compare_states(release.path(end.path), run.out, names)
                except compare.CompareError as exc:  # the step log is still compared and reported
                    not_compared = str(exc)
                    seg["compared"] = ["log"]
    except (ReplayDataError, EngineError) as exc:
        return ReplaySegment(**seg, status="error", reason=str(exc), wall_s=time.perf_counter() - began), None
    wall = time.perf_counter() - began

    env_diff = compare.environment_differences(_released_env(release, end if with_state else start), run.environment or {})
    log, log_path = released
    exact = compare.first_log_divergence(run.logs, log.rows, None)
    same_arithmetic = _same_arithmetic(env_diff, exact, run.logs, log)
    if same_arithmetic:
        env_diff = []  # for the verdict only: the segment reports what is not recorded
    tolerated = compare.first_log_divergence(run.logs, log.rows, opts.tolerance)
    exact_step = exact.step if exact else None
    tol_step = tolerated.step if tolerated else None
    if not run.logs:
        seg["compared"] = [c for c in seg["compared"] if c != "log"]
    details = dict(environment_differences=[compare.NO_FINGERPRINT] if same_arithmetic else env_diff, wall_s=wall)
    if state is not None:
        details |= dict(
            max_abs_diff=max((d.max_abs_diff for d in state.diffs), default=0.0),
            max_ulp=max((d.max_ulp for d in state.diffs), default=0),
            max_rel_diff=state.max_rel,
            differing_elements=sum(d.differing for d in state.diffs),
            tensors=state.diffs[:MAX_TENSORS_LISTED],
            tensors_compared=state.compared,
            tensors_differing=len(state.diffs),
        )
    if not_compared is not None and ((tol_step if env_diff else exact_step) is None or not run.logs):
        logged = sum(1 for r in run.logs if log.rows.get(r["step"]) is not None)
        said = (f"; the step log was compared: {logged} logged step(s), identical" if run.logs and logged else
                "; no step log to compare")  # fmt: skip
        return ReplaySegment(**seg, **details, status="error", reason=f"end state not compared: {not_compared}{said}"), run.environment
    identical = exact_step is None and (state is None or state.identical)
    if identical:
        return ReplaySegment(**seg, **details, status="bit-exact"), run.environment
    tolerable = (
        bool(env_diff)
        and tol_step is None
        and (state is None or (not state.missing and not state.fields and state.max_rel <= opts.tolerance))
    )
    if tolerable:
        return ReplaySegment(**seg, **details, status="within-tolerance", tolerance=opts.tolerance,
                             reason="the replay environment differs from the release's"), run.environment  # fmt: skip
    first = (tol_step if env_diff else exact_step) or exact_step or last
    why = [f"end state not compared: {not_compared}"] if not_compared else []
    if same_arithmetic:
        why.append(f"no environment fingerprint is released, but the replay reproduced all {same_arithmetic} logged "
                   "steps bit for bit: the difference is not the environment's")  # fmt: skip
    if state is not None and state.missing:
        why.append(f"{len(state.missing)} tensor(s) missing from the replay, e.g. {state.missing[0]}")
    if state is not None and state.fields:
        why.append(f"training state differs in {', '.join(state.fields)}")
    if state is not None and state.diffs:
        top = state.diffs[0]  # largest difference first
        why.append(f"{len(state.diffs)} of {state.compared} tensors differ (largest: {top.name}, max abs diff "
                   f"{top.max_abs_diff:g}, {top.max_ulp} ULP)")
    shown = (tolerated if env_diff else exact) or exact
    if shown is not None:
        text, fields = _divergence(shown, log, log_path)
        why.append(text)
        details |= fields
    return ReplaySegment(**seg, **details, status="mismatch", first_divergent_step=first,
                         tolerance=opts.tolerance if env_diff else None, reason="; ".join(why)), run.environment  # fmt: skip


def run_replay(release: Release, opts: ReplayOptions, indices: list[int], pairs, progress):
    """Replay the selected segments: (segments, fingerprint of the replay environment or {})."""
    released = _released_log(release)
    segments, environment = [], {}
    for i in indices:
        interrupts.check()
        start, end = pairs[i]
        with progress.task(f"replaying steps {start.step} → {end.step}"):
            segment, env = replay_segment(release, start, end, opts, released)
        segments.append(segment)
        environment = environment or env or {}
    return segments, environment
