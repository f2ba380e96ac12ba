"""Machine-readable reports: SARIF for code scanning, JUnit XML for CI, badges for the model card —
on the passing example (replayed), a failing variant (a chunk deleted, a tensor byte flipped) and
a directory without a manifest, plus a report whose text is hostile."""

from __future__ import annotations

import functools
import hashlib
import json
import shutil
import xml.etree.ElementTree as ET
from pathlib import Path
from urllib.parse import quote

import jsonschema
import pytest

from audit.spec.rules import catalog as rule_catalog
from audit.render.badges import render_badges, render_svg, text_width
from audit.render.junit import render_junit
from audit.render.sarif import render_sarif
from audit.spec.report import CRITERIA, CriterionResult, Finding, ReleaseInfo, ReplaySegment
from conftest import audit, flip_tensor_byte

SARIF_SCHEMA = Path(__file__).resolve().parent / "schemas" / "sarif-schema-2.1.0.json"  # see schemas/README.md
SARIF_SCHEMA_SHA256 = "c3b4bb2d6093897483348925aaa73af03b3e3f4bd4ca38cef26dcb4212a2682e"
SVG = "{http://www.w3.org/2000/svg}"
LEVEL = {"error": "error", "warning": "warning", "info": "note"}
VARIANTS = ("pass", "fail", "no-manifest")
HOSTILE = "bad <tag attr=\"x\"> & 'q' ]]> <![CDATA[ x ]]> </failure></testcase> \x00\x1b\x7f end"
HOSTILE_PATH = 'data/we ird<&">]]>#?%.jsonl'


@pytest.fixture(scope="module")
def reports(built_release, tmp_path_factory):
    failing = tmp_path_factory.mktemp("failing") / "release"
    shutil.copytree(built_release, failing)  # a private copy, as the `release` fixture makes
    (failing / "data" / "train_004.jsonl").unlink()
    weights = failing / "checkpoints" / "step_000016" / "model.safetensors"
    flip_tensor_byte(weights, at=-100)  # inside the last tensor's data, header untouched
    empty = tmp_path_factory.mktemp("no-manifest")
    out = {
        "pass": audit(built_release, replay="all"),
        "fail": audit(failing, replay="all"),
        "no-manifest": audit(empty),
    }
    assert out["pass"].verdict == "pass" and out["pass"].level == "reproduced", out["pass"].findings
    assert out["fail"].verdict == "fail" and out["no-manifest"].verdict == "fail"
    return out


@pytest.fixture(scope="module")
def hostile(reports):
    """The failing report with hostile text everywhere a release can put text."""
    base = reports["fail"]
    findings = [
        Finding(id="data.file-missing", severity="error", criterion="data_availability", message=HOSTILE,
                path=HOSTILE_PATH, remediation="fix <it> & \"now\" ]]>"),
        Finding(id="data.no-hash", severity="warning", criterion="data_availability", message="warn " + HOSTILE,
                path="data/\udcff-undecodable.jsonl"),
        Finding(id="made.up<&>]]>", severity="error", criterion="data_mix", message="unknown rule " + HOSTILE),
        Finding(id="audit.internal-error", severity="error", criterion="metrics", message="check crashed " + HOSTILE),
    ]  # fmt: skip
    criteria = dict(base.criteria)
    criteria["config"] = CriterionResult(status="skipped", summary="skipped " + HOSTILE)
    segments = [ReplaySegment(start_step=0, end_step=4, status="error", reason="seg " + HOSTILE),
                ReplaySegment(start_step=4, end_step=8, status="skipped", reason="skip " + HOSTILE)]  # fmt: skip
    return base.model_copy(update={
        "findings": findings,
        "criteria": criteria,
        "release": ReleaseInfo(path='/tmp/we ird <&">]]>/release', name="name " + HOSTILE, license="Apache-2.0"),
        "replay": base.replay.model_copy(update={"segments": segments}),
    })  # fmt: skip


def catalog_checks() -> dict[str, str]:
    checks: dict[str, str] = {}
    for info in rule_catalog():
        checks.setdefault(info.check_id, info.criterion)
    return checks


@functools.cache
def _sarif_validator() -> jsonschema.protocols.Validator:
    schema = json.loads(SARIF_SCHEMA.read_text())
    cls = jsonschema.validators.validator_for(schema)  # draft-04, as the schema declares
    cls.check_schema(schema)
    return cls(schema)


def validate_sarif(doc: dict) -> None:
    """Against the official SARIF 2.1.0 schema (the copy vendored in tests/schemas/)."""
    errors = sorted(_sarif_validator().iter_errors(doc), key=lambda e: list(e.absolute_path))
    assert not errors, "\n".join(f"{list(e.absolute_path)}: {e.message}" for e in errors[:10])


# SARIF ------------------------------------------------------------------------------------------


def test_vendored_sarif_schema_is_the_official_one():
    assert hashlib.sha256(SARIF_SCHEMA.read_bytes()).hexdigest() == SARIF_SCHEMA_SHA256, (
        f"{SARIF_SCHEMA} is not the OASIS copy recorded in tests/schemas/README.md")
    schema = json.loads(SARIF_SCHEMA.read_text())
    assert schema["id"] == "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"
    with pytest.raises(AssertionError, match="driver"):  # the validation has teeth: a run's tool needs a driver
        validate_sarif({"version": "2.1.0", "runs": [{"tool": {}}]})


def test_sarif_matches_official_schema(reports):
    for report in reports.values():
        validate_sarif(json.loads(render_sarif(report)))


@pytest.mark.parametrize("variant", VARIANTS)
def test_sarif(reports, variant):
    report = reports[variant]
    text = render_sarif(report)
    doc = json.loads(text)
    validate_sarif(doc)
    assert doc["version"] == "2.1.0" and doc["$schema"] == "https://json.schemastore.org/sarif-2.1.0.json"
    (run,) = doc["runs"]
    driver = run["tool"]["driver"]
    assert driver["name"] == "llm360-audit" and driver["version"] == report.tool.version
    assert driver["informationUri"].startswith("https://")

    catalog = rule_catalog()
    rules = driver["rules"]
    assert [r["id"] for r in rules] == [i.rule.id for i in catalog]
    for rule, info in zip(rules, catalog, strict=True):
        assert rule["defaultConfiguration"]["level"] == LEVEL[info.rule.severity]
        assert rule["shortDescription"]["text"] == info.title
        assert rule["fullDescription"]["text"] == info.rationale
        assert rule["help"]["text"] == info.rule.remediation
        assert rule["properties"]["criterion"] == info.criterion and rule["properties"]["check"] == info.check_id
        assert rule["name"]

    results = run["results"]
    assert len(results) == len(report.findings)
    for result, f in zip(results, report.findings, strict=True):
        assert result["ruleId"] == f.id
        assert rules[result["ruleIndex"]]["id"] == f.id
        assert result["level"] == LEVEL[f.severity]
        assert result["message"]["text"] == f.message
        # GitHub rejects a whole upload when one result lacks a location or its start line.
        (loc,) = result["locations"]
        artifact = loc["physicalLocation"]["artifactLocation"]
        assert artifact["uriBaseId"] == "RELEASEROOT"
        assert artifact["uri"] == (quote(f.path) if f.path else "llm360.yaml")
        assert loc["physicalLocation"]["region"]["startLine"] == 1

    root = run["originalUriBaseIds"]["RELEASEROOT"]["uri"]
    assert root == Path(report.release.path).as_uri() + "/"
    assert run["invocations"] == [{"executionSuccessful": True}]
    assert run["properties"]["verdict"] == report.verdict
    assert run["properties"]["level"] == report.level
    assert run["properties"]["mof_class"] == report.mof_class

    by_id = {r["ruleId"]: r for r in results}
    if variant == "pass":
        assert results == []
    elif variant == "fail":
        assert by_id["data.file-missing"]["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] == (
            "data/train_004.jsonl")  # fmt: skip
        assert by_id["checkpoints.sha256-mismatch"]["level"] == "error"
        assert by_id["replay.mismatch"]["level"] == "error"
    else:
        assert set(by_id) == {"manifest.missing"}


# JUnit ------------------------------------------------------------------------------------------


def parse_junit(text: str) -> tuple[ET.Element, ET.Element, list[ET.Element]]:
    suites = ET.fromstring(text.encode("utf-8"))
    assert suites.tag == "testsuites"
    (suite,) = suites.findall("testsuite")
    assert suite.get("name") == "llm360-audit"
    cases = suite.findall("testcase")
    counts = {
        "tests": len(cases),
        "failures": sum(c.find("failure") is not None for c in cases),
        "errors": sum(c.find("error") is not None for c in cases),
        "skipped": sum(c.find("skipped") is not None for c in cases),
    }
    for el in (suites, suite):
        assert {k: int(el.get(k)) for k in counts} == counts
    for c in cases:  # at most one outcome per case
        assert sum(c.find(t) is not None for t in ("failure", "error", "skipped")) <= 1
    return suites, suite, cases


@pytest.mark.parametrize("variant", VARIANTS)
def test_junit(reports, variant):
    report = reports[variant]
    _, suite, cases = parse_junit(render_junit(report))
    checks = catalog_checks()
    segments = [f"replay {s.start_step}→{s.end_step}" for s in report.replay.segments]
    assert [c.get("name") for c in cases if not c.get("name").startswith("replay ")] == list(checks)
    assert [c.get("name") for c in cases if c.get("name").startswith("replay ")] == segments
    for c in cases:
        name = c.get("name")
        expected = "llm360.replay" if name.startswith("replay ") else f"llm360.{checks[name]}"
        assert c.get("classname") == expected
    props = {p.get("name"): p.get("value") for p in suite.iter("property")}
    assert props["verdict"] == report.verdict and props["level"] == report.level
    case = {c.get("name"): c for c in cases}
    failures = {c.get("name"): c.find("failure") for c in cases if c.find("failure") is not None}

    if variant == "pass":
        assert failures == {} and suite.get("errors") == "0" and suite.get("skipped") == "0"
        assert len(segments) == 7
    elif variant == "fail":
        assert set(failures) == {"model_checkpoints", "data_availability", "replay", "replay 12→16", "replay 16→20"}
        data, ckpt = failures["data_availability"], failures["model_checkpoints"]
        assert data.get("type") == "data.file-missing" and ckpt.get("type") == "checkpoints.sha256-mismatch"
        missing = next(f for f in report.findings if f.id == "data.file-missing")
        for text in (missing.id, missing.path, missing.message, missing.remediation):
            assert text in data.text
        assert "checkpoints/step_000016/model.safetensors" in ckpt.text
        assert failures["replay 12→16"].get("type") == "replay.mismatch"
        assert "first divergent step 16" in failures["replay 12→16"].get("message")
        assert failures["replay 16→20"].get("type") == "replay.error"
        assert case["code"].find("failure") is None and "code: pass" in case["code"].findtext("system-out")
    else:
        assert set(failures) == {"manifest"} and failures["manifest"].get("type") == "manifest.missing"
        skipped = {c.get("name"): c.find("skipped").get("message") for c in cases if c.find("skipped") is not None}
        assert set(skipped) == {name for name, criterion in checks.items() if criterion in CRITERIA}
        assert set(skipped.values()) == {"the manifest could not be read"}


# Badges -----------------------------------------------------------------------------------------


def parse_svg(text: str) -> ET.Element:
    root = ET.fromstring(text.encode("utf-8"))
    assert root.tag == f"{SVG}svg"
    return root


def badge_texts(root: ET.Element) -> list[str]:
    return [t.text for t in root.iter(f"{SVG}text")]


@pytest.mark.parametrize("variant", VARIANTS)
def test_badges(reports, variant):
    report = reports[variant]
    files = render_badges(report)
    names = ["llm360", "verdict", *report.criteria]
    assert set(files) == {f"badges/{n}.{ext}" for n in names for ext in ("svg", "json")} | {"badges/README.md"}
    expected = {"llm360": ("LLM360", report.level), "verdict": (None, report.verdict),
                **{c: (c, r.status) for c, r in report.criteria.items()}}  # fmt: skip
    for name, (label, message) in expected.items():
        root = parse_svg(files[f"badges/{name}.svg"])
        title = root.findtext(f"{SVG}title")
        assert title.endswith(f": {message}") and root.get("aria-label") == title
        texts = badge_texts(root)
        assert texts.count(message) == 2  # text and its shadow
        if label:
            assert texts.count(label) == 2
        rects = [r for r in root.iter(f"{SVG}rect") if r.get("fill", "").startswith("#") and r.get("fill") != "#fff"]
        assert int(root.get("width")) == sum(int(r.get("width")) for r in rects)  # label + message
        endpoint = json.loads(files[f"badges/{name}.json"])
        assert endpoint["schemaVersion"] == 1 and endpoint["message"] == message
        assert endpoint["label"] and endpoint["color"]
    readme = files["badges/README.md"]
    for name in names:
        assert f"(badges/{name}.svg)" in readme
    assert "https://img.shields.io/endpoint?url=<where you host badges/llm360.json>" in readme

    colours = {n: json.loads(files[f"badges/{n}.json"])["color"] for n in names}
    if variant == "pass":
        assert colours["llm360"] == "brightgreen" and colours["verdict"] == "brightgreen"
        assert {colours[c] for c in report.criteria} == {"green"}
    elif variant == "fail":
        assert colours["llm360"] == "red" and colours["verdict"] == "red"
        assert colours["model_checkpoints"] == colours["data_availability"] == "red" and colours["code"] == "green"
    else:
        assert {colours[c] for c in report.criteria} == {"lightgrey"}


def test_badge_widths_follow_text():
    short, long = parse_svg(render_svg("LLM360", "closed", "red")), parse_svg(render_svg("LLM360", "reproduced", "red"))
    assert int(long.get("width")) > int(short.get("width"))
    assert text_width("mmmm") > text_width("iiii") > 0
    assert text_width("日本") > text_width("ab")


# Hostile text -----------------------------------------------------------------------------------


def test_hostile_text_stays_well_formed(hostile):
    # SARIF: valid JSON, valid SARIF, UTF-8 encodable, the text intact, the path a URI.
    text = render_sarif(hostile)
    text.encode("utf-8")
    doc = json.loads(text)
    validate_sarif(doc)
    (run,) = doc["runs"]
    results = run["results"]
    assert len(results) == len(hostile.findings)
    assert results[0]["message"]["text"] == HOSTILE
    uri = results[0]["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]
    assert uri == quote(HOSTILE_PATH) and not set('<>"& #?') & set(uri)
    assert "%FF" in results[1]["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]  # the raw byte
    assert "ruleIndex" not in results[2] and results[2]["ruleId"] == "made.up<&>]]>"
    assert run["invocations"][0]["executionSuccessful"] is False
    base = run["originalUriBaseIds"]["RELEASEROOT"]["uri"]
    assert base.startswith("file:///") and base.endswith("/") and not set('<>" ') & set(base)

    # JUnit: parses, escaped, counts consistent, the text recoverable (minus what XML cannot hold).
    xml_text = render_junit(hostile)
    assert "]]>" not in xml_text and "<tag" not in xml_text and "&lt;tag" in xml_text
    _, suite, cases = parse_junit(xml_text)
    case = {c.get("name"): c for c in cases}
    failure = case["data_availability"].find("failure")
    assert "bad <tag attr=\"x\"> & 'q' ]]> <![CDATA[ x ]]> </failure></testcase>" in failure.text
    assert HOSTILE_PATH in failure.text and 'fix <it> & "now" ]]>' in failure.text
    assert "\\x00" in failure.text and "\\x1b" in failure.text  # spelled out, not dropped silently
    assert "warn bad <tag" in case["data_availability"].findtext("system-out")
    assert case["data_mix"].find("failure").get("type") == "made.up<&>]]>"
    assert case["audit"].find("error") is not None and int(suite.get("errors")) == 1
    assert case["config"].find("skipped").get("message").startswith("skipped bad <tag")
    assert case["replay 0→4"].find("failure") is not None and case["replay 4→8"].find("skipped") is not None
    assert {p.get("name"): p.get("value") for p in suite.iter("property")}["release"].startswith("name bad <tag")

    # Badges: hostile label and message, still one well-formed SVG with the text in it.
    root = parse_svg(render_svg(HOSTILE, HOSTILE_PATH, "not a colour", ident=HOSTILE))
    assert HOSTILE_PATH in badge_texts(root)
    assert root.findtext(f"{SVG}title").endswith(HOSTILE_PATH)
    for name, content in render_badges(hostile).items():
        content.encode("utf-8")
        if name.endswith(".svg"):
            parse_svg(content)
        elif name.endswith(".json"):
            json.loads(content)
