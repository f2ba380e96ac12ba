"""The GitHub Action, the pre-commit hook and the example workflow are well-formed and consistent."""

from __future__ import annotations

import yaml

from conftest import REPO


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
