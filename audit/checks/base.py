"""What a check is: an id, a criterion, a rationale, its rules (finding ids with a severity and a
remediation), and ``run(release, outcome)``. Checks know nothing of the CLI or the output formats."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, ClassVar

from audit.spec.report import CriterionId, Finding, FindingScope
from audit.spec.rules import Rule


@dataclass
class Outcome:
    """What one check found: findings, evidence for the report, or why it was skipped."""

    criterion: FindingScope
    findings: list[Finding] = field(default_factory=list)
    evidence: dict[str, Any] = field(default_factory=dict)
    skipped: str | None = None
    summary: str | None = None  # one line for the criteria table when the check passes
    # The replay check only: its segments and the fingerprint of the environment they ran in.
    segments: list = field(default_factory=list)
    environment: dict = field(default_factory=dict)

    def add(self, rule: Rule, message: str, path: str | None = None) -> None:
        self.findings.append(
            Finding(
                id=rule.id,
                severity=rule.severity,
                criterion=self.criterion,
                message=message,
                path=path,
                remediation=rule.remediation,
            )
        )

    def skip(self, reason: str) -> None:
        self.skipped = reason


class Check(ABC):
    id: ClassVar[str]
    criterion: ClassVar[CriterionId]
    title: ClassVar[str]
    rationale: ClassVar[str]
    rules: ClassVar[tuple[Rule, ...]]

    @abstractmethod
    def run(self, release: Any, out: Outcome) -> None:
        """Inspect ``release`` (an :class:`audit.core.release.Release`) and record into ``out``."""
