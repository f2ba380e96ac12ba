"""A reproduction on a sample of the segments says so: ``reproduced (sampled N/M)`` in report.json, the
summary, report.md, report.html and the badges, with the chance 1 - N/M that one tampered segment
escaped the sample. ``--require-level`` compares rungs, so a sampled reproduction meets ``reproduced``."""

from __future__ import annotations

import json
import math
import xml.etree.ElementTree as ET

import pydantic
import pytest
import torch
from safetensors.torch import load_file, save_file

from audit import SPEC_VERSION
from audit.render.badges import render_badges
from audit.spec import schemas
from audit.spec.names import CRITERIA, below, level_name, rung_of
from audit.spec.report import (CriterionResult, GateSettings, ReleaseInfo, Replay, ReplayCoverage, Report, Tool,
                               percent)  # fmt: skip
from conftest import refresh, run_cli

SAMPLE_NOTE = "a single tampered segment escapes a 2-of-7 sample with probability 71%"
SVG = "{http://www.w3.org/2000/svg}"


def _audit_cli(release, out, *args):
    r = run_cli(str(release), "--no-cache", "--out", str(out), *args)
    assert "Traceback" not in r.stdout + r.stderr, r.stdout + r.stderr
    return r, json.loads((out / "report.json").read_text())


def _badge(out, name="llm360") -> tuple[set[str], str]:
    """The texts drawn in badges/NAME.svg, and the message of badges/NAME.json."""
    svg = ET.fromstring((out / "badges" / f"{name}.svg").read_text())
    texts = {t.text for t in svg.iter(f"{SVG}text")}
    return texts, json.loads((out / "badges" / f"{name}.json").read_text())["message"]


@pytest.fixture(scope="module")
def sample_of_two(built_release, tmp_path_factory):
    out = tmp_path_factory.mktemp("sampled") / "out"
    r, report = _audit_cli(built_release, out, "--replay", "2")
    return r, report, out


def test_a_sample_of_two_is_stated_in_every_report_and_badge(sample_of_two):
    r, report, out = sample_of_two
    assert r.returncode == 0, r.stdout
    assert report["verdict"] == "pass" and [s["status"] for s in report["replay"]["segments"]] == ["bit-exact"] * 2
    assert report["level"] == "reproduced (sampled 2/7)" and report["rung"] == "reproduced"
    cov = report["replay"]["coverage"]
    assert (cov["segments_total"], cov["segments_replayed"]) == (7, 2)
    assert math.isclose(cov["escape_probability"], 5 / 7)
    assert list(schemas.validator("report").iter_errors(report)) == []
    assert "level reproduced (sampled 2/7)" in r.stdout and SAMPLE_NOTE in r.stdout
    md = (out / "report.md").read_text()
    assert "level **reproduced (sampled 2/7)**" in md and SAMPLE_NOTE in md and "2 of 7 segments replayed" in md
    page = (out / "report.html").read_text()
    assert "Openness level: <b>reproduced (sampled 2/7)</b>" in page and SAMPLE_NOTE in page
    assert "<title>PASS · reproduced (sampled 2/7) ·" in page
    texts, message = _badge(out)
    assert "reproduced (sampled 2/7)" in texts and message == "reproduced (sampled 2/7)"
    assert "**reproduced (sampled 2/7)**" in (out / "badges" / "README.md").read_text()
    sarif = json.loads((out / "report.sarif").read_text())
    assert sarif["runs"][0]["properties"]["level"] == "reproduced (sampled 2/7)"
    assert 'name="level" value="reproduced (sampled 2/7)"' in (out / "report.junit.xml").read_text()


def test_every_segment_replayed_is_plain_reproduced(built_release, tmp_path):
    out = tmp_path / "out"
    r, report = _audit_cli(built_release, out, "--replay", "all")
    assert r.returncode == 0, r.stdout
    assert report["level"] == report["rung"] == "reproduced"
    assert report["replay"]["coverage"] == {"segments_total": 7, "segments_replayed": 7, "escape_probability": 0.0}
    assert "level reproduced ·" in r.stdout and "tampered" not in r.stdout
    for text in (r.stdout, (out / "report.md").read_text(), (out / "report.html").read_text()):
        assert "(sampled" not in text and "tampered" not in text
    assert _badge(out)[1] == "reproduced"


def test_require_level_reproduced_is_met_by_a_sample_not_by_no_replay(built_release, tmp_path):
    r, report = _audit_cli(built_release, tmp_path / "sampled", "--replay", "2", "--require-level", "reproduced")
    assert r.returncode == 0, r.stdout
    assert report["verdict"] == "pass" and report["gate"]["require_level"] == "reproduced"
    assert report["level"] == "reproduced (sampled 2/7)" and SAMPLE_NOTE in r.stdout  # met, and the sample stated
    out = tmp_path / "none"
    r, report = _audit_cli(built_release, out, "--replay", "none", "--require-level", "reproduced")
    assert r.returncode == 1 and report["verdict"] == "fail"
    assert report["level"] == report["rung"] == "fully-open"
    assert report["replay"]["coverage"] == {"segments_total": 7, "segments_replayed": 0, "escape_probability": 1.0}
    assert "level fully-open ·" in r.stdout and "(sampled" not in r.stdout and "tampered" not in r.stdout
    assert _badge(out)[1] == "fully-open" and "(sampled" not in (out / "report.md").read_text()


def test_a_tampered_segment_outside_the_sample_escapes_it_visibly(release, tmp_path):
    """One ULP in checkpoint 12 breaks segments 8→12 and 12→16; the default sample (0→4, 16→20) misses
    both, and the level says it rests on 2 of 7; every segment replayed catches it."""
    path = release / "checkpoints/step_000012/model.safetensors"
    tensors = load_file(path)
    t = tensors["model.layers.1.mlp.up_proj.weight"].clone()
    t.view(-1)[7] = torch.nextafter(t.view(-1)[7], torch.tensor(math.inf))
    tensors["model.layers.1.mlp.up_proj.weight"] = t
    save_file(tensors, path, metadata={"format": "pt"})
    refresh(release)  # a consistent release: only a replay can tell
    r, report = _audit_cli(release, tmp_path / "sample")
    assert r.returncode == 0, r.stdout
    assert [(s["start_step"], s["end_step"]) for s in report["replay"]["segments"]] == [(0, 4), (16, 20)]
    assert report["level"] == "reproduced (sampled 2/7)" and SAMPLE_NOTE in r.stdout
    r, report = _audit_cli(release, tmp_path / "all", "--replay", "all")
    assert r.returncode == 1 and report["level"] == "fully-open"
    assert {(s["start_step"], s["end_step"]) for s in report["replay"]["segments"] if s["status"] == "mismatch"} == {
        (8, 12), (12, 16)}


def test_merged_shards_count_every_shards_segments(built_release, tmp_path):
    outs = [tmp_path / f"s{i}" for i in (1, 2)]
    shard_levels = []
    for i, out in enumerate(outs, 1):
        r, report = _audit_cli(built_release, out, "--shard", f"{i}/2", "--replay", "3", "-q")
        assert r.returncode == 0, r.stdout
        shard_levels.append((report["level"], report["replay"]["coverage"]["segments_replayed"]))
    assert shard_levels == [("reproduced (sampled 2/7)", 2), ("reproduced (sampled 1/7)", 1)]  # each its own part
    merged = tmp_path / "merged"
    r = run_cli("merge", *map(str, outs), "--out", str(merged))
    assert r.returncode == 0, r.stdout + r.stderr
    report = json.loads((merged / "report.json").read_text())
    assert report["level"] == "reproduced (sampled 3/7)" and len(report["replay"]["segments"]) == 3
    cov = report["replay"]["coverage"]
    assert (cov["segments_total"], cov["segments_replayed"]) == (7, 3) and math.isclose(cov["escape_probability"], 4 / 7)
    assert "a 3-of-7 sample with probability 57%" in r.stdout
    assert _badge(merged)[1] == "reproduced (sampled 3/7)"


# The vocabulary and the model, without a release.


def _report(replayed: int | None, total: int = 7, replay_status: str = "pass", **gate) -> Report:
    criteria = {c: CriterionResult(status="pass", summary="") for c in CRITERIA}
    criteria["replay"] = CriterionResult(status=replay_status, summary="")
    coverage = None if replayed is None else ReplayCoverage(segments_total=total, segments_replayed=replayed)
    return Report(spec_version=SPEC_VERSION, tool=Tool(version="0"), release=ReleaseInfo(path="/r", license="MIT"),
                  criteria=criteria, findings=[], replay=Replay(mode="2", coverage=coverage),
                  gate=GateSettings(**gate))  # fmt: skip


def test_level_names_and_rungs():
    assert level_name("reproduced", 2, 7) == "reproduced (sampled 2/7)"
    assert level_name("reproduced", 7, 7) == "reproduced"
    assert level_name("fully-open", 2, 7) == "fully-open"  # the sample only qualifies the rung it decides
    assert rung_of("reproduced (sampled 2/7)") == "reproduced" and rung_of("open-weights") == "open-weights"
    assert not below("reproduced (sampled 2/7)", "reproduced") and below("fully-open", "reproduced")
    assert [percent(p) for p in (0, 0.004, 5 / 7, 0.999, 1)] == ["0%", "<1%", "71%", ">99%", "100%"]


def test_report_level_from_rung_and_coverage():
    sampled = _report(2, require_level="reproduced")
    assert (sampled.level, sampled.rung, sampled.verdict) == ("reproduced (sampled 2/7)", "reproduced", "pass")
    assert sampled.sample_note() == SAMPLE_NOTE
    assert _report(7).level == "reproduced" and _report(7).sample_note() is None
    assert _report(None).level == "reproduced"  # no coverage recorded (an older report): the rung
    failed = _report(2, replay_status="fail")
    assert failed.level == "fully-open" and failed.sample_note() is None
    badges = render_badges(sampled)
    assert json.loads(badges["badges/llm360.json"])["color"] == "brightgreen"  # coloured by the rung


def test_coverage_is_derived_and_validated():
    data = json.loads(_report(2).model_dump_json())
    data["replay"]["coverage"]["escape_probability"] = 0.0  # a report.json read back: recomputed, not trusted
    back = Report.from_json(data)
    assert math.isclose(back.replay.coverage.escape_probability, 5 / 7) and back.level == "reproduced (sampled 2/7)"
    assert ReplayCoverage(segments_total=0, segments_replayed=0).escape_probability is None
    with pytest.raises(pydantic.ValidationError, match="exceeds"):
        ReplayCoverage(segments_total=2, segments_replayed=3)


@pytest.mark.parametrize("level, valid", [
    ("reproduced (sampled 2/7)", True), ("reproduced", True), ("closed", True),
    ("reproduced (sampled)", False), ("reproduced (sampled 2/7) ", False), ("gold", False)])  # fmt: skip
def test_schema_level_pattern(level, valid):
    data = json.loads(_report(2).model_dump_json())
    data["level"] = level
    assert (list(schemas.validator("report").iter_errors(data)) == []) is valid
