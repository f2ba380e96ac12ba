"""Writing the report's artifacts into ``--out``: every format rendered first, then the whole set
replaced at once (never a half-written report)."""

from __future__ import annotations

from pathlib import Path

from audit.render import render_all
from audit.spec.report import Report
from audit.storage.files import write_all_atomic


def write_artifacts(report: Report, out_dir: Path) -> list[Path]:
    rendered = {out_dir / name: text for name, text in render_all(report).items()}
    write_all_atomic(rendered)
    return list(rendered)
