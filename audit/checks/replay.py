"""replay: re-execute training from released checkpoints and compare with the next ones bit for bit."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from audit.checks.base import Addition, Check, Outcome
from audit.spec.report import ReplayCoverage, ReplaySegment, Report
from audit.core.progress import Progress
from audit.core.release import Release
from audit.replay.options import ReplayOptions
from audit.spec.rules.replay import MISMATCH, ERROR, TOLERANCE, SKIPPED, CHECK as REPLAY_CHECK


#: Segment statuses that mean the segment was run to a comparison (they count as replayed).
COMPARED = ("bit-exact", "within-tolerance", "mismatch")


@dataclass
class ReplayAddition(Addition):
    """The replayed segments, the fingerprint of the environment they ran in, and how many of the
    release's ``total`` segments they cover."""

    segments: list[ReplaySegment]
    environment: dict[str, Any]
    total: int

    def apply(self, report: Report) -> None:
        report.replay.segments = list(self.segments)
        report.replay.environment = dict(self.environment)
        replayed = sum(1 for s in self.segments if s.status in COMPARED)
        report.replay.coverage = ReplayCoverage(segments_total=self.total, segments_replayed=replayed)


class ReplayCheck(Check):
    info = REPLAY_CHECK

    def __init__(self, options: ReplayOptions | None = None, progress: Progress | None = None):
        self.options = options or ReplayOptions()
        self.progress = progress or Progress()

    def _run(self, release: Release, selected: list[int], pairs) -> tuple[list[ReplaySegment], dict[str, Any]]:
        from audit.replay.segment import run_replay

        return run_replay(release, self.options, selected, pairs, self.progress)

    def run(self, release: Release, out: Outcome) -> None:
        from audit.replay import plan

        pairs = plan.segments(release.manifest)
        indices = plan.select(len(pairs), self.options.mode, self.options.seed)
        out.evidence |= {"segments_available": len(pairs), "segments_selected": len(indices)}
        out.addition = ReplayAddition([], {}, len(pairs))  # none replayed, until some are
        if not indices:
            out.skip("no segment replayed" + (" (--replay none)" if self.options.mode == "none" else
                                              " (fewer than two checkpoints)"))  # fmt: skip
            return
        replayed = release.replay(indices, [(a.step, b.step) for a, b in pairs],
                                  lambda selected: self._run(release, selected, pairs))  # fmt: skip
        if replayed.skipped:
            out.skip(replayed.skipped)
            return
        out.addition = ReplayAddition(replayed.segments, replayed.environment, len(pairs))
        segments = replayed.segments
        for s in segments:
            span = f"steps {s.start_step}→{s.end_step}"
            if s.status == "mismatch":
                out.add(MISMATCH, f"{span}: mismatch, first divergent step {s.first_divergent_step}, "
                                  f"max abs diff {s.max_abs_diff if s.max_abs_diff is not None else 'n/a'}: {s.reason}",
                        s.released_log_path, s.released_log_line)  # fmt: skip
            elif s.status == "error":
                out.add(ERROR, f"{span}: {s.reason}")
            elif s.status == "within-tolerance":
                out.add(TOLERANCE, f"{span}: within tolerance {s.tolerance:g} (max relative diff "
                                   f"{s.max_rel_diff if s.max_rel_diff is not None else 'n/a'}); environment differs "
                                   f"in {', '.join(s.environment_differences)}")  # fmt: skip
            elif s.status == "skipped":
                out.add(SKIPPED, f"{span}: skipped, {s.reason}")
        counts = {st: sum(1 for s in segments if s.status == st) for st in
                  ("bit-exact", "within-tolerance", "mismatch", "skipped", "error")}  # fmt: skip
        out.evidence["segments"] = {k: v for k, v in counts.items() if v}
        spans = ", ".join(f"{s.start_step}→{s.end_step}" for s in segments if s.status == "bit-exact")
        out.summary = f"{counts['bit-exact']} of {len(pairs)} segments replayed bit-exact ({spans})"
        if counts["skipped"] == len(segments):
            out.skip(f"all {len(segments)} selected segment(s) skipped: {segments[0].reason}")
