"""The check registry: one check (or more) per LLM360 criterion, in report order."""

from audit.checks.base import Check, Outcome, Rule
from audit.checks.checkpoints import CheckpointsCheck
from audit.checks.code import CodeCheck
from audit.checks.config import ConfigCheck
from audit.checks.data import DataAvailabilityCheck, DataMixCheck, DataOrderCheck
from audit.checks.metrics import MetricsCheck
from audit.checks.optimizer import OptimizerCheck
from audit.checks.replay import ReplayCheck
from audit.replay.options import ReplayOptions


def default_checks(replay: ReplayOptions | None = None, progress=None) -> list[Check]:
    return [CodeCheck(), ConfigCheck(), CheckpointsCheck(), OptimizerCheck(), DataMixCheck(), DataOrderCheck(),
            DataAvailabilityCheck(), MetricsCheck(), ReplayCheck(replay, progress)]  # fmt: skip


__all__ = ["Check", "Outcome", "Rule", "default_checks"]
