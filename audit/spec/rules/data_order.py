"""Rules of the data_order criterion: ids, severities, remediations; the check that reports them is audit.checks.data_order."""

from __future__ import annotations

from audit.spec.rules.registry import CheckInfo, Rule, file_rules

NO_ORDER = Rule("data_order.steps-undeclared", "error",
                "Give every chunk its first_step and last_step (or declare data.order.global_indices) "
                "so each training step maps to its data.")
GAP = Rule("data_order.incomplete", "error", "The step → chunk mapping must cover every step exactly once.")
SHORT = Rule("data_order.chunk-too-short", "error",
             "A chunk must hold at least (last_step − first_step + 1) × batch_size sequences.")
UNKNOWN_ORDER = Rule("data_order.within-chunk-unknown", "warning",
                     "Publish the order of sequences inside each chunk (or the shuffle seed): "
                     "without it no step can be replayed exactly.")
ORDER_FILE = file_rules("data_order")
GLOBAL_INVALID = Rule("data_order.global-indices-invalid", "error",
                      "data.order.global_indices must be a 1-D integer .npy array of indices below the chunks' "
                      "total sequence count (every chunk declaring its sequences).")  # fmt: skip

CURSOR = Rule("data_order.cursor-mismatch", "error",
              "A checkpoint's recorded data cursor must point where the step → chunk map says the next step "
              "starts: fix the chunks' step ranges, or find out which data the checkpoint really saw.")

ORDER_INCONSISTENT = Rule("data_order.order-inconsistent", "error",
                         "The weights contradict the declared data order: from checkpoint c to c+1 the loss of the "
                         "sequences declared for the segment did not drop more than that of other segments' "
                         "sequences (order test), or the weights moved further than the declared optimizer and "
                         "learning-rate schedule can move them in the segment's steps (step-size bound). Check the "
                         "step → chunk mapping and that the checkpoints are of this run.")
ORDER_INCONCLUSIVE = Rule("data_order.order-inconclusive", "warning",
                          "The order test could not tell whether the declared data trained the segment: raise "
                          "--order-sample, or publish the training state so the segment can be replayed exactly.")

CHECK = CheckInfo(
    criterion="data_order",
    title="Data order",
    rationale="Only a complete step → data mapping lets anyone replay a step or trace a behaviour to its data.",
    rules=(NO_ORDER, GAP, SHORT, UNKNOWN_ORDER, GLOBAL_INVALID, CURSOR, ORDER_INCONSISTENT, ORDER_INCONCLUSIVE,
           *ORDER_FILE.values()),
)
