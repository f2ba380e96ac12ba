"""The step-size bound: could the declared optimizer have moved checkpoint c's weights to checkpoint c+1's?

Adam's update of a parameter is bounded whatever the gradients are. With m_t, v_t the moment estimates
(betas b1, b2, rho = b1²/b2 < 1), Cauchy-Schwarz on m_t = (1-b1) Σ b1^(t-k) g_k gives

    |m̂_t| / sqrt(v̂_t) <= B_t = (1-b1)/(1-b1^t) · sqrt((1-rho^t)/(1-rho)) · sqrt((1-b2^t)/(1-b2))

(B_1 = 1; B_t → 1.165 for betas 0.9/0.95; eps only shrinks the update; gradient clipping and
accumulation change the gradients, not the ratio). Update t moves a parameter by at most lr_t·B_t,
plus, for AdamW's decoupled weight decay, lr_t·wd·|θ|. Over the steps c+1 … e of a segment, with the
declared learning-rate schedule, M = Σ lr_t·B_t and

    |θ_e − θ_c| <= M + wd · Σ lr_t · (|θ_c| + M)      for every parameter,

plus a rounding allowance (a few units in the last place of float32 per step, and one of the stored
dtype at each end). This is a bound, not a statistic: a checkpoint of this run cannot exceed it, so a
single parameter over it is a contradiction — a checkpoint of another run (other initialisation: its
parameters differ from this run's by the initialisation's scale), a step count, schedule or optimizer
other than the declared ones, or per-layer learning-rate multipliers (muP) the manifest does not
declare. Its power falls as segments grow (M grows with the steps): it catches foreign checkpoints
when M is below the typical difference between two runs' parameters (measured in BENCHMARKS.md).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from audit.spec.manifest import TrainingHyperparameters
from audit.spec.schedule import lr_at

ADAM = ("adam", "adamw")
CHUNK = 1 << 22  # elements compared at once


@dataclass(frozen=True)
class StepBound:
    max_ratio: float  # the largest |θ_e − θ_c| / bound over the parameters (> 1: impossible)
    share_over: float  # the share of parameters that moved further than the bound
    parameters: int
    move: float  # M = Σ lr_t·B_t: the most one parameter moves over the segment without weight decay


def adam_ratio_bound(t: int, b1: float, b2: float) -> float:
    """B_t: the largest |m̂_t| / sqrt(v̂_t) of Adam after ``t`` updates, whatever the gradients."""
    rho = b1 * b1 / b2
    return (1 - b1) / (1 - b1**t) * math.sqrt((1 - rho**t) / (1 - rho)) * math.sqrt((1 - b2**t) / (1 - b2))


def why_not(h: TrainingHyperparameters | None) -> str | None:
    """Why the bound does not apply to the declared hyperparameters (None: it does)."""
    if h is None:
        return "no training hyperparameters declared"
    o = h.optimizer
    if o.name.lower() not in ADAM:
        return f"optimizer {o.name!r}: the bound is Adam's"
    if o.betas is None:
        return "the optimizer's betas are not declared"
    b1, b2 = o.betas
    if not (0 <= b1 < 1 and 0 < b2 < 1 and b1 * b1 < b2):
        return f"betas {o.betas}: the bound needs 0 <= b1, b1² < b2 < 1"
    if o.name.lower() == "adamw" and o.weight_decay is None:
        return "AdamW's weight_decay is not declared"
    return None


def _eps(dtype: torch.dtype) -> float:
    return torch.finfo(dtype).eps if dtype.is_floating_point else 0.0


def step_bound(h: TrainingHyperparameters, start_step: int, end_step: int, before: dict[str, torch.Tensor],
               after: dict[str, torch.Tensor]) -> StepBound:
    """The bound on the segment ``start_step`` → ``end_step``, over the tensors both checkpoints hold
    (``why_not(h)`` must be None). Raises ValueError when their names or shapes differ."""
    o, s = h.optimizer, h.lr_schedule
    b1, b2 = o.betas
    decay = (o.weight_decay or 0.0) if o.name.lower() == "adamw" else 0.0
    lrs = [lr_at(t, schedule=s.name, peak_lr=s.peak_lr, final_lr=s.final_lr, warmup_steps=s.warmup_steps,
                 total_steps=s.total_steps) for t in range(start_step + 1, end_step + 1)]  # fmt: skip
    move = sum(lr * adam_ratio_bound(t, b1, b2) for t, lr in zip(range(start_step + 1, end_step + 1), lrs))
    shrink = decay * sum(lrs)
    names = sorted(n for n, v in before.items() if v.is_floating_point())
    if sorted(n for n, v in after.items() if v.is_floating_point()) != names:
        raise ValueError("the two checkpoints hold different tensors")
    worst, over, count = 0.0, 0, 0
    steps = end_step - start_step
    for name in names:
        a, b = before[name], after[name]
        if a.shape != b.shape:
            raise ValueError(f"{name} has shape {tuple(a.shape)} at step {start_step}, {tuple(b.shape)} at {end_step}")
        if a.numel() == 0:
            continue
        slack = 4 * steps * _eps(torch.float32) + _eps(a.dtype) + _eps(b.dtype)
        for pa, pb in zip(a.flatten().split(CHUNK), b.flatten().split(CHUNK)):  # float64 copies of one chunk at a time
            a64, b64 = pa.double(), pb.double()
            bound = move + shrink * (a64.abs() + move) + slack * torch.maximum(a64.abs(), b64.abs())
            ratio = (b64 - a64).abs() / bound.clamp_min(1e-300)
            worst = max(worst, ratio.max().item())
            over += int((ratio > 1).sum())
        count += a.numel()
    return StepBound(max_ratio=worst, share_over=over / count if count else 0.0, parameters=count, move=move)
