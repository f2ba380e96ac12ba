"""The one list of names: file names, criteria, openness levels, Model Openness Framework classes, severities.

Everything else (the report models, the gate, the CLI's choices, the badges) reads these tuples;
no other module spells a level or a criterion out. Plain Python, no pydantic: the CLI imports it
before it knows whether it will run an audit at all.
"""

from __future__ import annotations

from typing import Literal

#: The release manifest, at the release root.
MANIFEST_NAME = "llm360.yaml"
#: The gate policy, looked up next to the release directory (never inside it).
POLICY_NAME = ".llm360-audit.yaml"

#: The LLM360 criteria, in report order. A criterion's id is also its check's id.
CRITERIA = (
    "code",
    "config",
    "model_checkpoints",
    "optimizer_checkpoints",
    "data_mix",
    "data_order",
    "data_availability",
    "metrics",
    "replay",
)
#: Findings about the manifest itself, or about the gate policy, carry these instead of a criterion.
SCOPES = CRITERIA + ("manifest", "policy")

Severity = Literal["error", "warning", "info"]
SEVERITIES: tuple[str, ...] = ("error", "warning", "info")
#: What the gate can fail on (``--fail-on``, ``fail_on:`` in the policy).
FAIL_ON: tuple[str, ...] = ("error", "warning")

#: Openness ladder, lowest first; each rung needs its criteria to pass (and a declared license),
#: plus everything the rungs below need.
LEVELS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("open-weights", ("model_checkpoints", "config")),
    ("open-training", ("code", "metrics")),
    ("fully-open", ("optimizer_checkpoints", "data_mix", "data_order", "data_availability")),
    ("reproduced", ("replay",)),
)
#: Every level name, lowest first (``closed``: not even the first rung). These are the *rungs*: what
#: ``--require-level`` names and compares.
LEVEL_NAMES: tuple[str, ...] = ("closed",) + tuple(name for name, _ in LEVELS)
#: The rung the replay decides. Reached on a sample of the release's segments, the level says so:
#: ``reproduced (sampled 2/7)``; plain ``reproduced`` only when every segment was replayed.
SAMPLED_RUNG = "reproduced"
#: Every level string a report can carry: a rung, or the sampled rung with its ``(sampled N/M)``.
LEVEL_PATTERN = rf"^({'|'.join(LEVEL_NAMES)})( \(sampled [0-9]+/[0-9]+\))?$"

#: The Model Openness Framework's classes as a second view (III open model → II open tooling →
#: I open science), mapped onto the criteria the auditor checks.
MOF_CLASSES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("III", ("model_checkpoints", "config")),
    ("II", ("code", "metrics")),
    ("I", ("data_availability", "data_mix")),
)
MOF_NAMES: tuple[str, ...] = ("none",) + tuple(name for name, _ in MOF_CLASSES)


def ladder(statuses: dict[str, str], licensed: bool, rungs=LEVELS, bottom: str = "closed") -> str:
    """The highest rung whose criteria (and those of every rung below) all have status ``pass``."""
    reached = bottom
    if not licensed:
        return reached
    for name, needs in rungs:
        if not all(statuses.get(c) == "pass" for c in needs):
            break
        reached = name
    return reached


def level_name(rung: str, replayed: int, total: int) -> str:
    """The level a report states: ``rung``, with `` (sampled N/M)`` when it is the replay's rung and only
    ``replayed`` (N) of the release's ``total`` (M) segments were replayed."""
    return f"{rung} (sampled {replayed}/{total})" if rung == SAMPLED_RUNG and replayed < total else rung


def rung_of(level: str) -> str:
    """The rung of a level string (``reproduced (sampled 2/7)`` → ``reproduced``)."""
    return level.split(" (", 1)[0]


def below(level: str, required: str) -> bool:
    """Whether ``level`` is lower on the ladder than ``required``. Rungs are compared: a sampled
    reproduction (``reproduced (sampled 2/7)``) is not below ``reproduced``."""
    return LEVEL_NAMES.index(rung_of(level)) < LEVEL_NAMES.index(rung_of(required))
