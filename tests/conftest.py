"""Shared fixtures: one real example release (a tiny model really trained) built per session,
copied fresh for each test that plants a defect in it."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from audit.readers import yamlio
from audit.core.auditor import Auditor
from audit.core.options import AuditOptions
from audit.example.build import build_example
from audit.init import init_release
from audit.replay import ReplayOptions

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def built_release(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("built") / "release"
    build_example(path)
    return path


@pytest.fixture
def release(built_release, tmp_path) -> Path:
    """A private copy of the example release, free to damage."""
    dst = tmp_path / "release"
    shutil.copytree(built_release, dst)
    return dst


def audit(root: Path, replay: str = "none", **replay_options):
    """Audit in-process; structural checks only unless ``replay`` asks for segments."""
    return Auditor().audit(root, AuditOptions(replay=ReplayOptions(mode=replay, **replay_options)))


def finding_ids(report) -> set[str]:
    return {f.id for f in report.findings}


def manifest(root: Path) -> dict:
    return yamlio.loads((root / "llm360.yaml").read_bytes())


def write_manifest(root: Path, data: dict) -> None:
    (root / "llm360.yaml").write_text(yamlio.dumps(data))


def refresh(root: Path) -> None:
    init_release(root)


def run_cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "audit", *args], capture_output=True, text=True, cwd=cwd, timeout=300)


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def write_jsonl(path: Path, rows: list[dict]) -> None:
    path.write_text("".join(json.dumps(r, sort_keys=True) + "\n" for r in rows))
