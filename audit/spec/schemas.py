"""The versioned JSON Schemas in schemas/: generated from the pydantic models, shipped in the wheel.

``python -m audit.spec.schemas --write`` regenerates them; ``tests/test_schemas.py`` fails on drift.
"""

from __future__ import annotations

import json
import sys
from functools import cache
from pathlib import Path
from typing import Any

from audit import SPEC_VERSION
from audit.spec.analysis import MemorizationStudy
from audit.spec.manifest import Manifest
from audit.spec.report import Report

SCHEMAS = {
    "manifest": (Manifest, "validation", "LLM360 release manifest (llm360.yaml)"),
    "report": (Report, "serialization", "llm360-audit report (report.json)"),
    "memorization": (MemorizationStudy, "serialization",
                     "llm360-audit memorization study (analyze --memorization: memorization.json)"),
}


def schema_dir() -> Path:
    """schemas/ inside the installed wheel, else the source checkout's top-level schemas/."""
    package = Path(__file__).resolve().parent.parent  # audit/
    for candidate in (package / "schemas", package.parent / "schemas"):
        if (candidate / "manifest.schema.json").is_file():
            return candidate
    raise FileNotFoundError("schemas/ not found next to the audit package")


def generate(kind: str) -> dict[str, Any]:
    model, mode, title = SCHEMAS[kind]
    body = model.model_json_schema(mode=mode)
    body.pop("title", None)
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": f"https://llm360-audit.dev/schemas/{kind}-{SPEC_VERSION}.schema.json",
        "title": title,
        "x-spec-version": SPEC_VERSION,
        **body,
    }


def render(kind: str) -> str:
    return json.dumps(generate(kind), indent=2, sort_keys=True) + "\n"


@cache
def load(kind: str) -> dict[str, Any]:
    return json.loads((schema_dir() / f"{kind}.schema.json").read_text())


@cache
def validator(kind: str):
    """A jsonschema Draft 2020-12 validator (jsonschema imported only here: an audit of a valid manifest never
    needs it)."""
    import jsonschema

    return jsonschema.Draft202012Validator(load(kind))


def innermost(error):
    """The error that says what is wrong: through ``anyOf``/``oneOf`` (every optional field is "X or null"), the
    deepest error of the branches other than ``null`` — "['a.py'] is not of type 'string'" at the field, not
    "{…the whole mapping…} is not valid under any of the given schemas"."""
    while error.context:
        branches = [e for e in error.context if not (e.validator == "type" and e.validator_value == "null")]
        error = max(branches or error.context, key=lambda e: len(e.absolute_path))
    return error


def main(argv: list[str]) -> int:
    target = Path(__file__).resolve().parents[2] / "schemas"  # the source checkout's top-level schemas/
    if argv != ["--write"]:
        print("usage: python -m audit.spec.schemas --write", file=sys.stderr)
        return 2
    for kind in SCHEMAS:
        (target / f"{kind}.schema.json").write_text(render(kind))
        print(f"wrote {target / f'{kind}.schema.json'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
