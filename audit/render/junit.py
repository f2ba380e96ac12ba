"""report.junit.xml: the audit as JUnit XML, for CI test viewers.

One ``<testsuite name="llm360-audit">``; one test case per check of the rule catalog
(``classname="llm360.<criterion>"``, ``name="<check id>"``), then one per replayed segment
(``name="replay <start>→<end>"``). A check with error findings fails, listing every one of them; an
``audit.internal-error`` (the auditor crashed) is a JUnit *error* instead; warnings and notes go to
``<system-out>``; the checks of a skipped criterion are skipped. Built with ElementTree, so all
text and attributes are escaped; characters XML 1.0 cannot carry at all are spelled out.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

from audit.spec.report import Finding, ReplaySegment, Report
from audit.spec.rules import INTERNAL_ERROR, catalog

SUITE = "llm360-audit"
#: Not allowed anywhere in an XML 1.0 document (control characters, lone surrogates, U+FFFE/U+FFFF).
_NOT_XML = re.compile("[^\t\n\r\u0020-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def xml_text(s: object) -> str:
    return _NOT_XML.sub(lambda m: f"\\x{ord(m.group()):02x}" if ord(m.group()) < 0x100 else f"\\u{ord(m.group()):04x}",
                        str(s))  # fmt: skip


def _describe(f: Finding) -> str:
    lines = [f"[{f.severity}] {f.id}" + (f" ({f.path})" if f.path else ""), f"  {f.message}"]
    if f.remediation:
        lines.append(f"  What to do: {f.remediation}")
    return "\n".join(lines)


def _one_line(s: str, limit: int = 300) -> str:
    s = " ".join(s.split())
    return s if len(s) <= limit else s[: limit - 1] + "…"


def _problem(case: ET.Element, tag: str, errors: list[Finding]) -> None:
    msg = errors[0].message if len(errors) == 1 else f"{len(errors)} errors; first: {errors[0].message}"
    el = ET.SubElement(case, tag, message=xml_text(_one_line(msg)),
                       type=xml_text(" ".join(dict.fromkeys(f.id for f in errors))))  # fmt: skip
    el.text = xml_text("\n\n".join(_describe(f) for f in errors) + "\n")


def _check_case(suite: ET.Element, check_id: str, criterion: str, findings: list[Finding], report: Report):
    case = ET.SubElement(suite, "testcase", classname=xml_text(f"llm360.{criterion}"), name=xml_text(check_id))
    result = report.criteria.get(criterion)
    internal = [f for f in findings if f.id == INTERNAL_ERROR]
    errors = [f for f in findings if f.severity == "error"]
    if internal:
        _problem(case, "error", internal + [f for f in errors if f.id != INTERNAL_ERROR])
    elif errors:
        _problem(case, "failure", errors)
    elif result is not None and result.status == "skipped":
        ET.SubElement(case, "skipped", message=xml_text(_one_line(result.summary)))
    out = [f"{criterion}: {result.status}: {result.summary}"] if result is not None else []
    out += [_describe(f) for f in findings if f.severity != "error"]
    if out:
        ET.SubElement(case, "system-out").text = xml_text("\n".join(out) + "\n")


def _segment_case(suite: ET.Element, s: ReplaySegment) -> None:
    case = ET.SubElement(suite, "testcase", classname="llm360.replay", name=f"replay {s.start_step}→{s.end_step}")
    if s.wall_s is not None:
        case.set("time", f"{s.wall_s:.3f}")
    details = [f"status: {s.status}"]
    if s.reason:
        details.append(f"reason: {s.reason}")
    if s.first_divergent_step is not None:
        details.append(f"first divergent step: {s.first_divergent_step}")
    for key in ("max_abs_diff", "max_ulp", "max_rel_diff", "differing_elements", "tensors_compared", "tolerance"):
        if getattr(s, key) is not None:
            details.append(f"{key}: {getattr(s, key)}")
    if s.environment_differences:
        details.append("environment differs in: " + ", ".join(s.environment_differences))
    for t in s.tensors:
        details.append(f"  {t.name}: {t.differing}/{t.numel} differ, max abs {t.max_abs_diff:g}, max ulp {t.max_ulp}")
    text = "\n".join(details) + "\n"
    if s.status in ("mismatch", "error"):
        if s.status == "mismatch":
            where = f"first divergent step {s.first_divergent_step}" if s.first_divergent_step is not None else ""
            parts = (f"steps {s.start_step}→{s.end_step} do not replay", where, s.reason or "")
            msg = "; ".join(x for x in parts if x)
        else:
            msg = f"steps {s.start_step}→{s.end_step} could not be replayed" + (f": {s.reason}" if s.reason else "")
        el = ET.SubElement(case, "failure", message=xml_text(_one_line(msg)), type=f"replay.{s.status}")
        el.text = xml_text(text)
        return
    if s.status == "skipped":
        ET.SubElement(case, "skipped", message=xml_text(_one_line(s.reason or "segment skipped")))
    ET.SubElement(case, "system-out").text = xml_text(text)


def render_junit(report: Report) -> str:
    # Checks in catalog order (manifest first), each with its criterion; rule id → check.
    checks: dict[str, str] = {}
    owner: dict[str, str] = {}
    for info in catalog():
        checks.setdefault(info.check_id, info.criterion)
        owner.setdefault(info.rule.id, info.check_id)
    by_criterion: dict[str, str] = {}
    for check_id, criterion in checks.items():
        by_criterion.setdefault(criterion, check_id)
    grouped: dict[str, list[Finding]] = {c: [] for c in checks}
    for f in report.findings:  # a rule the catalog lacks: the (first) check of its criterion
        grouped[owner.get(f.id) or by_criterion.get(f.criterion) or "manifest"].append(f)

    suites = ET.Element("testsuites", name=SUITE)
    suite = ET.SubElement(suites, "testsuite", name=SUITE)
    props = ET.SubElement(suite, "properties")
    properties = {
        "verdict": report.verdict,
        "level": report.level,
        "mof_class": report.mof_class,
        "spec_version": report.spec_version,
        "tool_version": report.tool.version,
        "release": report.release.name or report.release.path,
        "replay_mode": report.replay.mode,
    }
    for key, value in properties.items():
        ET.SubElement(props, "property", name=key, value=xml_text(value))
    segments_at = "replay" if "replay" in checks else None
    for check_id, criterion in checks.items():
        _check_case(suite, check_id, criterion, grouped[check_id], report)
        if check_id == segments_at:
            for s in report.replay.segments:
                _segment_case(suite, s)
    if segments_at is None:
        for s in report.replay.segments:
            _segment_case(suite, s)

    cases = suite.findall("testcase")
    counts = {
        "tests": len(cases),
        "failures": sum(c.find("failure") is not None for c in cases),
        "errors": sum(c.find("error") is not None for c in cases),
        "skipped": sum(c.find("skipped") is not None for c in cases),
    }
    seconds = sum(float(c.get("time", 0)) for c in cases)
    for el in (suites, suite):
        for key, n in counts.items():
            el.set(key, str(n))
        el.set("time", f"{seconds:.3f}")
    ET.indent(suites)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(suites, encoding="unicode") + "\n"
