"""Rules about the manifest itself (``llm360.yaml``): found, readable, YAML, a mapping, valid."""

from __future__ import annotations

from audit.spec.names import MANIFEST_NAME
from audit.spec.rules.registry import CheckInfo, Rule

REMEDIATION = (
    f"Write {MANIFEST_NAME} at the release root (`llm360-audit init RELEASE` drafts it) and make it "
    "validate against schemas/manifest.schema.json."
)
MISSING = Rule("manifest.missing", "error", REMEDIATION)
UNREADABLE = Rule("manifest.unreadable", "error", REMEDIATION)
YAML_INVALID = Rule("manifest.yaml-invalid", "error", REMEDIATION)
NOT_A_MAPPING = Rule("manifest.not-a-mapping", "error", REMEDIATION)
SCHEMA = Rule("manifest.schema-violation", "error", REMEDIATION)

CHECK = CheckInfo(id="manifest", criterion="manifest", title="Release manifest",
                  rationale="The manifest must exist and follow the spec.",
                  rules=(MISSING, UNREADABLE, YAML_INVALID, NOT_A_MAPPING, SCHEMA))  # fmt: skip
