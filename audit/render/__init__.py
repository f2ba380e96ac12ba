"""Formatters: pure functions of a Report. Reporters never re-run checks."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from audit.storage.files import write_all_atomic
from audit.render.badges import render_badges
from audit.render.html import render_html
from audit.render.junit import render_junit
from audit.render.markdown import render_markdown
from audit.render.sarif import render_sarif
from audit.spec.report import Report


def render_json(report: Report) -> str:
    return report.model_dump_json(indent=2) + "\n"


def _single(name: str, fmt: Callable[[Report], str]) -> Callable[[Report], dict[str, str]]:
    return lambda report: {name: fmt(report)}


#: Each renderer returns {path relative to --out: text}.
ARTIFACTS: tuple[Callable[[Report], dict[str, str]], ...] = (
    _single("report.json", render_json),
    _single("report.md", render_markdown),
    _single("report.html", render_html),
    _single("report.sarif", render_sarif),
    _single("report.junit.xml", render_junit),
    render_badges,
)


def write_artifacts(report: Report, out_dir: Path) -> list[Path]:
    """Render every artifact first, then replace the whole set at once (never a half-written report)."""
    rendered = {out_dir / name: text for render in ARTIFACTS for name, text in render(report).items()}
    write_all_atomic(rendered)
    return list(rendered)
