"""The built-in replay of a Hugging Face Trainer run (audit.frameworks.hf_replay): ``init`` then ``--replay
all`` resumes transformers' own Trainer from each checkpoint-N and reproduces the next one bit for bit, the
segment across the run's epoch boundary (steps 8 → 12, the second epoch from step 11) included; a one-ULP
edit is a mismatch naming the step and the tensor; a hostile pickle in the start checkpoint never
reaches the Trainer; without transformers the segment says what to install."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
from safetensors.torch import load_file, save_file

from audit.frameworks.hf_replay import NO_EPOCHS, TRANSFORMERS_MISSING, epoch_steps, step_log
from audit.init import init_release
from audit.readers.torch_pickle import load_weights_only
from audit.replay.compare import NO_FINGERPRINT
from conftest import audit, manifest, run_cli, write_manifest
from hf_run import BATCH, SEQUENCES, STEPS
from pickle_corpus import OsSystem

SEGMENTS = [(a, b) for a, b in zip(range(4, STEPS, 4), range(8, STEPS + 1, 4))]
EPOCH_STEPS = SEQUENCES // BATCH  # 10: steps 8 → 12 cross the run's epoch boundary
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


def test_the_run_crosses_an_epoch_boundary_that_moves_its_cpu_generator(hf_trained):
    """What the crossing segment has to reproduce: the Trainer's new DataLoader iterator at epoch 2 draws its
    base seed from the CPU generator (nothing else in this run does), and epoch 2 is a new permutation."""
    def rng(step):
        return load_weights_only(hf_trained / f"checkpoint-{step}" / "rng_state.pth", "rng", numpy_arrays=True)

    states = {step: json.loads((hf_trained / f"checkpoint-{step}" / "trainer_state.json").read_text()) for step in (4, 8, 12)}
    assert [states[s]["epoch"] for s in (4, 8, 12)] == [0.4, 0.8, 1.2]
    assert {epoch_steps(states[s]) for s in (4, 8, 12)} == {EPOCH_STEPS}
    assert torch.equal(rng(4)["cpu"], rng(8)["cpu"]) and not torch.equal(rng(8)["cpu"], rng(12)["cpu"])
    torch.set_rng_state(rng(8)["cpu"])
    torch.empty((), dtype=torch.int64).random_()  # the DataLoader iterator's _base_seed
    assert torch.equal(torch.get_rng_state(), rng(12)["cpu"])
    order = np.load(hf_trained / "data" / "global_indices.npy")
    assert sorted(order[:SEQUENCES]) == list(range(SEQUENCES))  # epoch 1: a permutation of the dataset
    assert list(order[SEQUENCES:]) != list(order[: len(order) - SEQUENCES])  # epoch 2 is another one


@pytest.mark.parametrize(("checkpoint", "segment"), [("checkpoint-8", (4, 8)), ("checkpoint-12", (8, 12))],
                         ids=["within-an-epoch", "across-the-epoch-boundary"])  # fmt: skip
def test_one_ulp_in_a_later_checkpoint_is_a_mismatch_naming_step_and_tensor(hf_release, checkpoint, segment):
    path, name = hf_release / checkpoint / "model.safetensors", "model.layers.1.mlp.up_proj.weight"
    tensors = load_file(path)
    flat = tensors[name].view(-1)
    flat[5] = torch.nextafter(flat[5], torch.tensor(math.inf))
    save_file(tensors, path, metadata={"format": "pt"})
    init_release(hf_release)
    segs = _segments(audit(hf_release, replay="all"))
    seg = segs[segment]
    assert seg.status == "mismatch" and seg.first_divergent_step == segment[1]  # the log agrees; the state does not
    assert seg.tensors[0].name == name and seg.max_ulp == 1 and seg.differing_elements == 1
    assert seg.tensors_differing == 1  # the weight alone: the epoch boundary's RNG draw is reproduced
    assert "reproduced all 4 logged steps bit for bit" in seg.reason
    if segment == (4, 8):
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


def test_a_second_epoch_declared_in_the_first_epochs_order_diverges_at_its_first_step(hf_release):
    """Epoch 2 released in epoch 1's order (as if the sampler drew one permutation for the whole run): the
    replay feeds what is declared, and the crossing segment diverges at step 11, the second epoch's first."""
    path = hf_release / "data" / "global_indices.npy"
    order = np.load(path)
    order[SEQUENCES:] = order[: len(order) - SEQUENCES]
    np.save(path, order)
    init_release(hf_release)
    segs = _segments(audit(hf_release, replay="all"))
    assert segs[(4, 8)].status == "bit-exact"
    seg = segs[(8, 12)]
    assert seg.status == "mismatch" and seg.first_divergent_step == EPOCH_STEPS + 1


def test_a_state_without_epochs_is_skipped_naming_it(hf_release):
    """Where the epoch boundaries cannot be placed the segment is skipped, never a false verdict."""
    target = hf_release / "checkpoint-4" / "trainer_state.json"
    state = json.loads(target.read_text())
    state["epoch"] = 0.3  # 4 steps are 0.4 of an epoch of 10: no whole number of steps per epoch fits both
    target.write_text(json.dumps(state))
    init_release(hf_release)
    seg = _segments(audit(hf_release, replay="1"))[(4, 8)]
    assert (seg.status, seg.reason) == ("skipped", f"checkpoint-4/trainer_state.json: {NO_EPOCHS}")


def test_epochs_ending_in_a_short_batch_are_skipped_naming_them(hf_release):
    """38 sequences in batches of 4 would make epochs of 10 steps whose last batch holds 2: the Trainer's
    epoch values cannot tell, the data can, and no step → data mapping of 4 a step describes such a run."""
    m = manifest(hf_release)
    m["data"]["chunks"][0]["sequences"] = 38
    write_manifest(hf_release, m)
    seg = _segments(audit(hf_release, replay="1"))[(4, 8)]
    assert seg.status == "skipped" and seg.reason.startswith("the released data's 38 sequences make epochs of 10 steps")


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


def test_steps_per_epoch_come_from_the_recorded_epochs():
    history = [{"step": s, "epoch": s / 10, "loss": 1.0} for s in range(1, 13)]
    assert epoch_steps({"global_step": 12, "epoch": 1.2, "log_history": history}) == 10
    assert epoch_steps({"global_step": 12, "epoch": 1.2, "log_history": [{"step": 1, "epoch": 0.125}]}) is None
    assert epoch_steps({"global_step": 12, "log_history": []}) is None
