"""Learning-rate schedules: one definition shared by the trainer and the metrics check.

Step numbering: step ``s`` (1-based) is the s-th optimizer update; ``lr_at(s)`` is the learning rate
that update uses. A checkpoint "at step s" holds the state after s updates.

The ``hf-*`` schedules are those of Hugging Face ``transformers.get_scheduler`` (``lr_scheduler_type``
linear, cosine, constant, constant_with_warmup): their multiplier is a function of the scheduler's
count *before* the update, so update ``s`` uses ``lambda(s - 1)`` (update 1 of a warmup uses 0) and
the Trainer logs exactly that rate at step ``s``. They decay to 0; ``final_lr`` does not apply.

``litgpt-warmup-cosine`` is LitGPT's ``pretrain.get_lr(learning_rate, it, warmup_iters, max_iters,
min_lr)``: update ``s`` uses ``it = s - 1`` (update 1 of a warmup uses 0), linear warmup over
``warmup_steps``, then cosine to ``final_lr`` (LitGPT's ``min_lr``) at ``total_steps`` (its ``max_iters``).

``megatron-cosine``, ``megatron-linear`` and ``megatron-constant`` are megatron-core's
``OptimizerParamScheduler.get_lr`` (``--lr-decay-style`` cosine, linear, constant; ``--lr-warmup-init``
0): update ``s`` uses the rate set after ``s - 1`` updates, linear warmup from 0 over ``warmup_steps``
(``--lr-warmup-iters``; update ``warmup_steps + 1`` is the first at ``peak_lr``), then decay to
``final_lr`` (``--min-lr``) at ``total_steps`` (``--lr-decay-iters``), ``final_lr`` after. Megatron counts
in samples (iterations × global batch, ``batch_size``), which changes the warmup's rounding: it is
computed in samples here too, so the rates are Megatron's bit for bit.

``torchtitan-wsd-linear``, ``-cosine``, ``-sqrt`` are torchtitan 0.3.0's ``LRSchedulersContainer``
(``linear_warmup_stable_decay`` in a ``LambdaLR``, decay_type in the name): update ``s`` uses
``current_step = s - 1``; warmup ``(c + 1) / warmup_steps`` for ``c < warmup_steps``, then 1 for the stable
steps (``total_steps + 1 - warmup_steps - decay_steps``: one virtual step so the rate never reaches 0),
then ``min + (1 - min) × decay(progress)`` with ``progress = (c + 1 - warmup - stable) / decay_steps`` and
``min = final_lr / peak_lr`` (its ``min_lr_factor``). ``decay_steps`` is torchtitan's
``round(total_steps × decay_ratio)`` (capped at ``total_steps - warmup_steps``); unset: all the steps after
the warmup.
"""

from __future__ import annotations

import math

SCHEDULES = ("warmup-cosine", "warmup-linear", "constant",
             "hf-linear", "hf-cosine", "hf-constant", "hf-constant-with-warmup", "litgpt-warmup-cosine",
             "megatron-cosine", "megatron-linear", "megatron-constant",
             "torchtitan-wsd-linear", "torchtitan-wsd-cosine", "torchtitan-wsd-sqrt")  # fmt: skip


def lr_at(
    step: int,
    *,
    schedule: str,
    peak_lr: float,
    final_lr: float,
    warmup_steps: int,
    total_steps: int,
    batch_size: int = 1,
    decay_steps: int | None = None,
) -> float:
    """Learning rate of update ``step`` (1-based): linear warmup to ``peak_lr``, then decay to ``final_lr``.
    ``batch_size``: the global batch, for the megatron-* schedules (Megatron counts samples)."""
    if step < 1:
        raise ValueError(f"step must be >= 1, got {step}")
    if schedule not in SCHEDULES:
        raise ValueError(f"unknown schedule {schedule!r}; known: {', '.join(SCHEDULES)}")
    if schedule.startswith("hf-"):
        return peak_lr * _hf_multiplier(schedule, step - 1, warmup_steps, total_steps)
    if schedule == "constant":
        return peak_lr
    if schedule == "litgpt-warmup-cosine":
        return _litgpt_lr(peak_lr, step - 1, warmup_steps, total_steps, final_lr)
    if schedule.startswith("megatron-"):
        g = batch_size
        return _megatron_lr(schedule.removeprefix("megatron-"), peak_lr, final_lr, warmup_steps * g, total_steps * g,
                            (step - 1) * g)  # fmt: skip
    if schedule.startswith("torchtitan-wsd-"):
        decay = total_steps - warmup_steps if decay_steps is None else decay_steps
        stable = total_steps + 1 - warmup_steps - decay
        factor = final_lr / peak_lr
        return peak_lr * _torchtitan_factor(step - 1, warmup_steps, stable, decay, schedule[15:], factor)
    if warmup_steps > 0 and step <= warmup_steps:
        return peak_lr * step / warmup_steps
    span = max(1, total_steps - warmup_steps)
    progress = min(1.0, (step - warmup_steps) / span)
    if schedule == "warmup-linear":
        return peak_lr + (final_lr - peak_lr) * progress
    return final_lr + 0.5 * (peak_lr - final_lr) * (1.0 + math.cos(math.pi * progress))


def _hf_multiplier(schedule: str, k: int, warmup: int, total: int) -> float:
    """transformers' lr_lambda at scheduler count ``k`` (same arithmetic, so the logged rates match exactly)."""
    if schedule == "hf-constant":
        return 1.0
    if k < warmup:
        return float(k) / float(max(1, warmup))
    if schedule == "hf-constant-with-warmup":
        return 1.0
    if schedule == "hf-linear":
        return max(0.0, float(total - k) / float(max(1, total - warmup)))
    progress = float(k - warmup) / float(max(1, total - warmup))
    return max(0.0, 0.5 * (1.0 + math.cos(math.pi * 0.5 * 2.0 * progress)))


def _litgpt_lr(lr: float, it: int, warmup: int, max_iters: int, min_lr: float) -> float:
    """litgpt.pretrain.get_lr, operation for operation (so the logged rates match exactly)."""
    if it < warmup:
        return lr * it / warmup
    if it > max_iters:
        return min_lr
    decay_ratio = (it - warmup) / max(1, max_iters - warmup)
    coeff = 0.5 * (1.0 + math.cos(math.pi * decay_ratio))
    return min_lr + coeff * (lr - min_lr)


def _megatron_lr(style: str, max_lr: float, min_lr: float, warmup: int, decay: int, n: int) -> float:
    """megatron.core.optimizer_param_scheduler.OptimizerParamScheduler.get_lr at ``num_steps = n`` (init_lr 0;
    all counts in samples), operation for operation."""
    init_lr = 0.0
    if warmup > 0 and n <= warmup:
        return init_lr + ((max_lr - init_lr) * float(n) / float(warmup))
    if style == "constant":
        return max_lr
    if n > decay:
        return min_lr
    decay_ratio = float(n - warmup) / float(max(1, decay - warmup))
    delta_lr = max_lr - min_lr
    coeff = 1.0 - decay_ratio if style == "linear" else 0.5 * (math.cos(math.pi * decay_ratio) + 1.0)
    return min_lr + coeff * delta_lr


#: The schedules :func:`lr_array` computes (the others are checked step by step with :func:`lr_at`).
VECTORISED = ("constant", "warmup-cosine", "warmup-linear", "hf-linear", "hf-cosine", "hf-constant",
              "hf-constant-with-warmup", "litgpt-warmup-cosine")  # fmt: skip


def lr_array(steps, *, schedule: str, peak_lr: float, final_lr: float, warmup_steps: int, total_steps: int,
             decay_steps: int | None = None):
    """:func:`lr_at` over a numpy array of steps (all ≥ 1) at once, or None for a schedule without a
    vectorised form. The formulas are lr_at's, but numpy's cos may differ from math.cos in the last bit:
    for checks with a tolerance (the logged rates), never for the replay."""
    import numpy as np

    s = np.asarray(steps, dtype=np.float64)
    warm, total = float(warmup_steps), float(total_steps)
    with np.errstate(divide="ignore", invalid="ignore"):
        if schedule == "constant":
            return np.full(s.shape, peak_lr)
        if schedule in ("warmup-cosine", "warmup-linear"):
            progress = np.minimum(1.0, (s - warm) / max(1, total_steps - warmup_steps))
            if schedule == "warmup-linear":
                out = peak_lr + (final_lr - peak_lr) * progress
            else:
                out = final_lr + 0.5 * (peak_lr - final_lr) * (1.0 + np.cos(math.pi * progress))
            return np.where(s <= warm, peak_lr * s / warm, out) if warmup_steps > 0 else out
        if schedule.startswith("hf-") and schedule in SCHEDULES:
            k = s - 1.0
            if schedule == "hf-constant":
                return np.full(s.shape, peak_lr)
            if schedule == "hf-constant-with-warmup":
                after = np.ones(s.shape)
            elif schedule == "hf-linear":
                after = np.maximum(0.0, (total - k) / float(max(1, total_steps - warmup_steps)))
            else:
                progress = (k - warm) / float(max(1, total_steps - warmup_steps))
                after = np.maximum(0.0, 0.5 * (1.0 + np.cos(math.pi * 0.5 * 2.0 * progress)))
            return peak_lr * np.where(k < warm, k / float(max(1, warmup_steps)), after)
        if schedule == "litgpt-warmup-cosine":
            it = s - 1.0
            coeff = 0.5 * (1.0 + np.cos(math.pi * ((it - warm) / max(1, total_steps - warmup_steps))))
            out = np.where(it > total, final_lr, final_lr + coeff * (peak_lr - final_lr))
            return np.where(it < warm, peak_lr * it / warm, out) if warmup_steps > 0 else out
    return None


def _torchtitan_factor(c: int, warmup: int, stable: int, decay: int, kind: str, min_factor: float) -> float:
    """torchtitan 0.3.0's linear_warmup_stable_decay (components/optimizer/lr_scheduler.py), operation for
    operation; ``c`` is the LambdaLR count before the update."""
    if c < warmup:
        return float((c + 1) / warmup)
    if c < warmup + stable:
        return 1.0
    progress = float(c + 1 - (warmup + stable)) / max(1, decay)
    if kind == "linear":
        adjustment = 1 - progress
    elif kind == "sqrt":
        adjustment = 1 - math.sqrt(progress)
    else:
        adjustment = 0.5 * (1.0 + math.cos(math.pi * progress))
    return min_factor + (1 - min_factor) * adjustment
