"""Writing the report's artifacts into ``--out``: every format rendered first, then the whole set
replaced at once (never a half-written report)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from audit.render import render_all
from audit.spec.report import Report
from audit.storage.files import write_all_atomic


#: Given the report and its rendered files, the files to add or replace (``--sign-key``: the signatures).
Seal = Callable[[Report, dict[str, str]], dict[str, str]]


def write_artifacts(report: Report, out_dir: Path, seal: Seal | None = None) -> list[Path]:
    files = render_all(report)
    if seal is not None:
        files.update(seal(report, files))
    rendered = {out_dir / name: text for name, text in files.items()}
    write_all_atomic(rendered)
    return list(rendered)
