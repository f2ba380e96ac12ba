"""The built-in replay of a Hugging Face Trainer run (audit.frameworks.hf_replay): ``init`` then ``--replay
all`` resumes transformers' own Trainer from each checkpoint-N and reproduces the next one bit for bit; a
one-ULP edit is a mismatch naming the step and the tensor; a hostile pickle in the start checkpoint never
reaches the Trainer; without transformers the segment says what to install."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
from safetensors.torch import load_file, save_file

from audit.frameworks.hf_replay import TRANSFORMERS_MISSING, step_log
from audit.init import init_release
from audit.replay.compare import NO_FINGERPRINT
from conftest import audit, run_cli
from hf_run import STEPS
from pickle_corpus import OsSystem

SEGMENTS = [(a, b) for a, b in zip(range(4, STEPS, 4), range(8, STEPS + 1, 4))]
#: per checkpoint: 21 weights, 2 × 21 AdamW moments and 21 step counters, the CPU RNG state
TENSORS = 21 + 3 * 21 + 1


def _segments(report) -> dict:
    return {(s.start_step, s.end_step): s for s in report.replay.segments}


def test_init_then_replay_all_is_bit_exact_and_quiet(hf_release, tmp_path):
    before = {p: p.stat().st_mtime_ns for p in hf_release.rglob("*")}
    r = run_cli(str(hf_release), "--replay", "all", "--out", str(tmp_path / "o"))
    console = r.stdout + r.stderr
    assert r.returncode == 1, console  # no code or evaluations in a Trainer output: the audit fails on those
    assert "Traceback" not in console and "'loss'" not in console and "it/s" not in console, console[-2000:]
    rep = json.loads((tmp_path / "o" / "report.json").read_text())
    segs = {(s["start_step"], s["end_step"]): s for s in rep["replay"]["segments"]}
    assert sorted(segs) == SEGMENTS
    for seg in segs.values():
        assert seg["status"] == "bit-exact", seg
        assert seg["engine"] == "builtin" and seg["compared"] == ["log", "state"]
        assert seg["tensors_compared"] == TENSORS and seg["tensors_differing"] == 0
        # trainer_state.json records no environment: bit-exact because every value is equal, not assumed
        assert seg["environment_differences"] == [NO_FINGERPRINT]
    env = rep["replay"]["environment"]
    assert env["framework"] == "transformers" and env["device"] == "cpu" and env["dtype"] == "float32"
    assert env["torch_version"] == torch.__version__
    assert rep["criteria"]["replay"]["status"] == "pass"
    assert {p: p.stat().st_mtime_ns for p in hf_release.rglob("*")} == before  # the Trainer wrote nothing there


def test_one_ulp_in_a_later_checkpoint_is_a_mismatch_naming_step_and_tensor(hf_release):
    path, name = hf_release / "checkpoint-8" / "model.safetensors", "model.layers.1.mlp.up_proj.weight"
    tensors = load_file(path)
    flat = tensors[name].view(-1)
    flat[5] = torch.nextafter(flat[5], torch.tensor(math.inf))
    save_file(tensors, path, metadata={"format": "pt"})
    init_release(hf_release)
    segs = _segments(audit(hf_release, replay="all"))
    seg = segs[(4, 8)]
    assert seg.status == "mismatch" and seg.first_divergent_step == 8  # the log agrees; the state does not
    assert seg.tensors[0].name == name and seg.max_ulp == 1 and seg.differing_elements == 1
    assert "reproduced all 4 logged steps bit for bit" in seg.reason
    assert segs[(8, 12)].status != "bit-exact"  # resuming from the altered weights


def test_the_replay_feeds_the_declared_order_not_the_trainers_own(hf_release):
    """The step → data mapping is what is audited: swap one sequence of step 6 with one of step 7 in the
    released order, and the replay diverges at step 6 (the Trainer's sampler would have hidden it)."""
    path = hf_release / "data" / "global_indices.npy"
    order = np.load(path)
    order[[5 * 4, 6 * 4]] = order[[6 * 4, 5 * 4]]
    np.save(path, order)
    init_release(hf_release)
    seg = _segments(audit(hf_release, replay="1"))[(4, 8)]
    assert seg.status == "mismatch" and seg.first_divergent_step == 6


def test_a_hostile_optimizer_state_never_reaches_the_trainer(hf_release, tmp_path):
    marker = tmp_path / "pwned"
    torch.save({"state": OsSystem(f"touch {marker}"), "param_groups": []}, hf_release / "checkpoint-4" / "optimizer.pt")
    init_release(hf_release)  # the new hash: the file is the published one, and hostile
    report = audit(hf_release, replay="1")
    seg = _segments(report)[(4, 8)]
    assert not marker.exists(), "the payload ran"
    assert seg.status == "error" and seg.reason.startswith("checkpoint-4/optimizer.pt: a pickle that would import")
    assert "posix.system" in seg.reason and "the Trainer is not given it" in seg.reason


def test_a_truncated_rng_state_is_an_error_naming_it(hf_release):
    target = hf_release / "checkpoint-4" / "rng_state.pth"
    target.write_bytes(target.read_bytes()[:300])
    init_release(hf_release)
    seg = _segments(audit(hf_release, replay="1"))[(4, 8)]
    assert seg.status == "error" and seg.reason.startswith("checkpoint-4/rng_state.pth: ")
    assert "\n" not in seg.reason


def test_a_model_transformers_does_not_know_is_skipped_naming_the_config(hf_release):
    config = hf_release / "checkpoint-4" / "config.json"
    config.write_text(json.dumps(json.loads(config.read_text()) | {"model_type": "no-such-model"}))
    init_release(hf_release)
    seg = _segments(audit(hf_release, replay="1"))[(4, 8)]
    assert seg.status == "skipped"
    assert seg.reason == "checkpoint-4/config.json: model_type 'no-such-model' is not a causal-LM model transformers knows"


def test_without_transformers_the_segment_says_what_to_install(hf_release, tmp_path):
    r = run_cli(str(hf_release), "--replay", "all", "--no-hash", "--out", str(tmp_path / "o"), "-q",
                prelude="import sys; sys.modules['transformers'] = None")  # import transformers → ImportError
    assert "Traceback" not in r.stdout + r.stderr, r.stderr
    segs = json.loads((tmp_path / "o" / "report.json").read_text())["replay"]["segments"]
    assert [(s["status"], s["reason"]) for s in segs] == [("skipped", TRANSFORMERS_MISSING)] * len(SEGMENTS)


def test_the_replayed_log_compares_like_with_like():
    """HF's logged loss is the mean over the logging interval: an interval the replay saw only in part (a
    segment starting between logging steps) keeps its learning rate and gradient norm, not its loss."""
    history = [{"step": s, "loss": 1.0 / s, "learning_rate": 0.1 * s, "grad_norm": 2.0 * s, "epoch": 0.1} for s in (6, 9, 12)]
    history.append({"step": 12, "train_loss": 0.3, "train_runtime": 1.0})  # the end-of-training summary
    rows = step_log(history, start=4, every=3)
    assert rows == [{"step": 6, "learning_rate": 0.6000000000000001, "grad_norm": 12.0},
                    {"step": 9, "loss": 1 / 9, "learning_rate": 0.9, "grad_norm": 18.0},
                    {"step": 12, "loss": 1 / 12, "learning_rate": 1.2000000000000002, "grad_norm": 24.0}]  # fmt: skip
    assert [r["step"] for r in step_log(history, start=6, every=3)] == [9, 12]
