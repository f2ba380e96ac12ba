"""GitHub Actions annotations: one workflow command per unwaived finding (``::error file=…,line=…,title=…::…``),
then the verdict as a notice. A pure function of the report; ``base`` is the directory the workflow's
paths are relative to (the workspace)."""

from __future__ import annotations

import os
from pathlib import Path

from audit.spec.names import MANIFEST_NAME
from audit.spec.report import Report

COMMAND = {"error": "error", "warning": "warning", "info": "notice"}


def _data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _property(text: str) -> str:
    return _data(text).replace(":", "%3A").replace(",", "%2C")


def render_github(report: Report, base: Path) -> str:
    lines = []
    for f in report.findings:
        if f.waiver is not None:
            continue
        file = os.path.relpath(Path(report.release.path) / (f.path or MANIFEST_NAME), base)
        props = f"file={_property(file)}" + (f",line={f.line}" if f.line else "") + f",title={_property(f.id)}"
        message = f.message + (f" — fix: {f.remediation}" if f.remediation else "")
        lines.append(f"::{COMMAND.get(f.severity, 'notice')} {props}::{_data(message)}")
    c = report.counts()
    verdict = f"{report.verdict.upper()} · level {report.level} · {c['error']} error(s), {c['warning']} warning(s)"
    lines.append(f"::notice title=llm360-audit::{_data(verdict)}")
    return "\n".join(lines) + "\n"
