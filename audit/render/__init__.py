"""Formatters: pure functions of a Report. Reporters never re-run checks."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from audit.fileio import write_atomic
from audit.render.markdown import render_markdown
from audit.report import Report


def render_json(report: Report) -> str:
    return report.model_dump_json(indent=2) + "\n"


#: Artifact file name → formatter.
ARTIFACTS: dict[str, Callable[[Report], str]] = {
    "report.json": render_json,
    "report.md": render_markdown,
}


def write_artifacts(report: Report, out_dir: Path) -> list[Path]:
    """Render every artifact first, then write each atomically (no half-written report)."""
    rendered = {name: fmt(report) for name, fmt in ARTIFACTS.items()}
    paths = []
    for name, text in rendered.items():
        write_atomic(out_dir / name, text)
        paths.append(out_dir / name)
    return paths
