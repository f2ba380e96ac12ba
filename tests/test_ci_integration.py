"""The GitHub Action, the pre-commit hook and the example workflow are well-formed and consistent."""

from __future__ import annotations

import yaml

from conftest import REPO, cli_command


def test_action_is_a_composite_that_gates_and_uploads():
    action = yaml.safe_load((REPO / "action.yml").read_text())
    assert action["runs"]["using"] == "composite"
    steps = action["runs"]["steps"]
    uses = [s.get("uses", "") for s in steps]
    assert any(u.startswith("github/codeql-action/upload-sarif") for u in uses)
    assert any(u.startswith("actions/upload-artifact") for u in uses)
    audit = next(s for s in steps if s.get("id") == "audit")
    assert "llm360-audit" in audit["run"] and "--out" in audit["run"]
    assert steps[-1]["run"].strip() == "exit ${{ steps.audit.outputs.exit-code }}"
    assert {"release", "replay", "args"} <= set(action["inputs"])


def test_pre_commit_hook_runs_the_cli():
    (hook,) = yaml.safe_load((REPO / ".pre-commit-hooks.yaml").read_text())
    assert hook["entry"] == "llm360-audit" and hook["language"] == "python" and hook["pass_filenames"] is False


def test_example_workflow_uses_the_action():
    wf = yaml.safe_load((REPO / "examples" / "github-workflow.yml").read_text())
    steps = wf["jobs"]["audit"]["steps"]
    assert any(s.get("uses", "").startswith("llm360-audit/llm360-audit") for s in steps)
    assert wf["permissions"]["security-events"] == "write"


def test_sharded_workflow_commands_merge_to_the_single_run(built_release, tmp_path):
    """Run the example sharded workflow's own commands (matrix jobs, then merge) on the example release."""
    import json
    import os
    import shlex
    import subprocess

    wf = yaml.safe_load((REPO / "examples" / "github-workflow-sharded.yml").read_text())
    shard_job, merge_job = wf["jobs"]["shard"], wf["jobs"]["merge"]
    (tmp_path / "release").symlink_to(built_release)
    cli = shlex.join(cli_command())

    def run(line: str) -> subprocess.CompletedProcess:
        line = line.replace("|| true", "").strip()
        assert line.startswith("llm360-audit ")
        env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path / "cache")}  # a fresh hash cache, as on CI runners
        return subprocess.run(cli + line[len("llm360-audit"):], shell=True, cwd=tmp_path, capture_output=True,
                              text=True, timeout=600, env=env)  # fmt: skip

    audit_lines = [s["run"] for s in shard_job["steps"] if s.get("run", "").startswith("llm360-audit")]
    assert len(audit_lines) == 1
    for i in shard_job["strategy"]["matrix"]["shard"]:
        r = run(audit_lines[0].replace("${{ matrix.shard }}", str(i)))
        assert r.returncode == 0, r.stderr
    (merge_line,) = [s["run"] for s in merge_job["steps"] if s.get("run", "").startswith("llm360-audit merge")]
    r = run(merge_line)
    assert r.returncode == 0, r.stderr
    merged = json.loads((tmp_path / "report" / "report.json").read_text())
    single = tmp_path / "single"
    r = run(f"llm360-audit release/ --replay 3 --no-cache --out {single} -q")
    expected = json.loads((single / "report.json").read_text())
    for report in (merged, expected):
        for seg in report["replay"]["segments"]:
            seg.pop("wall_s")
    assert merged == expected and merged["verdict"] == "pass"
