"""replay: re-executing training steps from a released checkpoint (not built yet: always skipped)."""

from __future__ import annotations

from audit.checks.base import Check, Outcome
from audit.release import Release


class ReplayCheck(Check):
    id = "replay"
    criterion = "replay"
    title = "Bit-exact training replay"
    rationale = "Only re-running training proves that the published run produced the published checkpoints."
    rules = ()

    def run(self, release: Release, out: Outcome) -> None:
        out.skip("the replay engine is not part of this version; no segment was replayed")
