"""Reading ``llm360.yaml``: YAML (bounded, safe), then the strict models; problems come back as
findings of the manifest's rules, never as exceptions."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pydantic

from audit.readers import bounded, yamlio
from audit.spec import schemas
from audit.spec.manifest import Manifest
from audit.spec.names import MANIFEST_NAME
from audit.spec.report import Finding
from audit.spec.rules import manifest as rules

MAX_SCHEMA_ERRORS = 20

RULES = {"missing": rules.MISSING, "unreadable": rules.UNREADABLE, "yaml-invalid": rules.YAML_INVALID,
         "not-a-mapping": rules.NOT_A_MAPPING, "schema-violation": rules.SCHEMA}  # fmt: skip


def _manifest_finding(rule: str, message: str, line: int | None = None) -> Finding:
    r = RULES[rule]
    return Finding(id=r.id, severity=r.severity, criterion="manifest", message=message, path=MANIFEST_NAME,
                   line=line, remediation=r.remediation)  # fmt: skip


def _json_path(parts) -> str:
    out = ""
    for p in parts:
        out += f"[{p}]" if isinstance(p, int) else (f".{p}" if out else str(p))
    return out or "(root)"


def load_manifest(root: Path) -> tuple[Manifest | None, str | None, list[Finding]]:
    """Read and validate ``llm360.yaml``; problems come back as findings, never as exceptions."""
    path = root / MANIFEST_NAME
    if not path.is_file():
        return None, None, [_manifest_finding("missing", f"{MANIFEST_NAME} not found in {root}")]
    try:
        raw = bounded.read_bytes(path, bounded.MAX_YAML_BYTES)
        data = yamlio.loads(raw)
    except OSError as exc:
        return None, None, [_manifest_finding("unreadable", f"{MANIFEST_NAME}: {exc.strerror}")]
    except (yamlio.YamlError, bounded.TooLarge) as exc:
        return None, None, [_manifest_finding("yaml-invalid", f"{MANIFEST_NAME}: {exc}", getattr(exc, "line", None))]
    digest = hashlib.sha256(raw).hexdigest()
    if not isinstance(data, dict):
        kind = "empty" if data is None else type(data).__name__
        return None, digest, [_manifest_finding("not-a-mapping", f"{MANIFEST_NAME} is {kind}, not a mapping")]
    try:  # the strict models accept a subset of what the schema accepts (tests/test_fuzz.py): valid here is valid
        return Manifest.model_validate(data), digest, []
    except pydantic.ValidationError as exc:
        first_error = exc.errors()[0]
    # Invalid: the schema's messages are the ones users can look up in schemas/manifest.schema.json.
    errors = sorted(map(schemas.innermost, schemas.validator("manifest").iter_errors(data)),
                    key=lambda e: list(e.absolute_path))  # fmt: skip
    if errors:
        findings = [
            _manifest_finding("schema-violation", f"{MANIFEST_NAME}: {_json_path(e.absolute_path)}: {e.message}",
                              yamlio.line_of(raw, e.absolute_path))
            for e in errors[:MAX_SCHEMA_ERRORS]
        ]
        return None, digest, findings
    loc, msg = _json_path(first_error["loc"]), first_error["msg"]  # the model is stricter than the schema here
    return None, digest, [_manifest_finding("schema-violation", f"{MANIFEST_NAME}: {loc}: {msg}",
                                            yamlio.line_of(raw, first_error["loc"]))]
