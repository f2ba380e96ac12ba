"""Learning-rate schedules: one definition shared by the trainer and the metrics check.

Step numbering: step ``s`` (1-based) is the s-th optimizer update; ``lr_at(s)`` is the learning rate
that update uses. A checkpoint "at step s" holds the state after s updates.
"""

from __future__ import annotations

import math

SCHEDULES = ("warmup-cosine", "warmup-linear", "constant")


def lr_at(
    step: int,
    *,
    schedule: str,
    peak_lr: float,
    final_lr: float,
    warmup_steps: int,
    total_steps: int,
) -> float:
    """Learning rate of update ``step`` (1-based): linear warmup to ``peak_lr``, then decay to ``final_lr``."""
    if step < 1:
        raise ValueError(f"step must be >= 1, got {step}")
    if schedule not in SCHEDULES:
        raise ValueError(f"unknown schedule {schedule!r}; known: {', '.join(SCHEDULES)}")
    if schedule == "constant":
        return peak_lr
    if warmup_steps > 0 and step <= warmup_steps:
        return peak_lr * step / warmup_steps
    decay_steps = max(1, total_steps - warmup_steps)
    progress = min(1.0, (step - warmup_steps) / decay_steps)
    if schedule == "warmup-linear":
        return peak_lr + (final_lr - peak_lr) * progress
    return final_lr + 0.5 * (peak_lr - final_lr) * (1.0 + math.cos(math.pi * progress))
