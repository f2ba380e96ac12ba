"""What a check is: the spec's :class:`CheckInfo` for its criterion (id, title, rationale, rules) and
``run(release, outcome)``. Checks know nothing of the CLI, the output formats, shards or merge."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

from audit.spec.report import CriterionId, Finding, FindingScope, Report
from audit.spec.rules import CheckInfo, Rule

if TYPE_CHECKING:
    from audit.core.release import Release


class Addition(ABC):
    """What a check adds to the report besides findings and evidence (the replay: its segments)."""

    @abstractmethod
    def apply(self, report: Report) -> None:
        """Write this addition into ``report``."""


@dataclass
class Outcome:
    """What one check found: findings, evidence for the report, or why it was skipped."""

    criterion: FindingScope
    findings: list[Finding] = field(default_factory=list)
    evidence: dict[str, Any] = field(default_factory=dict)
    skipped: str | None = None
    summary: str | None = None  # one line for the criteria table when the check passes
    addition: Addition | None = None

    def add(self, rule: Rule, message: str, path: str | None = None, line: int | None = None) -> None:
        self.findings.append(
            Finding(
                id=rule.id,
                severity=rule.severity,
                criterion=self.criterion,
                message=message,
                path=path,
                line=line,
                remediation=rule.remediation,
            )
        )

    def skip(self, reason: str) -> None:
        self.skipped = reason


class Check(ABC):
    """One criterion's check. A subclass sets ``info`` (from audit.spec.rules) and implements ``run``."""

    info: ClassVar[CheckInfo]
    id: ClassVar[str]
    criterion: ClassVar[CriterionId]
    title: ClassVar[str]
    rationale: ClassVar[str]
    rules: ClassVar[tuple[Rule, ...]]

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "info" in cls.__dict__:
            cls.id, cls.criterion = cls.info.check_id, cls.info.criterion
            cls.title = cls.__dict__.get("title", cls.info.title)  # a second check of a criterion names itself
            cls.rationale, cls.rules = cls.info.rationale, cls.info.rules

    @abstractmethod
    def run(self, release: Release, out: Outcome) -> None:
        """Inspect ``release`` and record into ``out``."""
