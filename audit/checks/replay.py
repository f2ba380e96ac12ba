"""replay: re-execute training from released checkpoints and compare with the next ones bit for bit."""

from __future__ import annotations

from audit.checks.base import Check, Outcome, Rule
from audit.core.progress import Progress
from audit.core.release import Release
from audit.replay.options import ReplayOptions

MISMATCH = Rule("replay.mismatch", "error",
                "The released checkpoints, data, hyperparameters or log do not reproduce: find what differs "
                "at the first divergent step (data order, optimizer state, RNG restore, a changed file).")
ERROR = Rule("replay.error", "error", "The segment could not be replayed; the message says which file or step.")
TOLERANCE = Rule("replay.within-tolerance", "warning",
                 "Replayed in a different environment: close but not bitwise equal. Replay on the recorded "
                 "environment (same device, torch version and thread count) for a bit-exact verdict.")
SKIPPED = Rule("replay.segment-skipped", "info",
               "Publish the complete training state (optimizer, RNG, data order) to make the segment replayable.")


class ReplayCheck(Check):
    id = "replay"
    criterion = "replay"
    title = "Bit-exact training replay"
    rationale = "Only re-running training proves that the published run produced the published checkpoints."
    rules = (MISMATCH, ERROR, TOLERANCE, SKIPPED)

    def __init__(self, options: ReplayOptions | None = None, progress: Progress | None = None):
        self.options = options or ReplayOptions()
        self.progress = progress or Progress()

    def run(self, release: Release, out: Outcome) -> None:
        from audit.replay import plan

        pairs = plan.segments(release.manifest)
        indices = plan.select(len(pairs), self.options.mode, self.options.seed)
        out.evidence |= {"segments_available": len(pairs), "segments_selected": len(indices)}
        if not indices:
            out.skip("no segment replayed" + (" (--replay none)" if self.options.mode == "none" else
                                              " (fewer than two checkpoints)"))  # fmt: skip
            return
        if release.shard is not None:  # the k-th selected segment is shard k mod N + 1's
            indices = [ix for k, ix in enumerate(indices) if release.shard.owns(k)]
            if not indices:
                out.skip(f"no segment replayed in shard {release.shard} (the selected ones belong to other shards)")
                return
        if release.recorded is not None:  # merge: the shards replayed them
            from audit.spec.report import ReplaySegment

            lost = lambda a, b: ReplaySegment(start_step=a.step, end_step=b.step, status="error",
                                              reason="no shard report holds this segment")  # fmt: skip
            out.segments = [release.recorded.segments.get(pairs[ix][0].step) or lost(*pairs[ix]) for ix in indices]
            out.environment = release.recorded.environment
        else:
            from audit.replay.segment import run_replay

            out.segments, out.environment = run_replay(release, self.options, indices, pairs, self.progress)
        for s in out.segments:
            span = f"steps {s.start_step}→{s.end_step}"
            if s.status == "mismatch":
                out.add(MISMATCH, f"{span}: mismatch, first divergent step {s.first_divergent_step}, "
                                  f"max abs diff {s.max_abs_diff if s.max_abs_diff is not None else 'n/a'}: {s.reason}")  # fmt: skip
            elif s.status == "error":
                out.add(ERROR, f"{span}: {s.reason}")
            elif s.status == "within-tolerance":
                out.add(TOLERANCE, f"{span}: within tolerance {s.tolerance:g} (max relative diff "
                                   f"{s.max_rel_diff if s.max_rel_diff is not None else 'n/a'}); environment differs "
                                   f"in {', '.join(s.environment_differences)}")  # fmt: skip
            elif s.status == "skipped":
                out.add(SKIPPED, f"{span}: skipped, {s.reason}")
        counts = {st: sum(1 for s in out.segments if s.status == st) for st in
                  ("bit-exact", "within-tolerance", "mismatch", "skipped", "error")}  # fmt: skip
        out.evidence["segments"] = {k: v for k, v in counts.items() if v}
        spans = ", ".join(f"{s.start_step}→{s.end_step}" for s in out.segments if s.status == "bit-exact")
        out.summary = f"{counts['bit-exact']} of {len(pairs)} segments replayed bit-exact ({spans})"
        if counts["skipped"] == len(out.segments):
            out.skip(f"all {len(out.segments)} selected segment(s) skipped: {out.segments[0].reason}")
