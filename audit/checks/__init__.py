"""The check registry: one check (or more) per LLM360 criterion, in report order."""

from audit.checks.base import Check, Outcome
from audit.checks.checkpoints import CheckpointsCheck
from audit.checks.code import CodeCheck
from audit.checks.config import ConfigCheck
from audit.checks.data import DataAvailabilityCheck, DataMixCheck, DataOrderCheck
from audit.checks.metrics import MetricsCheck
from audit.checks.optimizer import OptimizerCheck
from audit.checks.replay import ReplayCheck
from audit.replay.options import ReplayOptions
from audit.spec.rules import Rule, RuleInfo


def default_checks(replay: ReplayOptions | None = None, progress=None, data_sample: float = 1.0,
                   data_sample_seed: int = 0) -> list[Check]:
    return [CodeCheck(), ConfigCheck(), CheckpointsCheck(), OptimizerCheck(), DataMixCheck(), DataOrderCheck(),
            DataAvailabilityCheck(data_sample, data_sample_seed), MetricsCheck(), ReplayCheck(replay, progress)]  # fmt: skip


def rule_catalog() -> list[RuleInfo]:
    """Every rule the auditor can report, with its check (SARIF rules, JUnit test cases, remediations)."""
    from audit.core.auditor import INTERNAL_RULE
    from audit.core.release import MANIFEST_RULES

    out = [RuleInfo(r, "manifest", "manifest", "Release manifest", "The manifest must exist and follow the spec.")
           for r in MANIFEST_RULES.values()]  # fmt: skip
    out += [RuleInfo(r, c.id, c.criterion, c.title, c.rationale) for c in default_checks() for r in c.rules]
    out.append(RuleInfo(INTERNAL_RULE, "audit", "manifest", "The auditor itself", "A check must never crash."))
    return out


__all__ = ["Check", "Outcome", "Rule", "RuleInfo", "default_checks", "rule_catalog"]
