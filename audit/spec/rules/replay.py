"""Rules of the replay criterion: ids, severities, remediations; the check that reports them is audit.checks.replay."""

from __future__ import annotations

from audit.spec.rules.registry import CheckInfo, Rule

MISMATCH = Rule("replay.mismatch", "error",
                "The released checkpoints, data, hyperparameters or log do not reproduce: find what differs "
                "at the first divergent step (data order, optimizer state, RNG restore, a changed file).")
ERROR = Rule("replay.error", "error", "The segment could not be replayed; the message says which file or step.")
TOLERANCE = Rule("replay.within-tolerance", "warning",
                 "Replayed in a different environment: close but not bitwise equal. Replay on the recorded "
                 "environment (same device, torch version and thread count) for a bit-exact verdict.")
SKIPPED = Rule("replay.segment-skipped", "info",
               "Publish the complete training state (optimizer, RNG, data order) to make the segment replayable.")

CHECK = CheckInfo(
    criterion="replay",
    title="Bit-exact training replay",
    rationale="Only re-running training proves that the published run produced the published checkpoints.",
    rules=(MISMATCH, ERROR, TOLERANCE, SKIPPED),
)
