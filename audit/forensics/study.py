"""``llm360-audit analyze RELEASE --memorization``: the Analysis360 memorization study on its own — every
checkpoint (or a chosen few) × groups of the data chunks, for a seeded sample (audit.forensics.memory)."""

from __future__ import annotations

import time
from pathlib import Path

from audit import __version__
from audit.core.release import Release
from audit.replay.data import ReplayDataError
from audit.spec.analysis import ChunkGroup, MemorizationStudy
from audit.spec.manifest_loader import load_manifest
from audit.spec.report import MemorizationRow, Tool


class StudyError(ValueError):
    """The release cannot be studied at all; the message says why, in one line."""


def memorization_study(root: Path, sample: int = 32, seed: int = 0, groups: int = 8, device: str = "cpu",
                       steps: list[int] | None = None) -> MemorizationStudy:  # fmt: skip
    """The study of ``root``'s checkpoints (those at ``steps`` when given); a checkpoint that cannot be read
    is a problem in the result, a release without data chunks or checkpoints a StudyError."""
    began = time.perf_counter()
    manifest, digest, problems = load_manifest(root)
    if manifest is None:
        raise StudyError(problems[0].message if problems else "the manifest could not be read")
    if manifest.data is None or not any(c.first_step and c.last_step for c in manifest.data.chunks):
        raise StudyError("the manifest maps no data chunks to training steps (data.chunks first_step/last_step)")
    if manifest.config is None:
        raise StudyError("the manifest declares no training hyperparameters (config.training): the batch size is needed")
    cks = [c for c in manifest.checkpoints if steps is None or c.step in steps]
    if not cks:
        raise StudyError("no checkpoint to study" + (f" at steps {', '.join(map(str, steps))}" if steps else ""))
    from audit.forensics.memory import K, L, chunk_groups, later_memorized_more, prompts, score  # torch: past the checks
    from audit.forensics.model import ForensicsError, load_model

    release = Release(root=root, manifest=manifest, manifest_sha256=digest or "", hash_files=False)
    study = MemorizationStudy(tool=Tool(version=__version__), release=str(root), name=manifest.name, k=K, l=L,
                              sample=sample, seed=seed, device=device)  # fmt: skip
    try:
        study.groups = [ChunkGroup(group=g, first_step=a, last_step=b) for g, (a, b) in enumerate(chunk_groups(release, groups))]
        by_group, study.skipped_short = prompts(release, sample, seed, groups)
        rows = []
        for ck in cks:
            try:
                found = score(load_model(release, ck, device), ck.step, by_group, device)
            except ForensicsError as exc:
                study.problems.append(str(exc))
                continue
            rows += found
            study.forward_passes += L * sum(r.sequences for r in found)
    except ReplayDataError as exc:
        raise StudyError(str(exc)) from None
    finally:
        release.close()
    study.rows = [MemorizationRow(**r.scores()) for r in rows]
    if rows:
        study.final_step = max(r.step for r in rows)
        trend = later_memorized_more(rows, study.final_step)
        if trend is not None:
            study.trend_rho, study.trend_p = trend
    study.wall_s = time.perf_counter() - began
    return study
