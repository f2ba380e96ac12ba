"""The CI gate: --fail-on, --require-level, the waiver policy, --format json, the step summary."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from audit.readers import yamlio
from audit.core.auditor import Auditor
from audit.core.options import AuditOptions, GateOptions
from audit.core.policy import PolicyError, load_policy
from audit.replay import ReplayOptions
from conftest import manifest, run_cli, write_manifest

TODAY = dt.date(2026, 11, 28)


def _unknown_order(release):
    """A release whose only problem is a warning: the order inside chunks is not published."""
    m = manifest(release)
    m["data"]["order"] = {"within_chunk": "unknown"}
    write_manifest(release, m)


def _audit(release, tmp_path, policy: dict | None = None, **options):
    p = None
    if policy is not None:
        (tmp_path / "policy.yaml").write_text(yamlio.dumps(policy))
        p = load_policy(tmp_path / "policy.yaml")
    return Auditor().audit(release, AuditOptions(replay=ReplayOptions(mode="none"), gate=GateOptions(
        today=TODAY, **({"policy": p} if p else {}), **options)))  # fmt: skip


def test_warnings_pass_by_default_and_fail_with_fail_on_warning(release, tmp_path):
    _unknown_order(release)
    assert _audit(release, tmp_path).verdict == "pass"
    report = _audit(release, tmp_path, fail_on="warning")
    assert report.verdict == "fail" and [f.id for f in report.blocking()] == ["data_order.within-chunk-unknown"]


def test_require_level(release, tmp_path):
    assert _audit(release, tmp_path, require_level="fully-open").verdict == "pass"
    assert _audit(release, tmp_path, require_level="reproduced").verdict == "fail"  # replay was not run


def test_waiver_with_reason_silences_its_finding(release, tmp_path):
    (release / "data" / "train_004.jsonl").unlink()
    policy = {"waivers": [{"id": "data.file-missing", "path": "data/train_004.jsonl",
                           "reason": "chunk 4 is re-uploaded separately", "expires": "2027-01-31"}]}  # fmt: skip
    report = _audit(release, tmp_path, policy)
    waived = [f for f in report.findings if f.waiver]
    assert [f.id for f in waived] == ["data.file-missing"]
    assert waived[0].waiver.reason == "chunk 4 is re-uploaded separately"
    assert report.verdict == "pass" and report.counts()["waived"] == 1
    assert report.criteria["data_availability"].status == "pass"


def test_waiver_path_must_match(release, tmp_path):
    (release / "data" / "train_004.jsonl").unlink()
    policy = {"waivers": [{"id": "data.file-missing", "path": "data/train_005.jsonl", "reason": "x",
                           "expires": "2027-01-31"}]}  # fmt: skip
    report = _audit(release, tmp_path, policy)
    assert report.verdict == "fail"
    assert "policy.waiver-unused" in {f.id for f in report.findings}


def test_expired_waiver_fails(release, tmp_path):
    _unknown_order(release)
    policy = {"fail_on": "warning", "waivers": [
        {"id": "data_order.within-chunk-unknown", "reason": "accepted for v1", "expires": "2026-11-27"}]}
    report = _audit(release, tmp_path, policy)
    assert report.verdict == "fail"
    ids = {f.id for f in report.blocking()}
    assert ids == {"policy.waiver-expired", "data_order.within-chunk-unknown"}


def test_reasonless_waiver_fails_and_waives_nothing(release, tmp_path):
    _unknown_order(release)
    policy = {"waivers": [{"id": "data_order.within-chunk-unknown", "reason": "  ", "expires": "2027-01-31"}]}
    report = _audit(release, tmp_path, policy)
    assert report.verdict == "fail"
    assert [f.id for f in report.blocking()] == ["policy.waiver-without-reason"]
    assert not any(f.waiver for f in report.findings)


def test_malformed_policy_is_a_usage_error(tmp_path):
    (tmp_path / "p.yaml").write_text("waivers: [{id: x}]\n")
    with pytest.raises(PolicyError, match="expires"):
        load_policy(tmp_path / "p.yaml")


def test_policy_next_to_the_release_is_found(release, tmp_path):
    _unknown_order(release)
    (release.parent / ".llm360-audit.yaml").write_text(yamlio.dumps({"fail_on": "warning"}))
    r = run_cli(str(release), "--replay", "none", "--out", str(tmp_path / "o"), "-q")
    assert r.returncode == 1
    gate = json.loads((tmp_path / "o" / "report.json").read_text())["gate"]
    assert gate["fail_on"] == "warning" and gate["policy"].endswith(".llm360-audit.yaml")
    # a policy inside the release is release content and is ignored
    (release.parent / ".llm360-audit.yaml").unlink()
    (release / ".llm360-audit.yaml").write_text(yamlio.dumps({"fail_on": "warning"}))
    assert run_cli(str(release), "--replay", "none", "--out", str(tmp_path / "o2"), "-q").returncode == 0


def test_bad_policy_file_exits_2(release, tmp_path):
    (tmp_path / "p.yaml").write_text("fail_on: sometimes\n")
    r = run_cli(str(release), "--policy", str(tmp_path / "p.yaml"), "--out", str(tmp_path / "o"))
    assert r.returncode == 2 and "fail_on" in r.stderr and "Traceback" not in r.stderr


def test_format_json_and_step_summary(release, tmp_path):
    summary = tmp_path / "summary.md"
    summary.write_text("previous step\n")
    r = run_cli(str(release), "--replay", "none", "--format", "json", "--out", str(tmp_path / "o"),
                env={"GITHUB_STEP_SUMMARY": str(summary)})  # fmt: skip
    assert r.returncode == 0
    report = json.loads(r.stdout)
    assert report["verdict"] == "pass" and report["level"] == "fully-open" and report["mof_class"] == "I"
    text = summary.read_text()
    assert text.startswith("previous step\n") and "# LLM360 audit" in text and "`data_availability`" in text
    assert "done" in r.stderr  # plain progress lines when stderr is not a terminal


def test_quiet_prints_one_line(release, tmp_path):
    r = run_cli(str(release), "--replay", "none", "-q", "--out", str(tmp_path / "o"))
    assert r.stdout.strip() == "PASS · level fully-open" and r.stderr == ""


def test_select_ignore_and_the_machine_formats_on_stdout(release, tmp_path, monkeypatch):
    monkeypatch.chdir(release.parent)  # GitHub annotations name files relative to the working directory
    import json as _json

    (release / "data" / "train_004.jsonl").unlink()
    out = str(tmp_path / "o")
    r = run_cli(str(release), "--replay", "none", "--no-cache", "--out", out, "--format", "github")
    assert r.returncode == 1
    lines = r.stdout.splitlines()
    assert "::error file=release/data/train_004.jsonl,title=data.file-missing::data/train_004.jsonl does not exist" in lines[0]
    assert lines[-1] == "::notice title=llm360-audit::FAIL · level open-training · 1 error(s), 0 warning(s)"
    r = run_cli(str(release), "--replay", "none", "--no-cache", "--out", out, "--format", "sarif")
    assert r.returncode == 1 and _json.loads(r.stdout)["runs"][0]["results"][0]["ruleId"] == "data.file-missing"
    r = run_cli(str(release), "--replay", "none", "--no-cache", "--out", out, "--ignore", "data", "-q")
    assert r.returncode == 0 and r.stdout.strip() == "PASS · level fully-open · findings filtered (--select/--ignore)"
    report = _json.loads((tmp_path / "o" / "report.json").read_text())
    assert report["gate"]["ignore"] == ["data"] and "Findings filtered (--ignore data)" in (tmp_path / "o" / "report.md").read_text()
    r = run_cli(str(release), "--replay", "none", "--no-cache", "--out", out, "--select", "metrics", "-q")
    assert r.returncode == 0
    r = run_cli(str(release), "--replay", "none", "--out", out, "--select", "no-such-rule")
    assert r.returncode == 2 and "matches no rule" in r.stderr


def test_terminal_marks_waived_findings_and_counts_them(release, tmp_path):
    """A waived warning printed like a live one, under a verdict line saying '0 warning(s)', reads as a contradiction."""
    from rich.console import Console

    from audit.render.terminal import print_summary

    _unknown_order(release)
    policy = {"waivers": [{"id": "data_order.within-chunk-unknown", "reason": "order in the paper",
                           "expires": "2027-01-31"}]}  # fmt: skip
    console = Console(record=True, width=200, color_system=None)
    print_summary(_audit(release, tmp_path, policy), console)
    text = console.export_text()
    assert "warning (waived) data_order.within-chunk-unknown:" in text, text
    assert text.rstrip().splitlines()[-1].endswith("0 error(s), 0 warning(s), 1 waived"), text
