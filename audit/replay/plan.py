"""Which segments (checkpoint c → checkpoint c+1) to replay, and whether each can be replayed."""

from __future__ import annotations

import random

from audit.spec.manifest import Checkpoint, Manifest
from audit.core.release import Release
from audit.frameworks.reference import FILES as REFERENCE_FILES
from audit.frameworks.registry import for_files


def segments(manifest: Manifest) -> list[tuple[Checkpoint, Checkpoint]]:
    cks = manifest.checkpoints
    return [(a, b) for a, b in zip(cks, cks[1:]) if b.step > a.step]


def select(count: int, mode: str, seed: int) -> list[int]:
    """Indices of the segments to replay: none, all, or the first plus a seeded sample of the rest."""
    if mode == "none" or count == 0:
        return []
    if mode == "all":
        return list(range(count))
    n = min(int(mode), count)
    return [0] + sorted(random.Random(seed).sample(range(1, count), n - 1))


def data_unmapped(m: Manifest, start: Checkpoint, end: Checkpoint) -> str | None:
    """Why the sequences of steps start+1 … end are not known from the manifest, or None."""
    if m.data is None:
        return "training data not released"
    order = m.data.order
    if order.global_indices is None and order.within_chunk != "global-indices":  # a global order maps every step
        if order.within_chunk != "sequential":
            detail = f" ({order.description})" if order.description else ""
            return f"the order of sequences inside chunks is {order.within_chunk}{detail}: the data of each step is unknown"
        mapped = {s for c in m.data.chunks if c.first_step and c.last_step for s in range(c.first_step, c.last_step + 1)}
        lacking = [s for s in range(start.step + 1, end.step + 1) if s not in mapped]
        if lacking:
            return f"step {lacking[0]} has no data in the step → chunk mapping"
    return None


def why_not(release: Release, start: Checkpoint, end: Checkpoint, engine: str, allow_exec: bool) -> str | None:
    """The reason a segment cannot be replayed, or None."""
    m = release.manifest
    framework = for_files({f.path.rsplit("/", 1)[-1] for f in start.files}) if engine != "command" else None
    if framework is not None and not framework.replays:
        return framework.replay_blocker(release, start)
    if m.config is None:
        return "no training hyperparameters declared (config.training)"
    if m.config.training.sequence_length is None:
        return "config.training.sequence_length is not declared"
    # The release's own code decides what its resume needs: RNG state it lacks shows as a mismatch; the
    # built-in engine needs what the framework's adapter resumes from (Framework.resume_needs).
    needs = {"optimizer"} if engine == "command" else set(framework.resume_needs) if framework else {"optimizer", "rng"}
    for part, what in (("optimizer", "optimizer state"), ("rng", "RNG state")):
        if part in needs and part not in start.state:
            return f"{what} for step {start.step} not released"
    if "weights" not in end.state:
        return f"weights for step {end.step} not released"
    if start.path is None or end.path is None:
        return "checkpoint directories are not in the release"
    absent = next((f.path for ck in (start, end) for f in ck.files
                   if f.role != "other" and not release.has_file(f.path)), None)  # fmt: skip
    if absent is not None:
        return f"{absent} is missing"
    owner = for_files({f.path.rsplit("/", 1)[-1] for f in start.files})
    if engine == "command" and owner is not None and owner.resumes_own_data:  # it resumes its own data loader
        return None if allow_exec else "the release's replay command runs only with --allow-exec"
    unmapped = data_unmapped(m, start, end)
    if unmapped is not None:
        return unmapped
    if engine == "command":
        return None if allow_exec else "the release's replay command runs only with --allow-exec"
    names = {f.path.rsplit("/", 1)[-1] for f in start.files}
    framework = for_files(names)
    if framework is None:
        return (f"checkpoint {start.path} is not in the reference trainer's format ({', '.join(REFERENCE_FILES)}); "
                "declare code.replay_command to replay with the release's own code")  # fmt: skip
    return framework.replay_blocker(release, start)
