"""Truthful verdicts: each defect a careful reviewer plants is found through the CLI — with the exact
finding id and criterion, the level and the exit code — whether or not `init` ran afterwards."""

from __future__ import annotations

import json
import os
import pickle
import shutil
from pathlib import Path

import git
import pytest
import yaml

from conftest import manifest, run_cli, write_manifest

MARKER = Path("/tmp/llm360-audit-truthful-pwned")
CK12 = "checkpoints/step_000012"


class Payload:
    """Unpickling this creates MARKER."""

    def __reduce__(self):
        return (os.system, (f"touch {MARKER}",))


def _audit(release: Path, tmp_path: Path, *, init: bool = False) -> tuple[int, dict]:
    """(exit code, report.json) of a structural audit through the CLI, after `init` when asked."""
    if init:
        r = run_cli("init", str(release), "-q")
        assert r.returncode == 0, r.stdout + r.stderr
    out = tmp_path / f"out-{init}"
    r = run_cli(str(release), "--replay", "none", "--out", str(out), "-q")
    assert "Traceback" not in r.stdout + r.stderr and r.returncode in (0, 1), r.stdout + r.stderr
    return r.returncode, json.loads((out / "report.json").read_text())


def _errors(report: dict) -> set[tuple[str, str]]:
    return {(f["id"], f["criterion"]) for f in report["findings"] if f["severity"] == "error"}


def _warnings(report: dict) -> set[tuple[str, str]]:
    return {(f["id"], f["criterion"]) for f in report["findings"] if f["severity"] == "warning"}


def _state(release: Path, step: int) -> tuple[Path, dict]:
    path = release / f"checkpoints/step_{step:06d}/training_state.json"
    return path, json.loads(path.read_text())


def test_the_clean_example_passes_with_no_warning(release, tmp_path):
    code, report = _audit(release, tmp_path)
    assert (code, report["verdict"], report["level"]) == (0, "pass", "fully-open")
    assert report["findings"] == []


@pytest.mark.parametrize("init", [False, True], ids=["as-is", "after-init"])
def test_all_optimizer_files_deleted_fail_optimizer_checkpoints_only(release, tmp_path, init):
    for p in release.glob("checkpoints/*/optimizer.safetensors"):
        p.unlink()
    code, report = _audit(release, tmp_path, init=init)
    want = ("optimizer.not-released" if init else "optimizer.file-missing", "optimizer_checkpoints")
    assert _errors(report) == {want}
    assert report["criteria"]["optimizer_checkpoints"]["status"] == "fail"
    assert report["criteria"]["model_checkpoints"]["status"] == "pass"  # every weight is there
    assert (code, report["level"]) == (1, "open-training")


def test_one_optimizer_file_deleted_fails_its_criterion(release, tmp_path):
    (release / CK12 / "optimizer.safetensors").unlink()
    code, report = _audit(release, tmp_path)
    assert _errors(report) == {("optimizer.file-missing", "optimizer_checkpoints")}
    missing = [f for f in report["findings"] if f["id"] == "optimizer.file-missing"]
    assert [f["path"] for f in missing] == [f"{CK12}/optimizer.safetensors"]
    assert (code, report["level"]) == (1, "open-training")


@pytest.mark.parametrize("init", [False, True], ids=["as-is", "after-init"])
def test_an_edited_data_cursor_contradicts_the_step_to_chunk_map(release, tmp_path, init):
    path, state = _state(release, 12)
    state["data_cursor"] = {"chunk": "data/train_002.jsonl", "sequence": 24, "sequences_consumed": 88}
    path.write_text(json.dumps(state))
    code, report = _audit(release, tmp_path, init=init)
    want = {("data_order.cursor-mismatch", "data_order")}
    if not init:
        want.add(("optimizer.size-mismatch", "optimizer_checkpoints"))  # the state file was edited
    assert _errors(report) == want
    msg = next(f["message"] for f in report["findings"] if f["id"] == "data_order.cursor-mismatch")
    assert msg == (f"{CK12}/training_state.json: data cursor at data/train_002.jsonl sequence 24 (88 consumed); "
                   "the step → chunk map puts step 13 at data/train_003.jsonl sequence 0 (96 consumed: 12 × 8)")
    assert (code, report["level"]) == (1, "open-training")


@pytest.mark.parametrize("init", [False, True], ids=["as-is", "after-init"])
def test_a_recorded_peak_lr_differing_from_the_declared_one(release, tmp_path, init):
    path, state = _state(release, 12)
    state["scheduler"]["peak_lr"] = state["train_config"]["peak_lr"] = 0.00375
    path.write_text(json.dumps(state))
    code, report = _audit(release, tmp_path, init=init)
    assert ("config.recorded-mismatch", "config") in _errors(report)
    said = [f["message"] for f in report["findings"] if f["id"] == "config.recorded-mismatch"]
    # one finding per recorded value (the scheduler's record says the same as the train config's)
    assert said == [f"{CK12}/training_state.json (train_config) says lr_schedule.peak_lr 0.00375; "
                    "config.training.lr_schedule.peak_lr is 0.003"]
    assert code == 1 and report["criteria"]["config"]["status"] == "fail" and report["level"] == "closed"


def test_manifest_and_code_repinned_but_the_checkpoints_trained_otherwise(release, tmp_path):
    """Weight decay 0.2 in the manifest and in a new commit of the code; every checkpoint says 0.1."""
    repo = git.Repo.clone_from(str(release / "code" / "training-code.bundle"), release / "code" / "repo")
    train = Path(repo.working_tree_dir) / "configs" / "train.yaml"
    cfg = yaml.safe_load(train.read_text())
    cfg["optimizer"]["weight_decay"] = 0.2
    train.write_text(yaml.safe_dump(cfg))
    repo.index.add(["configs/train.yaml"])
    commit = repo.index.commit("weight decay 0.2", author=git.Actor("a", "a@b"), committer=git.Actor("a", "a@b"))
    (release / "code" / "training-code.bundle").unlink()
    m = manifest(release)
    m["code"].update(repo="code/repo", commit=commit.hexsha)
    m["config"]["training"]["optimizer"]["weight_decay"] = 0.2
    write_manifest(release, m)
    code, report = _audit(release, tmp_path)
    assert _errors(report) == {("config.recorded-mismatch", "config")}
    msgs = {f["message"] for f in report["findings"] if f["id"] == "config.recorded-mismatch"}
    assert ("checkpoints/step_000000/training_state.json (train_config) (and 7 other checkpoint file(s)) says "
            "optimizer.weight_decay 0.1; config.training.optimizer.weight_decay is 0.2") in msgs
    assert (code, report["level"]) == (1, "closed")


@pytest.mark.parametrize("init", [False, True], ids=["as-is", "after-init"])
def test_undeclared_files_in_a_checkpoint_are_listed_and_a_hostile_pickle_is_an_error(release, tmp_path, init):
    import torch

    MARKER.unlink(missing_ok=True)
    d = release / CK12
    (d / "pytorch_model.bin").write_bytes(pickle.dumps(Payload(), protocol=2))
    torch.save({"python": 1, "cpu_rng_state": torch.get_rng_state()}, d / "rng_state.pth")
    (d / "NOTES.txt").write_text("trained on a Tuesday\n")
    code, report = _audit(release, tmp_path, init=init)
    hostile = [f for f in report["findings"] if f["id"] == "checkpoints.pickle-unsafe"]
    assert [(f["path"], f["criterion"], f["severity"]) for f in hostile] == [
        (f"{CK12}/pytorch_model.bin", "model_checkpoints", "error")]
    assert "posix.system" in hostile[0]["message"] or "os.system" in hostile[0]["message"]
    undeclared = {f["path"] for f in report["findings"] if f["id"] == "checkpoints.undeclared-file"}
    assert undeclared == (set() if init else {f"{CK12}/{n}" for n in ("pytorch_model.bin", "rng_state.pth", "NOTES.txt")})
    assert code == 1 and report["verdict"] == "fail"
    assert not MARKER.exists(), "a payload ran"


def test_a_comparison_that_could_not_run_is_a_warning_named_in_the_summary(release, tmp_path):
    m = manifest(release)
    m["code"]["commit"] = "0" * 40
    write_manifest(release, m)
    code, report = _audit(release, tmp_path)
    assert ("code.commit-missing", "code") in _errors(report)
    assert _warnings(report) >= {("config.not-compared", "config")}
    summary = report["criteria"]["config"]["summary"]
    assert report["criteria"]["config"]["status"] == "partial"
    assert "not compared: configs/train.yaml at 000000000000 — commit missing" in summary or any(
        f["message"] == "not compared: configs/train.yaml at 000000000000 — commit missing" for f in report["findings"])
    assert code == 1


@pytest.mark.parametrize("init", [False, True], ids=["as-is", "after-init"])
def test_a_checkpoint_declaring_another_checkpoints_weights(release, tmp_path, init):
    (release / CK12 / "model.safetensors").unlink()
    m = manifest(release)
    ck8, ck12 = (next(c for c in m["checkpoints"] if c["step"] == s) for s in (8, 12))
    w8 = next(f for f in ck8["files"] if f["role"] == "weights")
    ck12["files"] = [dict(w8) if f["role"] == "weights" else f for f in ck12["files"]]
    write_manifest(release, m)
    if init:  # init looks in the directory: no weights, no checkpoint — the manifest stops claiming one
        code, report = _audit(release, tmp_path, init=True)
        assert 12 not in [c["step"] for c in manifest(release)["checkpoints"]]
        assert (code, report["level"]) == (0, "fully-open")
        return
    else:
        code, report = _audit(release, tmp_path)
        assert _errors(report) == {("checkpoints.file-shared", "model_checkpoints")}
        f = next(f for f in report["findings"] if f["id"] == "checkpoints.file-shared")
        assert f["message"] == ("checkpoint at step 12 declares checkpoints/step_000008/model.safetensors, which the "
                                "checkpoint at step 8 declares too")
    assert (code, report["level"]) == (1, "closed")


def test_a_recorded_step_or_token_count_differing_from_the_manifest(release, tmp_path):
    m = manifest(release)
    ck = next(c for c in m["checkpoints"] if c["step"] == 12)
    path, state = _state(release, 12)
    state["tokens_seen"] = 6000
    path.write_text(json.dumps(state))
    ck["files"] = [{**f, "sha256": None, "size": None} if f["role"] == "training-state" else f for f in ck["files"]]
    for f in ck["files"]:
        if f["sha256"] is None:
            del f["sha256"], f["size"]
    write_manifest(release, m)
    code, report = _audit(release, tmp_path)
    assert ("checkpoints.recorded-tokens-mismatch", "model_checkpoints") in _errors(report)
    msg = next(f["message"] for f in report["findings"] if f["id"] == "checkpoints.recorded-tokens-mismatch")
    assert msg == f"{CK12}/training_state.json records 6000 tokens seen; the manifest declares 6144 for step 12"
    assert code == 1


def test_a_relabelled_checkpoint_is_caught_by_its_recorded_step(release, tmp_path):
    """The directory of step 12 declared as step 13 (tokens made consistent): its own state says 12."""
    m = manifest(release)
    ck = next(c for c in m["checkpoints"] if c["step"] == 12)
    ck.update(step=13, tokens=13 * 8 * 64)
    write_manifest(release, m)
    shutil.rmtree(tmp_path / "unused", ignore_errors=True)
    code, report = _audit(release, tmp_path)
    assert ("checkpoints.recorded-step-mismatch", "model_checkpoints") in _errors(report)
    msg = next(f["message"] for f in report["findings"] if f["id"] == "checkpoints.recorded-step-mismatch")
    assert msg == f"{CK12}/training_state.json records step 12; the manifest declares step 13"
    assert code == 1 and report["level"] == "closed"


def test_what_follows_from_a_deleted_checkpoint_is_grouped_under_it(release, tmp_path):
    shutil.rmtree(release / CK12)
    out = tmp_path / "o"
    r = run_cli(str(release), "--replay", "all", "--replay-steps", "1", "--out", str(out))
    assert r.returncode == 1, r.stdout + r.stderr
    report = json.loads((out / "report.json").read_text())
    causes = {(f["id"], (f["cause"] or {}).get("id")) for f in report["findings"]}
    assert ("checkpoints.missing", None) in causes  # the root cause
    assert {("optimizer.file-missing", "checkpoints.missing"), ("replay.segment-skipped", "checkpoints.missing")} <= causes
    skipped = [f for f in report["findings"] if f["id"] == "replay.segment-skipped"]
    assert [f["message"].split(":")[0] for f in skipped] == ["steps 8→12", "steps 12→16"]
    lines = r.stdout.splitlines()
    root = next(i for i, line in enumerate(lines) if "error checkpoints.missing:" in line)
    also = [line for line in lines[root + 1:root + 6] if line.startswith("  also: ")]
    assert [a.split(":")[1].strip() for a in also] == ["optimizer.file-missing", "replay.segment-skipped",
                                                       "replay.segment-skipped"]
    assert sum("checkpoints.missing" in line for line in lines) == 1 and not any(
        line.startswith(f"{CK12}: error optimizer.file-missing") for line in lines)  # not listed twice


def test_undeclared_files_beside_the_code_bundle_and_in_the_data_and_logs(release, tmp_path):
    (release / "code" / "patch.diff").write_text("--- a\n+++ b\n")
    (release / "data" / "train_007.jsonl").write_text('{"token_ids": [1, 2], "source": "prose"}\n')
    (release / "logs" / "eval_log.jsonl").write_text("{}\n")
    code, report = _audit(release, tmp_path)
    listed = {(f["id"], f["criterion"], f["path"]) for f in report["findings"] if f["id"].endswith(".undeclared-file")}
    assert listed == {("code.undeclared-file", "code", "code/patch.diff"),
                      ("data.undeclared-file", "data_availability", "data/train_007.jsonl"),
                      ("metrics.undeclared-file", "metrics", "logs/eval_log.jsonl")}
    assert all(f["severity"] == "warning" for f in report["findings"] if f["id"].endswith(".undeclared-file"))
    assert code == 0 and report["level"] == "open-weights"  # warnings: code, data and metrics do not pass on them


def test_jsonl_data_and_log_findings_carry_their_line(release, tmp_path):
    chunk = release / "data" / "train_003.jsonl"
    lines = chunk.read_text().splitlines(keepends=True)
    lines[4] = '{"token_ids": "oops", "source": "prose"}\n'
    chunk.write_text("".join(lines))
    log = release / "logs" / "train_log.jsonl"
    rows = log.read_text().splitlines(keepends=True)
    rows[6] = rows[6].replace('"loss": ', '"loss": NaN, "was": ', 1)
    log.write_text("".join(rows))
    out = tmp_path / "o"
    r = run_cli(str(release), "--replay", "none", "--out", str(out))
    report = json.loads((out / "report.json").read_text())
    at = {f["id"]: (f["path"], f["line"]) for f in report["findings"]}
    assert at["data.malformed-line"] == ("data/train_003.jsonl", 5)
    assert at["metrics.non-finite"] == ("logs/train_log.jsonl", 7)
    assert any(line.startswith("data/train_003.jsonl:5: error data.malformed-line:") for line in r.stdout.splitlines())
    assert any(line.startswith("logs/train_log.jsonl:7: error metrics.non-finite:") for line in r.stdout.splitlines())
