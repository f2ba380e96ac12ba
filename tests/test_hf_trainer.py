"""Hugging Face Trainer output, from a real training run: ``llm360-audit init`` maps its checkpoint-N
folders to a manifest with no hand editing, and the audit finds every checkpoint, the optimizer, scheduler
and RNG states (pickles, opened only with torch.load(weights_only=True)) and the loss log; hostile and
corrupt pickles are findings, and no payload ever runs."""

from __future__ import annotations

import json
import os
import pickle
import shutil
from pathlib import Path

import pytest

from audit.init import init_release
from audit.readers.torch_pickle import torch_supported
from audit.spec.manifest_loader import load_manifest
from conftest import REPO, audit, finding_ids, manifest, run_cli, write_manifest
from hf_run import CHECKPOINTS, SEQUENCES, STEPS

PICKLED_STATE = ("optimizer.pt", "scheduler.pt", "rng_state.pth")


class Payload:
    """Unpickling this creates ``path``: proof that a pickle was loaded."""

    def __init__(self, path: Path):
        self.path = path

    def __reduce__(self):
        return (os.system, (f"touch {self.path}",))


@pytest.fixture(scope="module")
def report(hf_trained, tmp_path_factory):
    root = tmp_path_factory.mktemp("hf-audit") / "release"
    shutil.copytree(hf_trained, root)
    init_release(root)
    return audit(root)


def _log_history(root: Path, ck: str = "checkpoint-12") -> list[dict]:
    return json.loads((root / ck / "trainer_state.json").read_text())["log_history"]


def test_the_run_saved_what_the_trainer_saves(hf_trained):
    for ck in CHECKPOINTS:
        names = {p.name for p in (hf_trained / ck).iterdir()}
        assert {"model.safetensors", "trainer_state.json", "training_args.bin", *PICKLED_STATE} <= names, names


def test_init_maps_every_checkpoint_with_no_hand_editing(hf_trained, tmp_path):
    root = tmp_path / "r"
    shutil.copytree(hf_trained, root)
    result = init_release(root)
    m, _, problems = load_manifest(root)
    assert problems == [] and m is not None
    assert [(c.path, c.step) for c in m.checkpoints] == [(ck, int(ck.split("-")[1])) for ck in CHECKPOINTS]
    for ck in m.checkpoints:
        assert ck.state == ["weights", "optimizer", "scheduler", "rng", "data_cursor"]
        roles = {f.path.rsplit("/", 1)[1]: f.role for f in ck.files}
        assert roles["model.safetensors"] == "weights" and roles["optimizer.pt"] == "optimizer"
        assert roles["scheduler.pt"] == "scheduler" and roles["rng_state.pth"] == "rng"
        assert roles["trainer_state.json"] == "training-state" and roles["training_args.bin"] == "config"
    log = m.metrics.training_log
    assert (log.path, log.format) == ("checkpoint-12/trainer_state.json", "hf-trainer-state")
    # Hyperparameters from training_args.bin, read from the pickle's opcodes (never unpickled).
    t = m.config.training
    assert m.config.model == "checkpoint-12/config.json"
    assert (t.lr_schedule.name, t.lr_schedule.peak_lr, t.lr_schedule.warmup_steps, t.lr_schedule.total_steps) == (
        "hf-linear", 1e-3, 2, STEPS)
    assert (t.batch_size, t.precision, t.seed, t.grad_clip, t.sequence_length) == (4, "fp32", 0, 1.0, 15)
    assert (t.optimizer.betas, t.optimizer.eps, t.optimizer.weight_decay) == ([0.9, 0.999], 1e-8, 0.0)
    assert any("hyperparameters from checkpoint-12/training_args.bin" in c for c in result.notes)
    # The released data and the order the Trainer's sampler fed it (tests/hf_run.py records it).
    assert [(c.path, c.sequences) for c in m.data.chunks] == [("data/train.jsonl", SEQUENCES)]
    assert (m.data.order.within_chunk, m.data.order.global_indices.path) == ("global-indices", "data/global_indices.npy")
    assert m.data.format.tokens_per_sequence == 16  # hence sequence_length 15: inputs and shifted targets
    # A second run changes nothing.
    assert init_release(root).text == result.text


def test_audit_finds_checkpoints_optimizer_and_rng_states(report):
    ids = finding_ids(report)
    ev = report.criteria["model_checkpoints"].evidence
    assert (ev["checkpoints"], ev["first_step"], ev["last_step"]) == (3, 4, 12)
    assert ev["tensors_checked"] == 3 * 21  # embeddings, 2 × 9 per layer, final norm, lm_head
    opt = report.criteria["optimizer_checkpoints"]
    assert opt.evidence["checkpoints_with_optimizer"] == 3 and opt.evidence["exactly_resumable"] == 3
    assert opt.evidence["pickles_loaded_weights_only"] == 3 * len(PICKLED_STATE)
    assert opt.evidence["moment_tensors_checked"] == 3 * 2 * 21
    assert not ids & {"optimizer.not-released", "optimizer.not-resumable", "optimizer.state-not-found",
                      "optimizer.moments-missing", "optimizer.moment-shape", "optimizer.step-mismatch",
                      "optimizer.pickle-refused", "optimizer.pickle-unreadable", "optimizer.state-file-invalid",
                      "optimizer.pickle-unsafe", "checkpoints.pickle-unsafe", "checkpoints.undeclared-file"}
    # the Trainer's own pickles (state dicts, numpy RNG states, TrainingArguments) pass the static scan
    assert report.criteria["model_checkpoints"].evidence["pickles_scanned"] == 3 * (len(PICKLED_STATE) + 1)
    assert opt.status == "partial"  # warnings only: the state is pickled
    flagged = {f.path for f in report.findings if f.id == "optimizer.pickle"}
    assert flagged == {f"{ck}/{name}" for ck in CHECKPOINTS for name in PICKLED_STATE}
    args = {f.path for f in report.findings if f.id == "checkpoints.pickle"}
    assert args == {f"{ck}/training_args.bin" for ck in CHECKPOINTS}
    # a config, not a tensor file: what to publish instead is named as such (not "safetensors expected")
    assert all("not loaded" in f.message and "JSON, YAML or safetensors expected" in f.message
               for f in report.findings if f.id == "checkpoints.pickle")  # fmt: skip


def test_metrics_read_the_loss_of_every_logged_step(report, hf_trained):
    metrics = report.criteria["metrics"]
    assert metrics.evidence["steps_logged"] == metrics.evidence["steps_expected"] == STEPS
    logged = {e["step"]: e for e in _log_history(hf_trained) if "loss" in e}
    assert sorted(logged) == list(range(1, STEPS + 1))
    series = metrics.evidence["series"]
    assert series["loss"] == [[s, logged[s]["loss"]] for s in sorted(logged)]
    assert [s for s, _ in series["grad_norm"]] == sorted(logged)
    assert not finding_ids(report) & {"metrics.malformed", "metrics.steps-missing", "metrics.field-missing"}


def _declare_config(root: Path, schedule: str, peak_lr: float = 1e-3) -> None:
    m = manifest(root)
    m["config"] = {"model": "checkpoint-12/config.json", "training": {
        "optimizer": {"name": "adamw", "betas": [0.9, 0.999], "eps": 1e-8, "weight_decay": 0.0},
        "lr_schedule": {"name": schedule, "peak_lr": peak_lr, "warmup_steps": 2, "total_steps": STEPS},
        "batch_size": 4, "sequence_length": 16, "precision": "fp32"}}  # fmt: skip
    write_manifest(root, m)


def test_the_logged_learning_rate_follows_transformers_linear_schedule_exactly(hf_release):
    _declare_config(hf_release, "hf-linear")
    report = audit(hf_release)
    ids = finding_ids(report)
    assert "metrics.lr-schedule-mismatch" not in ids and "metrics.lr-schedule-not-compared" not in ids
    # With the config declared, the tensors are checked against it too.
    assert not ids & {"checkpoints.tensor-missing", "checkpoints.tensor-unexpected", "checkpoints.tensor-shape",
                      "checkpoints.tensor-dtype", "checkpoints.architecture-unknown", "config.checkpoint-config-mismatch"}
    assert report.criteria["config"].evidence["recorded_hyperparameters_compared"] == 3
    assert not [f for f in report.findings if f.criterion == "config" and f.severity != "info"]
    _declare_config(hf_release, "hf-linear", peak_lr=2e-3)
    report = audit(hf_release)
    assert "metrics.lr-schedule-mismatch" in finding_ids(report)
    lying = [f for f in report.findings if f.id == "config.recorded-mismatch"]
    # one finding per recorded value, at the first checkpoint that records it, counting the others
    assert [f.path for f in lying] == [f"{CHECKPOINTS[0]}/training_args.bin"]
    assert (f"{CHECKPOINTS[0]}/training_args.bin (and {len(CHECKPOINTS) - 1} other checkpoint file(s)) says "
            "lr_schedule.peak_lr 0.001; config.training.lr_schedule.peak_lr is 0.002") in lying[0].message


def test_a_schedule_in_another_step_convention_is_not_compared(hf_release):
    _declare_config(hf_release, "warmup-linear")  # counts from 1: one step ahead of transformers' linear schedule
    report = audit(hf_release)
    found = [f for f in report.findings if f.id == "metrics.lr-schedule-not-compared"]
    # a comparison that could not run: a warning, and the criterion does not pass on it
    assert len(found) == 1 and found[0].severity == "warning" and "warmup-linear" in found[0].message
    assert report.criteria["metrics"].status != "pass"
    assert "metrics.lr-schedule-mismatch" not in finding_ids(report)


@pytest.mark.parametrize("archive", [True, False], ids=["torch-save-zip", "raw-pickle"])
def test_malicious_optimizer_state_is_refused_and_never_runs(hf_release, tmp_path, archive):
    import torch

    marker = tmp_path / "pwned"
    target = hf_release / "checkpoint-8" / "optimizer.pt"
    if archive:
        torch.save({"state": Payload(marker), "param_groups": []}, target)
    else:
        target.write_bytes(pickle.dumps(Payload(marker), protocol=2))
    init_release(hf_release)  # the new hash: the file is the published one, and hostile
    report = audit(hf_release)
    assert not marker.exists(), "the payload ran"
    # its opcodes import os.system: it is never handed to torch.load, not even the weights-only loader
    refused = [f for f in report.findings if f.id == "optimizer.pickle-unsafe"]
    assert [f.path for f in refused] == ["checkpoint-8/optimizer.pt"]
    assert refused[0].severity == "error" and "posix.system" in refused[0].message
    assert "\n" not in refused[0].message
    assert report.criteria["optimizer_checkpoints"].status == "fail"
    assert "audit.internal-error" not in finding_ids(report)


def test_truncated_optimizer_state_is_a_finding_naming_it(hf_release):
    target = hf_release / "checkpoint-4" / "optimizer.pt"
    target.write_bytes(target.read_bytes()[: target.stat().st_size // 2])
    init_release(hf_release)
    report = audit(hf_release)
    found = [f for f in report.findings if f.id == "optimizer.pickle-unreadable"]
    assert [f.path for f in found] == ["checkpoint-4/optimizer.pt"]
    assert found[0].message.startswith("checkpoint-4/optimizer.pt: ") and "\n" not in found[0].message
    assert report.criteria["optimizer_checkpoints"].evidence["exactly_resumable"] == 2


def test_rng_state_without_the_numpy_generator_is_a_finding(hf_release):
    import torch

    target = hf_release / "checkpoint-12" / "rng_state.pth"
    torch.save({"python": None, "cpu": torch.random.get_rng_state()}, target)
    init_release(hf_release)
    report = audit(hf_release)
    found = [f for f in report.findings if f.id == "optimizer.state-file-invalid"]
    assert [(f.path, f.message) for f in found] == [
        ("checkpoint-12/rng_state.pth", "checkpoint-12/rng_state.pth: no python, numpy RNG state")]
    assert "optimizer.state-not-found" in finding_ids(report)  # the manifest declares rng for it


def test_corrupt_trainer_state_is_a_finding_naming_it(hf_release):
    (hf_release / "checkpoint-12" / "trainer_state.json").write_bytes(b'{"global_step": 12, "log_history": [')
    init_release(hf_release)
    report = audit(hf_release)
    malformed = [f for f in report.findings if f.id == "metrics.malformed"]
    assert [f.path for f in malformed] == ["checkpoint-12/trainer_state.json"]
    assert malformed[0].message.startswith("checkpoint-12/trainer_state.json: 1 problem(s) in log_history")
    invalid = [f.path for f in report.findings if f.id == "optimizer.training-state-invalid"]
    assert invalid == ["checkpoint-12/trainer_state.json"]
    assert "audit.internal-error" not in finding_ids(report)


def test_training_args_are_never_unpickled(hf_release, tmp_path):
    import torch

    marker = tmp_path / "pwned"
    torch.save(Payload(marker), hf_release / "checkpoint-4" / "training_args.bin")
    (hf_release / "checkpoint-8" / "training_args.bin").write_bytes(pickle.dumps(Payload(marker)))
    init_release(hf_release)
    report = audit(hf_release)
    assert not marker.exists(), "training_args.bin was unpickled"
    flagged = {f.path for f in report.findings if f.id == "checkpoints.pickle"}
    assert {"checkpoint-4/training_args.bin", "checkpoint-8/training_args.bin"} <= flagged
    assert "audit.internal-error" not in finding_ids(report)
    unreadable = {f.path: f.message for f in report.findings if f.id == "config.recorded-unreadable"}
    assert set(unreadable) == {"checkpoint-4/training_args.bin", "checkpoint-8/training_args.bin"}
    assert "system" in unreadable["checkpoint-8/training_args.bin"]  # the call it would have made, named, not made


def test_init_and_audit_through_the_cli(hf_trained, tmp_path):
    root = tmp_path / "rel"
    shutil.copytree(hf_trained, root)
    env = {"PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}
    init = run_cli("init", str(root), env=env)
    assert init.returncode == 0 and "Traceback" not in init.stdout + init.stderr, init.stderr
    r = run_cli(str(root), "--replay", "none", "--out", str(tmp_path / "o"), env=env)
    assert r.returncode == 1, r.stdout + r.stderr  # fails: no code or evaluations in a Trainer output
    assert "Traceback" not in r.stdout + r.stderr
    assert r.stderr.count("Data order: done") == 1, r.stderr  # the order test's progress line names itself
    rep = json.loads((tmp_path / "o" / "report.json").read_text())
    assert rep["criteria"]["optimizer_checkpoints"]["evidence"]["exactly_resumable"] == 3
    assert rep["criteria"]["metrics"]["evidence"]["steps_logged"] == STEPS


def test_only_torch_from_2_6_opens_pickles():
    assert [torch_supported(v) for v in ("2.5.1", "2.6.0+cpu", "2.13.0", "10.0", "1.13.1", "nightly")] == [
        False, True, True, True, False, False]
