"""data_order, from the weights: the order test (audit.forensics.order) on segments that cannot be replayed
exactly — by default those the replay selected that lack the optimizer or RNG state — and, when asked
(--order-test all|N), the palimpsest correlation and the memorization table."""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass

from audit.checks.base import Addition, Check, Outcome
from audit.core.progress import Progress
from audit.core.release import Release
from audit.forensics.options import OrderTestOptions
from audit.replay.options import ReplayOptions
from audit.forensics import weight_files
from audit.spec.manifest import Checkpoint, Manifest
from audit.spec.report import Forensics, Memorization, MemorizationRow, OrderSegment, PalimpsestResult, Report
from audit.spec.rules.data_order import CHECK as DATA_ORDER_CHECK
from audit.spec.rules.data_order import ORDER_INCONCLUSIVE, ORDER_INCONSISTENT


def _weights_only(start: Checkpoint, end: Checkpoint) -> bool:
    """Both checkpoints' weights released (safetensors or torch.save files), the optimizer or RNG state of the
    first not."""
    weights = all(weight_files(ck) for ck in (start, end))
    return weights and "weights" in start.state and "weights" in end.state and not {"optimizer", "rng"} <= set(start.state)


@dataclass
class ForensicsAddition(Addition):
    forensics: Forensics

    def apply(self, report: Report) -> None:
        report.forensics = self.forensics


def _figures(s: OrderSegment) -> str:
    if s.effect is None:
        return s.reason or "no test"
    return (f"effect A = {s.effect:.2f} (upper bound {s.upper_bound:.2f}), p = {s.p_value:.2g}, opposite p = "
            f"{s.p_opposite:.2g}, {s.sequences} declared vs {s.controls} control sequences, power {s.power:.2f}")  # fmt: skip


def _bound(s: OrderSegment) -> str:
    return (f"{s.step_bound_share:.1%} of the parameters moved further than the declared Adam and learning-rate "
            f"schedule allow in {s.end_step - s.start_step} steps (largest move {s.step_bound_ratio:.2f}× the bound): "
            "not a checkpoint of this run, or not these hyperparameters")  # fmt: skip


def _inconsistent(s: OrderSegment) -> str:
    said = []
    if "step-bound" in s.fired:
        said.append(f"step-size bound: {_bound(s)}")
    if "order" in s.fired:
        said.append(f"order test: the declared sequences' loss did not drop more than other segments' sequences: "
                    f"{_figures(s)}")  # fmt: skip
    return "; ".join(said)


class OrderTestCheck(Check):
    info = DATA_ORDER_CHECK
    title = "Data order: the order test from the weights"  # progress; the criterion's own check is "Data order"

    def __init__(self, options: OrderTestOptions | None = None, allow_exec: bool = False,
                 progress: Progress | None = None, replay: ReplayOptions | None = None):  # fmt: skip
        self.options = options or OrderTestOptions()
        self.allow_exec = allow_exec
        self.progress = progress or Progress()
        self.replay = replay or ReplayOptions()

    def _candidates(self, release: Release, pairs) -> list[int]:
        """The segments that cannot be replayed exactly (the replay plan says why not)."""
        from audit.replay.plan import why_not

        m = release.manifest
        engine = "command" if m.code and m.code.replay_command else "builtin"
        return [i for i, (a, b) in enumerate(pairs) if why_not(release, a, b, engine, self.allow_exec) is not None]

    def _chosen(self, m: Manifest, pairs, candidates: list[int]) -> list[int]:
        """--order-test N|all: of the segments that cannot be replayed; auto: those selected for replay that
        lack only the training state (weights-only releases), with their data mapped to their steps."""
        from audit.replay import plan

        o = self.options
        if o.mode != "auto":
            return [candidates[i] for i in plan.select(len(candidates), o.mode, o.seed)]
        return [i for i in plan.select(len(pairs), self.replay.mode, self.replay.seed)
                if i in candidates and _weights_only(*pairs[i]) and plan.data_unmapped(m, *pairs[i]) is None]  # fmt: skip

    def _memory(self, release: Release, result: Forensics, out: Outcome) -> None:
        """The palimpsest correlation at the final checkpoint and the memorization table of every checkpoint."""
        from audit.forensics.memory import K, L, memorization, palimpsest
        from audit.forensics.model import ForensicsError
        from audit.replay.data import ReplayDataError

        o, m = self.options, release.manifest
        try:
            with self.progress.task("palimpsest and memorization"):
                p = palimpsest(release, m.checkpoints[-1], o.control_sample, o.seed, o.device)
                result.palimpsest = PalimpsestResult(**asdict(p))
                result.forward_passes += p.sequences
                rows, short = memorization(release, m.checkpoints, o.memorization_sample, o.seed, device=o.device)
                result.memorization = Memorization(k=K, l=L, rows=[MemorizationRow(**r.scores()) for r in rows],
                                                   skipped_short=short)  # fmt: skip
                result.forward_passes += L * sum(r.sequences for r in rows)
        except (ForensicsError, ReplayDataError, ValueError) as exc:
            out.evidence["forensics_problem"] = str(exc)

    def run(self, release: Release, out: Outcome) -> None:
        o = self.options
        if o.mode == "none":
            out.skip("order test not run (--order-test none)")
            return
        from audit.replay import plan

        m = release.manifest
        if m.data is None or m.config is None or not m.data.chunks or m.config.training.sequence_length is None:
            out.skip("order test: no data chunks, or no training hyperparameters with a sequence_length declared")
            return
        pairs = plan.segments(m)
        if not pairs:
            out.skip("order test: fewer than two checkpoints")
            return
        candidates = self._candidates(release, pairs)
        chosen = self._chosen(m, pairs, candidates)
        if o.mode == "auto" and not chosen:
            out.skip("order test: no segment selected for replay lacks only the optimizer or RNG state (--order-test "
                     "all tests every segment that cannot be replayed)")  # fmt: skip
            return
        from audit.forensics.model import ForensicsError  # torch: only when a segment is tested
        from audit.forensics.order import order_test
        from audit.replay.data import ReplayDataError

        mapped = [c.last_step for c in m.data.chunks if c.last_step]
        last = min(m.checkpoints[-1].step, max(mapped)) if mapped else m.checkpoints[-1].step  # a global order maps all
        result = Forensics(alpha=o.alpha, min_effect=o.min_effect, sample=o.sample, control_sample=o.control_sample,
                           seed=o.seed)  # fmt: skip
        out.addition = ForensicsAddition(result)
        began = time.perf_counter()
        for i in chosen:
            a, b = pairs[i]
            with self.progress.task(f"order test, steps {a.step} → {b.step}"):
                try:
                    seg = OrderSegment(**asdict(order_test(release, a, b, last, o, i)))
                except (ForensicsError, ReplayDataError) as exc:
                    seg = OrderSegment(start_step=a.step, end_step=b.step, verdict="inconclusive", sequences=0,
                                       reason=str(exc))  # fmt: skip
            result.segments.append(seg)
            result.forward_passes += 2 * (seg.sequences + seg.controls) if seg.effect is not None else 0
            span = f"steps {a.step}→{b.step}"
            if seg.verdict == "inconsistent":
                out.add(ORDER_INCONSISTENT, f"{span}: {_inconsistent(seg)}")
            elif seg.verdict == "inconclusive":
                out.add(ORDER_INCONCLUSIVE, f"{span}: order test inconclusive: {_figures(seg)}")
        if o.mode != "auto":  # the default stays fast: the palimpsest and memorization when asked
            self._memory(release, result, out)
        result.wall_s = time.perf_counter() - began
        counts = {v: sum(s.verdict == v for s in result.segments) for v in ("consistent", "inconsistent", "inconclusive")}
        out.evidence["order_test"] = {"segments_not_replayable": len(candidates), "tested": len(chosen), **counts}
        out.summary = (f"order test: {counts['consistent']} of {len(chosen)} segment(s) consistent"
                       if chosen else "order test: every segment can be replayed exactly")  # fmt: skip
