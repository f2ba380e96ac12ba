"""The rule registry: every rule the auditor can report (the manifest's, each criterion's check's, the
gate policy's, the auditor's own), with its owner. Reporters read this, never the checks."""

from __future__ import annotations

from audit.spec.rules import (code, config, data_availability, data_mix, data_order, internal, manifest, metrics,
                              model_checkpoints, optimizer_checkpoints, policy, replay)  # fmt: skip
from audit.spec.rules.registry import CheckInfo, Rule, RuleInfo, content_rules, file_rules

#: The checks of the criteria, in report order (criterion id = check id).
CHECKS: tuple[CheckInfo, ...] = tuple(m.CHECK for m in (
    code, config, model_checkpoints, optimizer_checkpoints, data_mix, data_order, data_availability, metrics, replay))  # fmt: skip
#: Every owner of rules, in report order: the manifest, the checks, the policy, the auditor.
OWNERS: tuple[CheckInfo, ...] = (manifest.CHECK, *CHECKS, policy.CHECK, internal.CHECK)
INTERNAL_ERROR = internal.INTERNAL.id


def catalog() -> list[RuleInfo]:
    """Every rule, with the check that owns it, in report order."""
    return [RuleInfo(r, o.check_id, o.criterion, o.title, o.rationale) for o in OWNERS for r in o.rules]


def find(rule_id: str) -> RuleInfo | None:
    """The rule with this id, or None."""
    return next((info for info in catalog() if info.rule.id == rule_id), None)


__all__ = ["CHECKS", "INTERNAL_ERROR", "OWNERS", "CheckInfo", "Rule", "RuleInfo", "catalog", "content_rules", "file_rules", "find"]
