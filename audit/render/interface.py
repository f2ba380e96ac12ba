"""The report-format plug point: a format turns a :class:`Report` into files (path relative to
``--out`` → text). It reads the report and the rule registry (audit.spec) only — never the checks,
the release or git — so every format says the same thing. Add one by subclassing
:class:`ReportFormat` and listing it in :data:`audit.render.FORMATS`."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable

from audit.spec.report import Report


class ReportFormat(ABC):
    name: str  # e.g. "sarif"
    description: str

    @abstractmethod
    def files(self, report: Report) -> dict[str, str]:
        """{path relative to --out: text} for ``report``."""


class SingleFile(ReportFormat):
    """A format that is one file rendered by one function."""

    def __init__(self, name: str, path: str, render: Callable[[Report], str], description: str):
        self.name, self.path, self.render, self.description = name, path, render, description

    def files(self, report: Report) -> dict[str, str]:
        return {self.path: self.render(report)}
