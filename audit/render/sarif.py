"""report.sarif: SARIF 2.1.0 for GitHub code scanning — one rule per catalog rule, one result per finding.

A pure function of the report (and the rule catalog). Paths are release-relative URIs under the
``RELEASEROOT`` base, which ``originalUriBaseIds`` maps to the release directory.

GitHub rejects a whole upload when a single result has no location ("locationFromSarifResult:
expected at least one location"), and shows a location only with ``region.startLine``. Findings
about the release as a whole (no path: replay segments, hyperparameters…) are therefore anchored
at the manifest, ``llm360.yaml``, the file that makes the claim; every location is file-level
(line 1).
"""

from __future__ import annotations

import json
import re
from urllib.parse import quote

from audit.spec.report import Finding, Report
from audit.spec.names import MANIFEST_NAME
from audit.spec.rules import INTERNAL_ERROR, catalog

SARIF_VERSION = "2.1.0"
SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
INFORMATION_URI = "https://github.com/llm360-audit/llm360-audit"
BASE_ID = "RELEASEROOT"
#: Where findings without a path are anchored (audit.core.release.MANIFEST_NAME).

LEVEL = {"error": "error", "warning": "warning", "info": "note"}

_SURROGATE = re.compile("[\ud800-\udfff]")


def _text(s: str) -> str:
    """Lone surrogates (undecodable file names) cannot be written as UTF-8: spell them out."""
    return _SURROGATE.sub(lambda m: f"\\u{ord(m.group()):04x}", s)


def _clean(obj):
    if isinstance(obj, str):
        return _text(obj)
    if isinstance(obj, dict):
        return {_text(str(k)): _clean(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_clean(v) for v in obj]
    return obj


def _quote(path: str, safe: str = "/") -> str:
    # surrogateescape turns an undecodable file name back into its original bytes.
    return quote(path, safe=safe, errors="surrogateescape")


def artifact_uri(path: str) -> str:
    """A release-relative path as a relative URI reference (percent-encoded, '/' separated)."""
    return _quote(path.replace("\\", "/"))


def release_root_uri(path: str) -> str:
    """The release directory as a ``file://`` URI with a trailing slash."""
    p = path.replace("\\", "/")
    if re.match(r"^[A-Za-z]:/", p):  # Windows drive path
        uri = "file:///" + p[:2] + _quote(p[2:])
    elif p.startswith("//"):  # UNC share
        uri = "file:" + _quote(p)
    elif p.startswith("/"):
        uri = "file://" + _quote(p)
    else:  # not absolute (the auditor always resolves it): a relative reference
        uri = _quote(p)
    return uri if uri.endswith("/") else uri + "/"


def rule_name(rule_id: str) -> str:
    """``checkpoints.sha256-mismatch`` → ``CheckpointsSha256Mismatch`` (SARIF's reportingDescriptor.name)."""
    return "".join(part[:1].upper() + part[1:] for part in re.split(r"[^A-Za-z0-9]+", rule_id) if part)


def _descriptor(info) -> dict:
    r = info.rule
    return {
        "id": r.id,
        "name": rule_name(r.id),
        "shortDescription": {"text": info.title},
        "fullDescription": {"text": info.rationale},
        "help": {"text": r.remediation, "markdown": f"**What to do:** {r.remediation}\n\n{info.rationale}"},
        "defaultConfiguration": {"level": LEVEL[r.severity]},
        "properties": {"criterion": info.criterion, "check": info.check_id, "tags": ["llm360", info.criterion]},
    }


def _location(f: Finding) -> dict:
    loc = {
        "physicalLocation": {
            "artifactLocation": {"uri": artifact_uri(f.path or MANIFEST_NAME), "uriBaseId": BASE_ID},
            "region": {"startLine": f.line or 1},
        }
    }
    if not f.path:
        loc["message"] = {"text": "about the release as a whole; anchored at its manifest"}
    return loc


def _result(f: Finding, index: dict[str, int]) -> dict:
    out: dict = {"ruleId": f.id}
    if f.id in index:
        out["ruleIndex"] = index[f.id]
    out["level"] = LEVEL.get(f.severity, "note")
    out["message"] = {"text": f.message}
    out["locations"] = [_location(f)]
    props = {"criterion": f.criterion, "severity": f.severity}
    if f.remediation:
        props["remediation"] = f.remediation
    out["properties"] = props
    return out


def render_sarif(report: Report) -> str:
    rules = catalog()
    index: dict[str, int] = {}
    for i, info in enumerate(rules):
        index.setdefault(info.rule.id, i)
    internal = [f for f in report.findings if f.id == INTERNAL_ERROR]
    invocation: dict = {"executionSuccessful": not internal}
    if internal:
        invocation["toolExecutionNotifications"] = [
            {"level": "error", "message": {"text": f.message}, "descriptor": {"id": INTERNAL_ERROR}} for f in internal
        ]
    run = {
        "tool": {
            "driver": {
                "name": report.tool.name,
                "version": report.tool.version,
                "semanticVersion": report.tool.version,
                "informationUri": INFORMATION_URI,
                "rules": [_descriptor(info) for info in rules],
            }
        },
        "invocations": [invocation],
        "originalUriBaseIds": {
            BASE_ID: {"uri": release_root_uri(report.release.path), "description": {"text": "The release root."}}
        },
        "results": [_result(f, index) for f in report.findings],
        "properties": {
            "verdict": report.verdict,
            "level": report.level,
            "mof_class": report.mof_class,
            "spec_version": report.spec_version,
            "criteria": {c: r.status for c, r in report.criteria.items()},
        },
    }
    if report.release.name:
        run["properties"]["release"] = report.release.name
    log = {"$schema": SARIF_SCHEMA, "version": SARIF_VERSION, "runs": [run]}
    return json.dumps(_clean(log), indent=2, ensure_ascii=False) + "\n"
