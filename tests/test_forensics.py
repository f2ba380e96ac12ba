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
from audit.forensics.continuity import adam_ratio_bound
from audit.forensics.tamper import foreign_checkpoint, substitute_chunk, swap_chunks
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


def test_adams_update_never_exceeds_the_ratio_bound():
    """torch's Adam on gradients built to push |m̂|/sqrt(v̂) up (one sign, shrinking magnitudes)."""
    torch = pytest.importorskip("torch")
    assert adam_ratio_bound(1, 0.9, 0.95) == 1.0 and 1.16 < adam_ratio_bound(10_000, 0.9, 0.95) < 1.17
    p = torch.nn.Parameter(torch.zeros(4, dtype=torch.float64))
    opt = torch.optim.Adam([p], lr=1.0, betas=(0.9, 0.95), eps=0.0)
    worst = 0.0
    for t in range(1, 60):
        before = p.detach().clone()
        p.grad = torch.tensor([1.0, 0.8**t, 0.5**t, (-1.0) ** t], dtype=torch.float64)
        opt.step()
        ratio = ((p.detach() - before).abs() / adam_ratio_bound(t, 0.9, 0.95)).max().item()
        assert ratio <= 1 + 1e-12, (t, ratio)
        worst = max(worst, ratio)
    assert worst > 0.9  # shrinking gradients come close to it


def test_heatmap_shades_escapes_and_marks_missing_cells():
    from audit.render.svg import heatmap

    svg = heatmap(["0", "<b>"], ["g0", "g1"], {(0, 0): 0.0, (0, 1): 1.0, (1, 0): float("nan")}, title="T & U")
    assert "<b>" not in svg and "&lt;b&gt;" in svg and 'aria-label="T &amp; U"' in svg
    assert 'fill="#eff6ff"' in svg and 'fill="#1d4ed8"' in svg  # lowest and highest shades
    assert svg.count('fill="#f1f5f9"') == 2  # the NaN cell and the missing one


def test_the_step_bound_by_hand():
    torch = pytest.importorskip("torch")
    from audit.forensics.continuity import step_bound, why_not
    from audit.spec.manifest import TrainingHyperparameters

    h = TrainingHyperparameters.model_validate({
        "optimizer": {"name": "adamw", "betas": [0.9, 0.95], "weight_decay": 0.0},
        "lr_schedule": {"name": "constant", "peak_lr": 1e-3, "total_steps": 10}, "batch_size": 1, "precision": "fp32"})  # fmt: skip
    assert why_not(h) is None
    before, after = {"w": torch.zeros(4), "empty": torch.zeros(0)}, {"w": torch.tensor([1e-3, -2e-3, 2.1e-3, 0.0]),
                                                                      "empty": torch.zeros(0)}  # fmt: skip
    b = step_bound(h, 0, 2, before, after)  # M = 1e-3 × (B_1 + B_2) = 2.0e-3 (B_2 = 1.0004)
    assert b.parameters == 4 and b.share_over == 0.25 and 1.04 < b.max_ratio < 1.06
    assert why_not(h.model_copy(update={"optimizer": h.optimizer.model_copy(update={"name": "sgd"})})).startswith("optimizer 'sgd'")


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
    assert f["forward_passes"] > 2 * 7 * 64 and f["wall_s"] > 0
    assert all(s["fired"] == [] and s["step_bound_ratio"] <= 1 for s in f["segments"])  # measured 0.84 – 0.99
    assert all(s["declared_drop"] > s["control_drop"] for s in f["segments"])
    assert len(f["palimpsest"]["points"]) == f["palimpsest"]["sequences"]
    md = (tmp_path / "out" / "report.md").read_text()
    assert "Weights-only tests" in md and "| step | group 0 |" in md and "sequence forward passes" in md
    html = (tmp_path / "out" / "report.html").read_text()
    section = html[html.index('<section id="forensics"') :]
    section = section[: section.index("</section>")]
    for title in ("Loss drop c → c+1: declared vs control sequences", "Palimpsest at step 28", "Token match",
                  "Full match"):  # fmt: skip
        assert f'aria-label="{title}"' in section
    assert section.count("<circle") >= f["palimpsest"]["sequences"]  # one dot per sampled sequence


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


def test_a_differently_seeded_runs_checkpoint_is_inconsistent(fixture, tmp_path):
    """Same data, same order, another initialisation: its last steps saw the declared sequences, so the
    loss drops pass; its weights are further from checkpoint 12 (and 20) than Adam can move them."""
    root = tmp_path / "foreign"
    shutil.copytree(fixture, root)
    foreign_checkpoint(root, 16, seed=777)
    manifest, _, _ = load_manifest(root)
    release = Release(root=root, manifest=manifest, manifest_sha256="")
    pairs = segments(manifest)
    into, out_of = (order_test(release, *pairs[i], 28, OrderTestOptions(sample=16, control_sample=64), i) for i in (3, 4))
    assert (into.verdict, out_of.verdict) == ("inconsistent", "inconsistent")
    assert into.fired == out_of.fired == ["step-bound"]  # the loss drops alone: consistent (A 0.79, 0.68)
    assert into.step_bound_ratio > 3 and out_of.step_bound_share > 0.3  # measured 6.4 and 0.74
    clean = order_test(Release(root=fixture, manifest=load_manifest(fixture)[0], manifest_sha256=""),
                       *segments(load_manifest(fixture)[0])[3], 28, OrderTestOptions(sample=16, control_sample=64), 3)
    assert clean.fired == [] and clean.step_bound_share == 0 and clean.step_bound_ratio <= 1  # measured 0.86


def test_analyze_memorization_writes_the_table_and_heatmaps(fixture, tmp_path):
    out = tmp_path / "study"
    r = run_cli("analyze", str(fixture), "--memorization", "--sample", "3", "--groups", "3", "--steps", "0,28",
                "--out", str(out), "-q")  # fmt: skip
    assert r.returncode == 0, r.stderr
    study = json.loads((out / "memorization.json").read_text())
    assert (study["k"], study["l"], study["final_step"]) == (32, 32, 28)
    assert [(g["first_step"], g["last_step"]) for g in study["groups"]] == [(1, 12), (13, 24), (25, 28)]
    assert {(row["step"], row["chunk_group"]) for row in study["rows"]} == {(s, g) for s in (0, 28) for g in range(3)}
    assert all(0 <= row["full_match"] <= row["token_match"] <= 1 and row["sequences"] == 3 for row in study["rows"])
    assert study["forward_passes"] == 32 * 3 * 3 * 2 and study["trend_p"] is not None
    jsonschema.validate(study, json.loads((REPO / "schemas" / "memorization.schema.json").read_text()))
    md = (out / "memorization.md").read_text()
    assert "| step | group 0 | group 1 | group 2 |" in md and "At the final checkpoint (step 28)" in md
    svg = (out / "memorization.svg").read_text()
    assert svg.startswith('<svg xmlns="http://www.w3.org/2000/svg"') and svg.count("<rect") >= 1 + 2 * 3


def test_analyze_errors_are_one_line(fixture, tmp_path):
    r = run_cli("analyze", str(fixture), "--out", str(tmp_path / "a"))
    assert r.returncode == 2 and "choose a study: --memorization" in r.stderr
    empty = tmp_path / "empty"
    empty.mkdir()
    r = run_cli("analyze", str(empty), "--memorization", "--out", str(tmp_path / "b"))
    assert r.returncode == 2 and "llm360.yaml not found" in r.stderr and "Traceback" not in r.stderr
    r = run_cli("analyze", str(fixture), "--memorization", "--steps", "5", "--out", str(tmp_path / "c"))
    assert r.returncode == 2 and "no checkpoint to study at steps 5" in r.stderr


def test_the_default_order_tests_the_weights_only_segments_the_replay_selected(fixture, tmp_path):
    out = tmp_path / "out"
    r = run_cli(str(fixture), "--no-cache", "--select", "data_order", "--out", str(out), "-q")
    assert r.returncode == 0 and "Traceback" not in r.stderr, r.stderr
    report = json.loads((out / "report.json").read_text())
    replay = {(s["start_step"], s["status"]) for s in report["replay"]["segments"]}
    tested = {s["start_step"] for s in report["forensics"]["segments"]}
    assert len(tested) == 2 and {(s, "skipped") for s in tested} == replay  # --replay's default sample: 2 segments
    assert all(s["verdict"] == "consistent" for s in report["forensics"]["segments"])
    assert report["forensics"]["palimpsest"] is None and report["forensics"]["memorization"] is None


def _train_neox(fixture, root, seed: int, until: int = 28) -> None:
    """A 2-layer, 64-wide GPT-NeoX trained for real with torch's AdamW on the fixture's data, in its order and
    with its declared hyperparameters; its weights-only checkpoints (transformers' layout: config.json and
    model.safetensors) written over ``root``'s up to step ``until``."""
    transformers = pytest.importorskip("transformers")
    import safetensors.torch
    import torch

    from audit.replay.data import step_batches
    from audit.spec.schedule import lr_at

    release = Release(root=fixture, manifest=load_manifest(fixture)[0], manifest_sha256="")
    h = release.manifest.config.training
    config = transformers.GPTNeoXConfig(vocab_size=256, hidden_size=64, num_hidden_layers=2, num_attention_heads=4,
                                        intermediate_size=128, max_position_embeddings=64, rotary_pct=0.25)  # fmt: skip
    torch.manual_seed(seed)
    model = transformers.GPTNeoXForCausalLM(config)
    opt = torch.optim.AdamW(model.parameters(), lr=0.0, betas=tuple(h.optimizer.betas), eps=h.optimizer.eps,
                            weight_decay=h.optimizer.weight_decay)  # fmt: skip
    s = h.lr_schedule

    def save(step: int) -> None:
        ck = root / "checkpoints" / f"step_{step:06d}"
        safetensors.torch.save_file({k: v.contiguous() for k, v in model.state_dict().items()}, ck / "model.safetensors")
        (ck / "config.json").write_text(config.to_json_string())

    save(0)
    for step, batch in enumerate(step_batches(release, 1, until), start=1):
        for group in opt.param_groups:
            group["lr"] = lr_at(step, schedule=s.name, peak_lr=s.peak_lr, final_lr=s.final_lr,
                                warmup_steps=s.warmup_steps, total_steps=s.total_steps)  # fmt: skip
        ids = torch.tensor(batch)
        model(input_ids=ids, labels=ids).loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), h.grad_clip)
        opt.step()
        opt.zero_grad()
        if step % 4 == 0:
            save(step)
    (root / "config.json").write_text(config.to_json_string())


def test_a_gpt_neox_release_through_transformers(fixture, tmp_path):
    """Another architecture (Pythia's) through transformers: consistent, within the step-size bound, and a
    checkpoint of another seed's run over it."""
    root = tmp_path / "neox"
    shutil.copytree(fixture, root)
    _train_neox(fixture, root, seed=1)
    other = tmp_path / "other"
    shutil.copytree(fixture, other)
    _train_neox(fixture, other, seed=2, until=16)
    shutil.copyfile(other / "checkpoints/step_000016/model.safetensors", root / "checkpoints/step_000016/model.safetensors")
    from audit.init import init_release

    init_release(root)
    manifest = load_manifest(root)[0]
    release = Release(root=root, manifest=manifest, manifest_sha256="")
    pairs = segments(manifest)
    opts = OrderTestOptions(sample=32, control_sample=128)
    clean, into, out_of = (order_test(release, *pairs[i], 28, opts, i) for i in (1, 3, 4))
    assert clean.verdict == "consistent" and clean.fired == [] and clean.step_bound_ratio <= 1, clean
    assert (into.verdict, out_of.verdict) == ("inconsistent", "inconsistent")
    assert "step-bound" in into.fired and "step-bound" in out_of.fired


def test_weights_released_as_torch_save_pickles_are_tested_alike(fixture, tmp_path):
    """pytorch_model.bin instead of model.safetensors (as many weights-only releases publish): statically scanned,
    opened weights-only, and the segment's figures are those of the safetensors copy."""
    import torch
    from safetensors.torch import load_file

    from audit.init import init_release

    root = tmp_path / "pickled"
    shutil.copytree(fixture, root)
    for st in sorted(root.glob("checkpoints/step_*/model.safetensors")):
        torch.save(load_file(st), st.with_name("pytorch_model.bin"))
        st.unlink()
    init_release(root)
    manifest = load_manifest(root)[0]
    assert all(any(f.path.endswith("pytorch_model.bin") for f in ck.files) for ck in manifest.checkpoints)
    opts = OrderTestOptions(sample=16, control_sample=64)
    pickled = order_test(Release(root=root, manifest=manifest, manifest_sha256=""), *segments(manifest)[3], 28, opts, 3)
    same = load_manifest(fixture)[0]
    clean = order_test(Release(root=fixture, manifest=same, manifest_sha256=""), *segments(same)[3], 28, opts, 3)
    assert (pickled.verdict, pickled.p_value, pickled.effect) == (clean.verdict, clean.p_value, clean.effect)
    assert pickled.verdict == "consistent"
