"""Rules about the gate policy's waivers (``.llm360-audit.yaml``)."""

from __future__ import annotations

from audit.spec.rules.registry import CheckInfo, Rule

EXPIRED = Rule("policy.waiver-expired", "error", "Renew the waiver with a new expiry date and reason, or fix the finding.")
NO_REASON = Rule("policy.waiver-without-reason", "error", "Every waiver needs a reason that says why the finding is accepted.")
UNUSED = Rule("policy.waiver-unused", "info", "Remove waivers that no longer match a finding.")

CHECK = CheckInfo(id="policy", criterion="policy", title="Gate policy",
                  rationale="A waiver accepts a known finding for a stated reason until a stated date; no longer.",
                  rules=(EXPIRED, NO_REASON, UNUSED))  # fmt: skip
