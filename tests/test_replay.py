"""Replay on the real example release: bit-exact when untouched; tampering that hashes cannot see
(init refreshes the manifest after each) ends in `mismatch`, exit 1 and the first divergent step."""

from __future__ import annotations

import hashlib
import json
import math

import pytest
import torch
from safetensors.torch import load_file, save_file

from audit.readers import yamlio
from conftest import audit, manifest, read_jsonl, refresh, run_cli, write_jsonl, write_manifest


def tree_digest(root) -> str:
    h = hashlib.sha256()
    for p in sorted(root.rglob("*")):
        h.update(p.relative_to(root).as_posix().encode())
        if p.is_file():
            h.update(p.read_bytes())
    return h.hexdigest()


def segments(report) -> dict[tuple[int, int], object]:
    return {(s.start_step, s.end_step): s for s in report.replay.segments}


def test_every_segment_is_bit_exact_and_the_release_untouched(release):
    before = tree_digest(release)
    report = audit(release, replay="all")
    assert [(s.start_step, s.end_step, s.status) for s in report.replay.segments] == [
        (4 * i, 4 * i + 4, "bit-exact") for i in range(7)]
    assert all(s.tensors_compared == 63 and s.compared == ["log", "state"] for s in report.replay.segments)
    assert report.criteria["replay"].status == "pass" and report.level == "reproduced"
    assert report.replay.environment["torch_version"] == torch.__version__
    assert tree_digest(release) == before


def test_sample_is_seeded_and_includes_the_first_segment(release):
    a = [s.start_step for s in audit(release, replay="3", seed=1).replay.segments]
    b = [s.start_step for s in audit(release, replay="3", seed=1).replay.segments]
    assert a == b and a[0] == 0 and len(a) == 3


def test_replay_steps_compares_with_the_log_only(release):
    report = audit(release, replay="2", steps=2)
    assert [(s.end_step - s.start_step, s.compared, s.status) for s in report.replay.segments] == [
        (2, ["log"], "bit-exact")] * 2


def _cli_replay(release, tmp_path):
    r = run_cli(str(release), "--replay", "all", "--out", str(tmp_path / "out"), "-q")
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    return r.returncode, {(s["start_step"], s["end_step"]): s for s in report["replay"]["segments"]}


def _edit_tensor(path, name, fn):
    tensors = load_file(path)
    tensors[name] = fn(tensors[name].clone())
    save_file(tensors, path, metadata={"format": "pt"})


def test_one_ulp_in_a_later_checkpoint(release, tmp_path):
    def bump(t):
        flat = t.view(-1)
        flat[7] = torch.nextafter(flat[7], torch.tensor(math.inf))
        return t

    _edit_tensor(release / "checkpoints/step_000012/model.safetensors", "model.layers.1.mlp.up_proj.weight", bump)
    refresh(release)
    code, segs = _cli_replay(release, tmp_path)
    assert code == 1
    seg = segs[(8, 12)]
    assert seg["status"] == "mismatch" and seg["first_divergent_step"] == 12  # the log agrees; the state does not
    assert seg["max_ulp"] == 1 and seg["differing_elements"] == 1
    assert seg["tensors"][0]["name"] == "model.layers.1.mlp.up_proj.weight"
    assert segs[(12, 16)]["status"] == "mismatch"  # resuming from the altered weights diverges too
    assert {k: s["status"] for k, s in segs.items() if k not in [(8, 12), (12, 16)]} == {
        k: "bit-exact" for k in segs if k not in [(8, 12), (12, 16)]}


def test_one_token_changed_in_the_data(release, tmp_path):
    path = release / "data" / "train_002.jsonl"  # steps 9–12, 8 lines per step
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    rows[8 * 1 + 3]["token_ids"][10] = (rows[8 * 1 + 3]["token_ids"][10] + 1) % 256  # step 10
    path.write_text("".join(json.dumps(r, separators=(",", ":")) + "\n" for r in rows))
    refresh(release)
    code, segs = _cli_replay(release, tmp_path)
    assert code == 1
    assert segs[(8, 12)]["status"] == "mismatch" and segs[(8, 12)]["first_divergent_step"] == 10
    assert all(s["status"] == "bit-exact" for k, s in segs.items() if k != (8, 12))


def test_two_chunks_swapped(release, tmp_path):
    a, b = release / "data" / "train_002.jsonl", release / "data" / "train_003.jsonl"
    data_a, data_b = a.read_bytes(), b.read_bytes()
    a.write_bytes(data_b)
    b.write_bytes(data_a)
    refresh(release)
    code, segs = _cli_replay(release, tmp_path)
    assert code == 1
    assert segs[(8, 12)]["first_divergent_step"] == 9 and segs[(12, 16)]["first_divergent_step"] == 13


def test_adam_moment_changed(release, tmp_path):
    _edit_tensor(release / "checkpoints/step_000008/optimizer.safetensors", "exp_avg.model.norm.weight",
                 lambda t: t * 1.5)  # fmt: skip
    refresh(release)
    code, segs = _cli_replay(release, tmp_path)
    assert code == 1
    assert segs[(4, 8)]["status"] == "mismatch" and segs[(4, 8)]["first_divergent_step"] == 8
    assert segs[(4, 8)]["tensors"][0]["name"] == "exp_avg.model.norm.weight"
    # Resuming from the altered moment: step 9's loss is computed before the update, step 10's after.
    assert segs[(8, 12)]["status"] == "mismatch" and segs[(8, 12)]["first_divergent_step"] == 10


def test_learning_rate_changed_in_hyperparameters_and_config(release, tmp_path):
    import git

    repo = git.Repo.clone_from(str(release / "code" / "training-code.bundle"), tmp_path / "code")
    train_yaml = tmp_path / "code" / "configs" / "train.yaml"
    cfg = yamlio.loads(train_yaml.read_bytes())
    cfg["lr_schedule"]["peak_lr"] = 0.0031
    train_yaml.write_text(yamlio.dumps(cfg))
    repo.index.add(["configs/train.yaml"])
    commit = repo.index.commit("raise the learning rate").hexsha
    (release / "code" / "training-code.bundle").unlink()
    repo.git.bundle("create", str(release / "code" / "training-code.bundle"), "HEAD", "main")
    m = manifest(release)
    m["code"]["commit"] = commit
    m["config"]["training"]["lr_schedule"]["peak_lr"] = 0.0031
    write_manifest(release, m)
    refresh(release)
    code, segs = _cli_replay(release, tmp_path)
    assert code == 1
    assert all(s["status"] == "mismatch" for s in segs.values())
    assert segs[(0, 4)]["first_divergent_step"] == 1  # the logged learning rate of step 1 already differs
    report = audit(release)
    assert "metrics.lr-schedule-mismatch" in {f.id for f in report.findings}
    assert "config.hyperparameter-mismatch" not in {f.id for f in report.findings}  # manifest and commit agree


def test_missing_optimizer_state_skips_with_the_reason(release):
    m = manifest(release)
    for ck in m["checkpoints"]:
        ck["state"] = ["weights"]
    write_manifest(release, m)
    report = audit(release, replay="all")
    assert {s.status for s in report.replay.segments} == {"skipped"}
    assert report.replay.segments[2].reason == "optimizer state for step 8 not released"
    assert report.criteria["replay"].status == "skipped"
    assert not [f for f in report.findings if f.criterion == "replay" and f.severity != "info"]


def test_unknown_order_inside_chunks_skips(release):
    m = manifest(release)
    m["data"]["order"] = {"within_chunk": "unknown", "description": "permuted per restart"}
    write_manifest(release, m)
    seg = audit(release, replay="1").replay.segments[0]
    assert seg.status == "skipped" and "unknown (permuted per restart)" in seg.reason


def _set_environment(release, step, **fields):
    path = release / "checkpoints" / f"step_{step:06d}" / "training_state.json"
    state = json.loads(path.read_text())
    state["environment"] |= fields
    path.write_text(json.dumps(state, indent=2, sort_keys=True) + "\n")


def test_other_environment_bitwise_equal_is_still_bit_exact(release):
    _set_environment(release, 4, device_name="Another CPU", cpu_capability="SVE-test")
    refresh(release)
    seg = segments(audit(release, replay="1"))[(0, 4)]
    assert seg.status == "bit-exact"
    assert seg.environment_differences == ["cpu_capability", "device_name"]


def test_other_environment_small_difference_is_within_tolerance(release):
    _set_environment(release, 4, device_name="Another CPU")
    _edit_tensor(release / "checkpoints/step_000004/model.safetensors", "model.norm.weight",
                 lambda t: torch.nextafter(t, torch.full_like(t, math.inf)))  # fmt: skip
    refresh(release)
    report = audit(release, replay="1")
    seg = segments(report)[(0, 4)]
    assert seg.status == "within-tolerance" and seg.tolerance == 1e-3
    assert seg.max_ulp == 1 and seg.environment_differences == ["device_name"]
    assert report.criteria["replay"].status == "partial" and report.verdict == "pass"


def test_other_environment_large_difference_is_a_mismatch(release):
    _set_environment(release, 4, device_name="Another CPU")
    _edit_tensor(release / "checkpoints/step_000004/model.safetensors", "model.norm.weight", lambda t: t * 1.01)
    refresh(release)
    seg = segments(audit(release, replay="1"))[(0, 4)]
    assert seg.status == "mismatch" and seg.first_divergent_step == 4 and seg.tolerance == 1e-3


def test_same_environment_tiny_difference_is_a_mismatch(release):
    _edit_tensor(release / "checkpoints/step_000004/model.safetensors", "model.norm.weight",
                 lambda t: torch.nextafter(t, torch.full_like(t, math.inf)))  # fmt: skip
    refresh(release)
    seg = segments(audit(release, replay="1"))[(0, 4)]
    assert seg.status == "mismatch" and seg.environment_differences == [] and seg.tolerance is None


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_replay_of_cpu_release_is_honest(release):
    seg = segments(audit(release, replay="1", device="cuda"))[(0, 4)]
    assert "device_type" in seg.environment_differences
    assert seg.status in ("bit-exact", "within-tolerance")


def test_truncated_chunk_in_a_replayed_segment_is_an_error(release):
    path = release / "data" / "train_000.jsonl"
    path.write_text("".join(path.read_text().splitlines(keepends=True)[:20]))
    refresh(release)
    m = manifest(release)
    m["data"]["chunks"][0]["sequences"] = 32  # keep the order claim; the data cannot back it
    write_manifest(release, m)
    seg = segments(audit(release, replay="1"))[(0, 4)]
    assert seg.status == "error" and "train_000.jsonl: sequence 31 is asked for, but the file holds 20 sequences" in seg.reason


def test_state_that_cannot_be_compared_is_never_called_bit_exact(release):
    import pickle

    d = release / "checkpoints" / "step_000008"
    (d / "optimizer.safetensors").unlink()
    (d / "optimizer.pt").write_bytes(pickle.dumps({"exp_avg": [0.0]}))
    refresh(release)
    segs = segments(audit(release, replay="all"))
    seg = segs[(4, 8)]
    assert seg.status == "error" and seg.compared == ["log"]
    assert seg.reason.startswith("end state not compared: released optimizer.pt: not a readable torch.save file")
    assert seg.reason.endswith("; the step log was compared: 4 logged step(s), identical")  # kept, not thrown away
    assert segs[(8, 12)].status == "skipped"  # resuming needs optimizer.safetensors


def test_training_code_is_part_of_the_environment(release):
    from audit.trainer.environment import fingerprint, trainer_code_digest

    assert fingerprint()["trainer_code"] == trainer_code_digest()
    _set_environment(release, 4, trainer_code="0123456789abcdef")  # trained by another version of the code
    refresh(release)
    seg = segments(audit(release, replay="1"))[(0, 4)]
    assert seg.environment_differences == ["trainer_code"]
    assert seg.status == "bit-exact"  # the values still agree bitwise, and the report says what differed


def test_a_changed_log_value_is_named_with_both_values_and_its_line(release, tmp_path):
    log = release / "logs" / "train_log.jsonl"
    rows = read_jsonl(log)
    replayed_loss = rows[5]["loss"]  # step 6, line 6
    rows[5]["loss"] = replayed_loss + 1e-3
    write_jsonl(log, rows)
    refresh(release)
    seg = segments(audit(release, replay="all"))[(4, 8)]
    assert seg.status == "mismatch" and seg.first_divergent_step == 6
    assert (seg.first_divergent_field, seg.replayed_value, seg.released_value) == ("loss", replayed_loss, rows[5]["loss"])
    assert (seg.released_log_path, seg.released_log_line) == ("logs/train_log.jsonl", 6)
    assert f"loss {replayed_loss!r} replayed, {rows[5]['loss']!r} released (logs/train_log.jsonl line 6)" in seg.reason
    r = run_cli(str(release), "--replay", "all", "--no-cache", "--out", str(tmp_path / "out"))
    assert r.returncode == 1
    assert "logs/train_log.jsonl:6: error replay.mismatch: steps 4→8: mismatch, first divergent step 6" in r.stdout
    sarif = json.loads((tmp_path / "out" / "report.sarif").read_text())
    result = next(x for x in sarif["runs"][0]["results"] if x["ruleId"] == "replay.mismatch")
    location = result["locations"][0]["physicalLocation"]
    assert location["artifactLocation"]["uri"] == "logs/train_log.jsonl" and location["region"]["startLine"] == 6
