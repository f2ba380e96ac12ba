"""The shipped pre-commit hook, run by pre-commit itself: it installs the tool from this repository (at
its committed HEAD) into its own environment and audits the release at the repository's root. It
passes on the example, fails on a damaged file, and writes nothing into the repository."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import pytest

from conftest import REPO, flip_tensor_byte

pytestmark = pytest.mark.slow


def _git(cwd, *args):
    return subprocess.run(["git", "-c", "user.email=t@example.org", "-c", "user.name=t", *args], cwd=cwd,
                          check=True, capture_output=True, text=True).stdout  # fmt: skip


@pytest.fixture
def hooked(built_release, tmp_path):
    if shutil.which("git") is None or not (REPO / ".git").exists():
        pytest.skip("needs git and this repository's history (pre-commit installs the hook from it)")
    pytest.importorskip("pre_commit", reason="pre-commit is a test extra")
    repo = tmp_path / "model-repo"
    shutil.copytree(built_release, repo)
    head = _git(REPO, "rev-parse", "HEAD").strip()
    (repo / ".pre-commit-config.yaml").write_text(
        f"repos:\n  - repo: {REPO}\n    rev: {head}\n    hooks:\n      - id: llm360-audit\n")
    _git(repo, "init", "-q")
    _git(repo, "add", "-A")
    _git(repo, "commit", "-qm", "release")
    constraints = tmp_path / "constraints.txt"
    constraints.write_text("torch==2.13.0\n")  # the hook's environment takes the CPU wheel, never a CUDA build
    env = {"PRE_COMMIT_HOME": str(tmp_path / "pre-commit"), "PIP_CONSTRAINT": str(constraints),
           "XDG_CACHE_HOME": str(tmp_path / "cache")}  # fmt: skip
    return repo, env


def _run(repo, env):
    import os

    return subprocess.run([sys.executable, "-m", "pre_commit", "run", "--all-files"], cwd=repo,
                          env={**os.environ, **env}, capture_output=True, text=True, timeout=1200)  # fmt: skip


def test_the_hook_as_shipped_passes_then_catches_a_damaged_file(hooked):
    repo, env = hooked
    r = _run(repo, env)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "llm360-audit (LLM360 release check)" in r.stdout and "Passed" in r.stdout
    assert _git(repo, "status", "--porcelain") == ""  # nothing written into the repository
    reports = list((repo.parent / "cache" / "llm360-audit" / "reports").iterdir())
    assert len(reports) == 1 and json.loads((reports[0] / "report.json").read_text())["verdict"] == "pass"
    flip_tensor_byte(repo / "checkpoints" / "step_000012" / "model.safetensors")
    _git(repo, "commit", "-qam", "a damaged checkpoint")
    r = _run(repo, env)
    assert r.returncode == 1 and "Failed" in r.stdout
    assert "checkpoints.sha256-mismatch" in r.stdout
