"""The checks: one module per LLM360 criterion, in report order (their rules live in audit.spec.rules)."""

from __future__ import annotations

from audit.checks.base import Addition, Check, Outcome
from audit.checks.checkpoints import CheckpointsCheck
from audit.checks.code import CodeCheck
from audit.checks.config import ConfigCheck
from audit.checks.data_availability import DataAvailabilityCheck
from audit.checks.data_mix import DataMixCheck
from audit.checks.data_order import DataOrderCheck
from audit.checks.metrics import MetricsCheck
from audit.checks.optimizer import OptimizerCheck
from audit.checks.order_test import OrderTestCheck
from audit.checks.replay import ReplayCheck
from audit.core.progress import Progress
from audit.forensics.options import OrderTestOptions
from audit.replay.options import ReplayOptions


def default_checks(replay: ReplayOptions | None = None, progress: Progress | None = None, data_sample: float = 1.0,
                   data_sample_seed: int = 0, order: OrderTestOptions | None = None) -> list[Check]:
    """One check per criterion, in report order (data_order also from the weights, when --order-test asks)."""
    allow_exec = replay.allow_exec if replay is not None else False
    return [CodeCheck(), ConfigCheck(), CheckpointsCheck(), OptimizerCheck(), DataMixCheck(), DataOrderCheck(),
            OrderTestCheck(order, allow_exec, progress, replay), DataAvailabilityCheck(data_sample, data_sample_seed),
            MetricsCheck(), ReplayCheck(replay, progress)]  # fmt: skip


__all__ = ["Addition", "Check", "Outcome", "default_checks"]
