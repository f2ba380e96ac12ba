"""Rules of the data_mix criterion: ids, severities, remediations; the check that reports them is audit.checks.data_mix."""

from __future__ import annotations

from audit.spec.rules.registry import CheckInfo, Rule

NO_MIXTURE = Rule("data_mix.not-declared", "error", "Declare the data mixture (data.mixture: tokens per source).")
MIX_SUM = Rule("data_mix.mixture-mismatch", "error",
               "data.mixture must equal the sum of the chunks' per-source tokens (within data.mixture_tolerance).")
MIX_UNKNOWN = Rule("data_mix.sources-undeclared", "warning",
                   "Declare per-source token counts for each chunk so the mixture can be checked.")

CHECK = CheckInfo(
    criterion="data_mix",
    title="Data mixture",
    rationale="The mixture is the most consequential data decision; its totals must add up to the chunks.",
    rules=(NO_MIXTURE, MIX_SUM, MIX_UNKNOWN),
)
