"""The order test (Choi, Shavit & Duvenaud 2023): did the sequences declared for a segment c → c+1 train it?

A model overfits for a while to what it was just trained on, so from checkpoint c to c+1 the loss of
the segment's own sequences drops more than the loss of sequences it has not (yet) seen. For a seeded
sample of the declared sequences and a seeded control sample — sequences declared for *later*
segments (untrained at c+1 if the manifest is true), or, for the last segment, for earlier ones — the
per-sequence drop loss(c) − loss(c+1) is compared with a one-sided Mann-Whitney U test, effect size the
common-language effect A = P(declared drop > control drop) (0.5 = no difference).

Decision rule, at significance ``alpha`` and the smallest effect ``min_effect`` a truly trained segment
is expected to show (both in :class:`OrderTestOptions`):

* ``consistent``: p ≤ alpha for "declared drops exceed control drops";
* ``inconsistent``: the sample rules the expected effect out — the one-sided upper confidence bound
  A + z(1−alpha)·σ₀ is below ``min_effect`` (σ₀: the null standard deviation of A), or the opposite
  one-sided test ("declared drops are *smaller*") has p ≤ alpha. Data that never trained the segment
  (swapped chunks, substituted sequences, a checkpoint from another run) land here;
* ``inconclusive``: neither; the result states the power the sample sizes give against ``min_effect``.

A checkpoint of another run trained on the same data passes that test (its latest steps saw the same
sequences), so each segment is also held to the step-size bound (audit.forensics.continuity): when the
weights moved further than the declared Adam and schedule can move them, the segment is
``inconsistent`` whatever the loss drops say. ``fired`` names the tests that found it inconsistent:
``order`` and/or ``step-bound``.

Both error rates are measured on a weights-only fixture in BENCHMARKS.md (benchmarks/order_test.py).
"""

from __future__ import annotations

import math
import random
import statistics
import time
from dataclasses import dataclass, field

from audit.core.release import Release
from audit.forensics.continuity import step_bound, why_not
from audit.forensics.model import ForensicsError, checkpoint_tensors, load_model, sequence_losses
from audit.forensics.options import OrderTestOptions
from audit.forensics.samples import read_slots, sample_slots
from audit.forensics.stats import mann_whitney, normal_isf, u_power
from audit.spec.manifest import Checkpoint


@dataclass(frozen=True)
class OrderResult:
    start_step: int
    end_step: int
    verdict: str  # consistent | inconsistent | inconclusive
    p_value: float | None  # one-sided: declared drops exceed the controls'
    effect: float | None  # common-language effect size A
    sequences: int  # declared sequences tested
    controls: int = 0
    control: str | None = None  # later | earlier
    p_opposite: float | None = None
    upper_bound: float | None = None
    power: float | None = None
    reason: str | None = None
    wall_s: float | None = None
    step_bound_ratio: float | None = None  # largest parameter move / the step-size bound (> 1: impossible)
    step_bound_share: float | None = None  # share of the parameters over the bound
    step_bound_note: str | None = None  # why the bound was not applied
    fired: list[str] = field(default_factory=list)  # the tests that found the segment inconsistent
    declared_drop: float | None = None  # median loss drop c → c+1 of the declared sequences (nats)
    control_drop: float | None = None  # the same of the controls


def decide(p_greater: float, p_less: float, effect: float, sigma: float, n1: int, n2: int,
           opts: OrderTestOptions) -> tuple[str, float, float]:
    """(verdict, upper confidence bound of the effect, power against ``min_effect``)."""  # fmt: skip
    upper = effect + normal_isf(opts.alpha) * sigma
    power = u_power(opts.min_effect, n1, n2, opts.alpha)
    if p_greater <= opts.alpha:
        return "consistent", upper, power
    if p_less <= opts.alpha or upper < opts.min_effect:
        return "inconsistent", upper, power
    return "inconclusive", upper, power


def order_test(release: Release, start: Checkpoint, end: Checkpoint, last_step: int, opts: OrderTestOptions,
               segment_index: int = 0) -> OrderResult:
    """The order test and the step-size bound on segment ``start`` → ``end`` (steps start+1 … end) of a
    release whose data map steps 1 … ``last_step``; raises ForensicsError / ReplayDataError for unusable inputs."""
    began = time.perf_counter()
    rng = random.Random(f"{opts.seed}:{segment_index}")
    declared = sample_slots(range(start.step + 1, end.step + 1), release, opts.sample, rng)
    later, earlier = range(end.step + 1, last_step + 1), range(1, start.step + 1)
    control, pool = ("later", later) if len(later) else ("earlier", earlier)
    controls = sample_slots(pool, release, opts.control_sample, rng) if pool else []
    before, after = checkpoint_tensors(release, start), checkpoint_tensors(release, end)
    bound = _bound(release, start, end, before, after)
    fired = ["step-bound"] if bound.get("step_bound_ratio", 0.0) > 1 else []
    base = dict(start_step=start.step, end_step=end.step, sequences=len(declared), controls=len(controls), **bound)
    if not controls:
        return OrderResult(**base, verdict="inconsistent" if fired else "inconclusive", p_value=None, effect=None,
                           reason="no other segment's sequences to compare with", fired=fired,
                           wall_s=time.perf_counter() - began)  # fmt: skip
    seqs = read_slots(release, declared + controls)
    drops = _drops(release, (start, before), (end, after), seqs, opts.device)
    test = mann_whitney(drops[: len(declared)], drops[len(declared) :])
    verdict, upper, power = decide(test.p_greater, test.p_less, test.effect, test.sigma, len(declared),
                                   len(controls), opts)  # fmt: skip
    if verdict == "inconsistent":
        fired.insert(0, "order")
    return OrderResult(**base, verdict="inconsistent" if fired else verdict, p_value=test.p_greater,
                       effect=test.effect, control=control, p_opposite=test.p_less, upper_bound=min(1.0, upper),
                       power=power, fired=fired, declared_drop=statistics.median(drops[: len(declared)]),
                       control_drop=statistics.median(drops[len(declared) :]), wall_s=time.perf_counter() - began)  # fmt: skip


def _bound(release: Release, start: Checkpoint, end: Checkpoint, before, after) -> dict:
    m = release.manifest
    note = why_not(m.config.training if m.config else None)
    if note is not None:
        return {"step_bound_note": note}
    try:
        b = step_bound(m.config.training, start.step, end.step, before, after)
    except ValueError as exc:
        raise ForensicsError(f"checkpoints {start.step} and {end.step}: {exc}") from None
    return {"step_bound_ratio": b.max_ratio, "step_bound_share": b.share_over}


def _drops(release: Release, start, end, seqs: list[list[int]], device: str) -> list[float]:
    """Per-sequence loss(start) − loss(end); ``start`` and ``end`` are (checkpoint, its tensors)."""
    before = sequence_losses(load_model(release, start[0], device, start[1]), seqs, device)
    after = sequence_losses(load_model(release, end[0], device, end[1]), seqs, device)
    return [b - a if math.isfinite(b - a) else 0.0 for b, a in zip(before, after)]
