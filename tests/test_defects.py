"""The audit on the real example release: the clean release passes; each planted defect is caught
with the exact finding id and criterion, and nothing else fails."""

from __future__ import annotations

import json
import shutil
import struct

import git
import pytest

from conftest import audit, flip_tensor_byte, manifest, read_jsonl, refresh, write_jsonl, write_manifest


def errors(report) -> set[tuple[str, str]]:
    return {(f.id, f.criterion) for f in report.findings if f.severity == "error"}


def failing(report) -> set[str]:
    return {c for c, r in report.criteria.items() if r.status == "fail"}


def audit_with_log(release, change):
    """Rewrite the training log through ``change`` (edits the rows in place, or returns new ones),
    refresh the manifest, audit."""
    path = release / "logs" / "train_log.jsonl"
    rows = read_jsonl(path)
    changed = change(rows)
    write_jsonl(path, rows if changed is None else changed)
    refresh(release)
    return audit(release)


def test_clean_release_passes(release):
    report = audit(release)
    assert report.verdict == "pass", [f.message for f in report.findings]
    assert report.findings == []
    assert {c: r.status for c, r in report.criteria.items()} == {
        **{c: "pass" for c in report.criteria if c != "replay"}, "replay": "skipped"}  # --replay none
    assert report.level == "fully-open"
    ev = report.criteria
    assert ev["model_checkpoints"].evidence["checkpoints"] == 8
    # each file counts for the criterion of its role: weights and configs, optimizer and training state
    assert ev["model_checkpoints"].evidence["files_hashed"] == 16
    assert ev["optimizer_checkpoints"].evidence["files_hashed"] == 16
    assert ev["data_availability"].evidence["tokens_counted"] == 7 * 32 * 65
    assert ev["optimizer_checkpoints"].evidence["exactly_resumable"] == 8
    assert ev["metrics"].evidence["steps_logged"] == 28


def test_deleted_checkpoint(release):
    shutil.rmtree(release / "checkpoints" / "step_000012")
    report = audit(release)
    # the weights and the resume state are both gone: each criterion fails on its own evidence
    assert errors(report) == {("checkpoints.missing", "model_checkpoints"), ("optimizer.file-missing", "optimizer_checkpoints")}
    assert "step 12" in next(f.message for f in report.findings if f.id == "checkpoints.missing")
    gone = next(f.message for f in report.findings if f.id == "optimizer.file-missing")
    assert "step 12" in gone and "2 resume file(s) (optimizer, training-state)" in gone
    assert report.verdict == "fail"


def test_flipped_byte_in_tensor(release):
    path = release / "checkpoints" / "step_000016" / "model.safetensors"
    flip_tensor_byte(path, at=-100)  # inside the last tensor's data, header untouched
    report = audit(release)
    assert errors(report) == {("checkpoints.sha256-mismatch", "model_checkpoints")}
    assert next(f.path for f in report.findings) == "checkpoints/step_000016/model.safetensors"


def test_truncated_chunk(release):
    path = release / "data" / "train_003.jsonl"
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    report = audit(release)
    ids = errors(report)
    assert ("data.size-mismatch", "data_availability") in ids
    assert ("data.sha256-mismatch", "data_availability") not in ids  # the size says it: one finding per file
    assert ("data.sequence-count-mismatch", "data_availability") in ids
    assert failing(report) == {"data_availability"}


def test_wrong_token_count(release):
    m = manifest(release)
    m["data"]["chunks"][2]["tokens"] += 1
    write_manifest(release, m)
    report = audit(release)
    assert errors(report) == {("data.token-count-mismatch", "data_availability")}
    assert "data/train_002.jsonl holds 2080 tokens, manifest says 2081" in report.findings[0].message


def test_mixture_that_does_not_add_up(release):
    m = manifest(release)
    m["data"]["mixture"]["prose"] += 1000
    write_manifest(release, m)
    assert errors(audit(release)) == {("data_mix.mixture-mismatch", "data_mix")}


def test_hyperparameter_differs_from_config_at_commit(release):
    m = manifest(release)
    m["config"]["training"]["optimizer"]["betas"] = [0.9, 0.99]
    write_manifest(release, m)
    report = audit(release)
    # the manifest disagrees with the code at the commit and with what every checkpoint recorded
    assert errors(report) == {("config.hyperparameter-mismatch", "config"), ("config.recorded-mismatch", "config")}
    msg = report.findings[0].message
    assert "optimizer.betas" in msg and "[0.9, 0.99]" in msg and "[0.9, 0.95]" in msg


def _code_as_directory(release) -> git.Repo:
    """Replace the bundle with a clone (a working tree) so that local edits are possible."""
    repo = git.Repo.clone_from(str(release / "code" / "training-code.bundle"), release / "code" / "repo")
    m = manifest(release)
    m["code"]["repo"] = "code/repo"
    write_manifest(release, m)
    (release / "code" / "training-code.bundle").unlink()
    return repo


def test_code_as_directory_passes(release):
    _code_as_directory(release)
    refresh(release)  # the clone's files are not checkpoint or data files: init must not invent any
    report = audit(release)
    assert report.verdict == "pass", [f.message for f in report.findings]
    assert report.criteria["code"].evidence["working_tree"] == "clean"


def test_uncommitted_edit_in_code_repo(release):
    repo = _code_as_directory(release)
    (release / "code" / "repo" / "train.py").write_text("# edited after the commit\n")
    report = audit(release)
    assert errors(report) == {("code.dirty-tree", "code")}
    assert "train.py" in report.findings[0].message
    repo.close()


def test_commit_not_in_repository(release):
    m = manifest(release)
    m["code"]["commit"] = "0" * 40
    write_manifest(release, m)
    assert ("code.commit-missing", "code") in errors(audit(release))


def test_missing_evaluation(release):
    path = release / "evals" / "evaluations.jsonl"
    write_jsonl(path, [r for r in read_jsonl(path) if not (r["step"] == 20 and r["task"] == "heldout_code")])
    refresh(release)
    report = audit(release)
    assert errors(report) == {("metrics.evaluation-missing", "metrics")}
    assert "step 20" in report.findings[0].message and "heldout_code" in report.findings[0].message


def test_nan_in_training_log(release):
    report = audit_with_log(release, lambda rows: rows[9].update(loss=float("nan")))
    assert errors(report) == {("metrics.non-finite", "metrics")}
    assert "loss at step 10" in report.findings[0].message


def test_learning_rate_off_schedule(release):
    report = audit_with_log(release, lambda rows: rows[6].update(learning_rate=rows[6]["learning_rate"] * 1.01))
    assert errors(report) == {("metrics.lr-schedule-mismatch", "metrics")}
    assert "step 7" in report.findings[0].message


def test_missing_log_steps(release):
    report = audit_with_log(release, lambda rows: rows[:20])
    assert errors(report) == {("metrics.steps-missing", "metrics")}
    assert "8 of steps 1–28" in report.findings[0].message


def test_garbled_safetensors_header(release):
    path = release / "checkpoints" / "step_000008" / "model.safetensors"
    data = bytearray(path.read_bytes())
    (n,) = struct.unpack("<Q", data[:8])
    data[8 : 8 + n] = b"{" + b"x" * (n - 1)  # same length, not JSON
    path.write_bytes(bytes(data))
    refresh(release)  # even with fresh hashes the header is caught
    report = audit(release)
    assert ("checkpoints.header-invalid", "model_checkpoints") in errors(report)
    assert all(f.path == "checkpoints/step_000008/model.safetensors" for f in report.findings if f.severity == "error")


def test_tensor_shape_against_config(release):
    cfg = json.loads((release / "config.json").read_text())
    cfg["intermediate_size"] = 80
    for p in [release / "config.json", *release.glob("checkpoints/*/config.json")]:
        p.write_text(json.dumps(cfg, indent=2, sort_keys=True) + "\n")
    refresh(release)
    report = audit(release)
    assert ("checkpoints.tensor-shape", "model_checkpoints") in errors(report)
    assert ("config.model-config-mismatch", "config") in errors(report)  # differs from configs/model.json at the commit


def test_token_out_of_vocabulary(release):
    path = release / "data" / "train_001.jsonl"
    rows = read_jsonl(path)
    rows[3]["token_ids"][5] = 300
    path.write_text("".join(json.dumps(r, separators=(",", ":")) + "\n" for r in rows))
    refresh(release)
    assert errors(audit(release)) == {("data.token-out-of-vocab", "data_availability")}


def test_optimizer_state_removed(release):
    (release / "checkpoints" / "step_000008" / "optimizer.safetensors").unlink()
    m = manifest(release)
    m["checkpoints"][2]["state"].remove("optimizer")
    write_manifest(release, m)
    refresh(release)
    report = audit(release)
    assert errors(report) == {("optimizer.not-released", "optimizer_checkpoints")}
    assert "step(s) 8" in report.findings[0].message
    assert report.level == "open-training"


def test_rng_state_missing_is_not_resumable(release):
    path = release / "checkpoints" / "step_000004" / "training_state.json"
    state = json.loads(path.read_text())
    del state["rng"]
    path.write_text(json.dumps(state))
    m = manifest(release)
    m["checkpoints"][1]["state"].remove("rng")
    write_manifest(release, m)
    refresh(release)
    report = audit(release)
    assert not errors(report)
    warning = next(f for f in report.findings if f.id == "optimizer.not-resumable")
    assert "not exactly resumable, because the RNG states are not released" in warning.message
    assert report.criteria["optimizer_checkpoints"].status == "partial"


def test_step_order_and_token_consistency(release):
    m = manifest(release)
    m["checkpoints"][3]["tokens"] = 1
    m["checkpoints"][4]["step"], m["checkpoints"][5]["step"] = m["checkpoints"][5]["step"], m["checkpoints"][4]["step"]
    write_manifest(release, m)
    ids = {i for i, _ in errors(audit(release))}
    assert {"checkpoints.step-order", "checkpoints.tokens-inconsistent"} <= ids


@pytest.mark.parametrize("where", ["first", "last"])
def test_data_order_gap(release, where):
    m = manifest(release)
    chunk = m["data"]["chunks"][0 if where == "first" else -1]
    chunk["last_step"] -= 1
    write_manifest(release, m)
    report = audit(release)
    assert errors(report) == {("data_order.incomplete", "data_order")}


def test_data_order_overlap_names_the_steps(release):
    m = manifest(release)
    m["data"]["chunks"][1]["first_step"] -= 2  # steps 3 and 4 now come from two chunks
    write_manifest(release, m)
    report = audit(release)
    # ... and the widened chunk no longer holds enough sequences for its 6 steps, and the checkpoint at
    # step 4 saved a data cursor where the map no longer starts step 5
    assert errors(report) == {("data_order.incomplete", "data_order"), ("data_order.chunk-too-short", "data_order"),
                              ("data_order.cursor-mismatch", "data_order")}
    assert "2 step(s) are fed by more than one chunk: 3, 4" in {f.message for f in report.findings}


def test_data_sample_recounts_a_seeded_fraction(release):
    from audit.core.auditor import Auditor
    from audit.core.options import AuditOptions, ScopeOptions
    from audit.checks.data_availability import DataAvailabilityCheck
    from audit.replay import ReplayOptions

    picked = sorted(DataAvailabilityCheck(0.3, seed=5)._sampled(7))
    assert picked == sorted(DataAvailabilityCheck(0.3, seed=5)._sampled(7)) and len(picked) == 2
    skipped = next(i for i in range(7) if i not in picked)
    m = manifest(release)
    m["data"]["chunks"][skipped]["tokens"] += 1  # a wrong count in a chunk the sample leaves out
    write_manifest(release, m)
    options = AuditOptions(replay=ReplayOptions(mode="none"), scope=ScopeOptions(data_sample=0.3, data_sample_seed=5))
    report = Auditor().audit(release, options)
    assert report.verdict == "pass"  # ... is not seen, and the report says the data was sampled
    assert report.scope.data_sample == 0.3 and report.scope.data_sample_seed == 5
    assert report.criteria["data_availability"].evidence["sample"] == {"fraction": 0.3, "seed": 5, "chunks_recounted": 2}
    assert "sample of 2 chunks" in report.criteria["data_availability"].summary
    m["data"]["chunks"][skipped]["tokens"] -= 1
    m["data"]["chunks"][picked[0]]["tokens"] += 1  # in a sampled chunk it is caught
    write_manifest(release, m)
    assert errors(Auditor().audit(release, options)) == {("data.token-count-mismatch", "data_availability")}
