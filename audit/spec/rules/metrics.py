"""Rules of the metrics criterion: ids, severities, remediations; the check that reports them is audit.checks.metrics."""

from __future__ import annotations

from audit.spec.rules.registry import CheckInfo, Rule, content_rules, file_rules

FILE = file_rules("metrics")
CONTENT = content_rules("metrics")
NO_LOG = Rule("metrics.no-training-log", "error", "Publish the per-step training log (metrics.training_log).")
MALFORMED = Rule("metrics.malformed", "error", "Each log line must be a JSON object with an integer step.")
STEPS = Rule("metrics.steps-missing", "error", "Log every optimizer step up to the last checkpoint.")
FIELDS = Rule("metrics.field-missing", "warning", "Log loss, learning_rate and grad_norm at every step.")
NON_FINITE = Rule("metrics.non-finite", "error",
                  "A NaN or infinite loss, learning rate or gradient norm means the run diverged or the log is corrupt.")
LR = Rule("metrics.lr-schedule-mismatch", "error",
          "The logged learning rate must follow config.training.lr_schedule; fix the schedule or the log.")
LR_CONVENTION = Rule("metrics.lr-schedule-not-compared", "warning",
                     "The Hugging Face Trainer logs at step s the rate of lr_lambda(s - 1); declare the matching "
                     "hf-* schedule (hf-linear, hf-cosine, hf-constant-with-warmup) so the log can be compared.")
NO_EVALS = Rule("metrics.no-evaluations", "error", "Publish evaluation results for every checkpoint.")
EVAL_MISSING = Rule("metrics.evaluation-missing", "error", "Evaluate every checkpoint on every declared task.")
EVAL_NON_FINITE = Rule("metrics.evaluation-non-finite", "error", "Evaluation results must be finite numbers.")

CHECK = CheckInfo(
    criterion="metrics",
    title="Training logs and evaluations",
    rationale="Per-step logs and per-checkpoint evaluations let others see how the model got where it is.",
    rules=(NO_LOG, MALFORMED, STEPS, FIELDS, NON_FINITE, LR, LR_CONVENTION, NO_EVALS, EVAL_MISSING, EVAL_NON_FINITE, *FILE.values(),
           *CONTENT.values()),
)
