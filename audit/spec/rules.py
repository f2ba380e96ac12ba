"""A rule: the stable id of a kind of finding, its severity and what to do about it."""

from __future__ import annotations

from dataclasses import dataclass

from audit.spec.report import Severity


@dataclass(frozen=True)
class Rule:
    id: str
    severity: Severity
    remediation: str


@dataclass(frozen=True)
class RuleInfo:
    """A rule with the check that owns it, for reporters (SARIF rules, JUnit test cases)."""

    rule: Rule
    check_id: str
    criterion: str
    title: str
    rationale: str
