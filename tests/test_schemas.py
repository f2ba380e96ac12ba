"""The JSON Schemas in schemas/ and the pydantic models are the same spec; manifests validate."""

from __future__ import annotations

import json
from pathlib import Path

import pydantic
import pytest

from audit import SPEC_VERSION
from audit.spec import schemas
from audit.readers import yamlio
from audit.spec.manifest import Manifest
from audit.spec.report import Report

REPO = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize("kind", sorted(schemas.SCHEMAS))
def test_committed_schema_equals_models(kind):
    committed = json.loads((REPO / "schemas" / f"{kind}.schema.json").read_text())
    assert committed == schemas.generate(kind), (
        f"schemas/{kind}.schema.json and the pydantic models differ: run `python -m audit.spec.schemas --write`"
    )
    assert committed["x-spec-version"] == SPEC_VERSION


def test_schema_dir_is_found():
    assert (schemas.schema_dir() / "report.schema.json").is_file()


@pytest.mark.parametrize("path", ["examples/amber-manifest.yaml", "examples/tiny-release/llm360.yaml"])
def test_shipped_manifests_validate(path):
    data = yamlio.loads((REPO / path).read_bytes())
    assert list(schemas.validator("manifest").iter_errors(data)) == []
    Manifest.model_validate(data)


def test_amber_manifest_states_the_published_facts():
    m = Manifest.model_validate(yamlio.loads((REPO / "examples/amber-manifest.yaml").read_bytes()))
    assert len(m.checkpoints) == 360 and len(m.data.chunks) == 360
    assert all(c.state == ["weights"] for c in m.checkpoints)
    assert m.checkpoints[0].revision == "ckpt_000" and m.checkpoints[-1].revision == "ckpt_359"
    assert m.data.chunks[-1].last_step == m.checkpoints[-1].step == 360 * 762
    assert m.data.format.tokens_per_sequence == 2049
    assert m.config.training.batch_size == 2240 and m.config.training.lr_schedule.warmup_steps == 2000
    assert m.data.order.within_chunk == "unknown"
    # The published per-source figures add up to 1259.11 B; the published total (1259.13 B) is rounded apart.
    assert round(sum(m.data.mixture.values()) / 1e9, 2) == 1259.11


BAD_MANIFESTS = [
    {"spec_version": "1.0"},  # no name
    {"spec_version": "0.9", "name": "x"},
    {"spec_version": "1.0", "name": "x", "unknown_key": 1},
    {"spec_version": "1.0", "name": "x", "checkpoints": [{"step": -1, "state": ["weights"]}]},
    {"spec_version": "1.0", "name": "x", "checkpoints": [{"step": 1, "state": ["everything"]}]},
    {"spec_version": "1.0", "name": "x", "code": {"repo": "r", "commit": "abc", "entrypoint": "t.py"}},
    {"spec_version": "1.0", "name": "x", "data": {"order": {"within_chunk": "random"}}},
    {"spec_version": "1.0", "name": "x", "data": {"order": {"within_chunk": "sequential"},
                                                 "chunks": [{"path": "c", "sha256": "XYZ"}]}},
]  # fmt: skip


@pytest.mark.parametrize("bad", BAD_MANIFESTS)
def test_schema_and_models_reject_the_same_manifests(bad):
    assert list(schemas.validator("manifest").iter_errors(bad))
    with pytest.raises(pydantic.ValidationError):
        Manifest.model_validate(bad)


def test_report_of_example_validates(built_release):
    from conftest import audit

    report = audit(built_release)
    data = json.loads(report.model_dump_json())
    assert list(schemas.validator("report").iter_errors(data)) == []
    assert Report.from_json(data) == report


def test_yaml_reads_exponent_floats_and_refuses_alias_bombs():
    assert yamlio.loads("eps: 1e-8\nlr: 3E-4\nn: 10\n") == {"eps": 1e-8, "lr": 3e-4, "n": 10}
    bomb = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"{c}: &{c} [*{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}]\n" for p, c in zip("abcdefgh", "bcdefghi"))
    with pytest.raises(yamlio.YamlError, match="aliases"):
        yamlio.loads(bomb)
