"""Weights-only evidence (issue 13): the rank tests, and the order test through the CLI on a weights-only
fixture trained here (audit.example.build.FORENSICS, measured in BENCHMARKS.md "Order test")."""

from __future__ import annotations

import json
import math
import shutil

import jsonschema
import pytest

from audit.core.release import Release
from audit.example.build import FORENSICS, build_example
from audit.forensics.options import OrderTestOptions
from audit.forensics.order import decide, order_test
from audit.forensics.stats import mann_whitney, spearman, u_power
from audit.forensics.tamper import substitute_chunk, swap_chunks
from audit.replay.plan import segments
from audit.spec.manifest_loader import load_manifest
from conftest import REPO, run_cli


def test_mann_whitney_by_hand():
    t = mann_whitney([4.0, 5.0, 6.0], [1.0, 2.0, 3.0])
    assert (t.u, t.effect) == (9.0, 1.0) and t.p_greater < 0.05 < t.p_less
    tied = mann_whitney([1.0, 2.0, 2.0], [2.0, 3.0])  # ties count one half
    assert tied.u == 1.0
    same = mann_whitney([1.0] * 4, [1.0] * 4)
    assert same.p_greater == same.p_less == 1.0 and same.effect == 0.5


def test_spearman_by_hand():
    assert spearman([1, 2, 3, 4], [10, 20, 30, 40]).rho == 1.0
    r = spearman([1, 2, 3, 4, 5, 6], [2, 1, 4, 3, 6, 5])
    assert math.isclose(r.rho, 0.8285714285714286) and 0 < r.p_greater < 0.05
    assert math.isclose(r.p_two_sided, 2 * r.p_greater)


def test_rank_tests_match_scipy():
    stats = pytest.importorskip("scipy.stats")
    x, y = [0.3, 1.2, 0.8, 2.5, 0.8, 1.9, 3.1], [0.1, 0.8, 0.5, 0.2, 1.0, 0.05]
    ours, ref = mann_whitney(x, y), stats.mannwhitneyu(x, y, alternative="greater", method="asymptotic")
    assert math.isclose(ours.p_greater, ref.pvalue, rel_tol=1e-9) and ours.u == ref.statistic
    rho = spearman(x, x[::-1][: len(x)])
    ref = stats.spearmanr(x, x[::-1])
    assert math.isclose(rho.rho, ref.statistic) and math.isclose(rho.p_two_sided, ref.pvalue, rel_tol=1e-6)


def test_the_decision_rule():
    opts = OrderTestOptions()
    assert decide(0.001, 0.9, 0.70, 0.04, 64, 256, opts)[0] == "consistent"
    assert decide(0.3, 0.7, 0.52, 0.04, 64, 256, opts)[0] == "inconsistent"  # 0.52 + 2.33 × 0.04 < 0.65
    assert decide(0.03, 0.97, 0.58, 0.04, 64, 256, opts)[0] == "inconclusive"
    assert decide(0.99, 0.005, 0.60, 0.04, 64, 256, opts)[0] == "inconsistent"  # drops significantly smaller
    assert 0.9 < u_power(0.65, 64, 256, 0.01) < 0.95


@pytest.fixture(scope="module")
def fixture(tmp_path_factory):
    root = tmp_path_factory.mktemp("forensics") / "release"
    build_example(root, variant=FORENSICS)
    return root


def _audit(root, out, *extra):
    r = run_cli(str(root), "--order-test", "all", "--replay", "none", "--no-cache", "--select", "data_order",
                "--out", str(out), "-q", *extra)  # fmt: skip
    assert "Traceback" not in r.stderr, r.stderr
    return r.returncode, json.loads((out / "report.json").read_text())


@pytest.mark.slow
def test_clean_weights_only_release_is_consistent(fixture, tmp_path):
    code, report = _audit(fixture, tmp_path / "out")
    f = report["forensics"]
    assert code == 0, report["findings"]
    assert [(s["start_step"], s["verdict"]) for s in f["segments"]] == [(s, "consistent") for s in range(0, 28, 4)]
    assert max(s["p_value"] for s in f["segments"]) < 1e-4  # measured ≤ 8.3e-7 over 20 seeds (BENCHMARKS.md)
    assert min(s["effect"] for s in f["segments"]) > 0.68
    assert f["palimpsest"]["checkpoint_step"] == 28 and f["memorization"]["k"] == 32
    assert {r["step"] for r in f["memorization"]["rows"]} == set(range(0, 29, 4))
    schema = json.loads((REPO / "schemas" / "report.schema.json").read_text())
    jsonschema.validate(report, schema)
    assert "Weights-only tests" in (tmp_path / "out" / "report.md").read_text()
    assert 'id="forensics"' in (tmp_path / "out" / "report.html").read_text()


@pytest.mark.slow
def test_swapped_chunks_are_inconsistent(fixture, tmp_path):
    root = tmp_path / "swapped"
    shutil.copytree(fixture, root)
    swap_chunks(root, 2, 5)
    code, report = _audit(root, tmp_path / "out")
    verdicts = {s["start_step"]: s["verdict"] for s in report["forensics"]["segments"]}
    assert code == 1
    assert verdicts[8] == verdicts[20] == "inconsistent"
    assert all(v == "consistent" for s, v in verdicts.items() if s not in (8, 20))
    messages = [f["message"] for f in report["findings"] if f["id"] == "data_order.order-inconsistent"]
    assert len(messages) == 2 and messages[0].startswith("steps 8→12: ") and "effect A = " in messages[0]


def test_substituted_chunk_is_inconsistent(fixture, tmp_path):
    root = tmp_path / "substituted"
    shutil.copytree(fixture, root)
    substitute_chunk(root, 3)
    manifest, _, _ = load_manifest(root)
    release = Release(root=root, manifest=manifest, manifest_sha256="")
    start, end = segments(manifest)[3]
    result = order_test(release, start, end, 28, OrderTestOptions(), 3)
    assert (result.start_step, result.verdict) == (12, "inconsistent")
    assert result.upper_bound < 0.6 and result.p_value > 0.5  # seed 0: A 0.43, upper bound 0.55, p 0.91


def test_an_unreadable_checkpoint_is_inconclusive_not_a_traceback(fixture, tmp_path):
    root = tmp_path / "broken"
    shutil.copytree(fixture, root)
    (root / "checkpoints" / "step_000004" / "model.safetensors").write_bytes(b"\x08\x00\x00\x00\x00\x00\x00\x00{}")
    code, report = _audit(root, tmp_path / "out", "--order-test", "1")
    segs = report["forensics"]["segments"]
    assert code == 0 and [s["verdict"] for s in segs] == ["inconclusive"]
    (msg,) = [f["message"] for f in report["findings"] if f["id"] == "data_order.order-inconclusive"]
    assert msg.startswith("steps 0→4: ") and "checkpoints/step_000004/model.safetensors" in msg
