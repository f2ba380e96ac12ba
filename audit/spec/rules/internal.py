"""The auditor's own failure: a check that crashed (a bug in llm360-audit, exit code 3)."""

from __future__ import annotations

from audit.spec.rules.registry import CheckInfo, Rule

INTERNAL = Rule("audit.internal-error", "error", "This is a bug in llm360-audit; please report it with this message.")

CHECK = CheckInfo(id="audit", criterion="manifest", title="The auditor itself", rationale="A check must never crash.",
                  rules=(INTERNAL,))  # fmt: skip
