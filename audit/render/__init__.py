"""Report formats: pure functions of a Report and the rule registry (audit.spec), never of the checks.

:data:`FORMATS` lists every artifact written to ``--out``; the plug point is
:class:`audit.render.interface.ReportFormat`."""

from __future__ import annotations

from audit.render.badges import render_badges
from audit.render.html import render_html
from audit.render.interface import ReportFormat, SingleFile
from audit.render.junit import render_junit
from audit.render.markdown import render_markdown
from audit.render.sarif import render_sarif
from audit.spec.report import Report


def render_json(report: Report) -> str:
    return report.model_dump_json(indent=2) + "\n"


class Badges(ReportFormat):
    name, description = "badges", "SVG badges, shields.io endpoint JSON and a README snippet"

    def files(self, report: Report) -> dict[str, str]:
        return render_badges(report)


FORMATS: tuple[ReportFormat, ...] = (
    SingleFile("json", "report.json", render_json, "for scripts and other tools"),
    SingleFile("markdown", "report.md", render_markdown, "for humans and PR comments"),
    SingleFile("html", "report.html", render_html, "a self-contained transparency report"),
    SingleFile("sarif", "report.sarif", render_sarif, "GitHub code scanning (SARIF 2.1.0)"),
    SingleFile("junit", "report.junit.xml", render_junit, "test-report UIs (JUnit XML)"),
    Badges(),
)


def render_all(report: Report) -> dict[str, str]:
    """Every artifact of every format: {path relative to --out: text}."""
    return {name: text for fmt in FORMATS for name, text in fmt.files(report).items()}


__all__ = ["FORMATS", "ReportFormat", "render_all", "render_json"]
