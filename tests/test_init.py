"""`llm360-audit init`: drafts a manifest from the files, refreshes facts, keeps what a human wrote."""

from __future__ import annotations

import json

from audit.init import Change, Dropped, init_release
from conftest import audit, finding_ids, manifest, read_jsonl, write_jsonl, write_manifest


def test_init_from_scratch_finds_everything(release):
    (release / "llm360.yaml").unlink()
    result = init_release(release)
    m = manifest(release)
    assert [c["step"] for c in m["checkpoints"]] == [0, 4, 8, 12, 16, 20, 24, 28]
    assert m["checkpoints"][1]["tokens"] == 4 * 8 * 64
    assert m["checkpoints"][1]["state"] == ["weights", "optimizer", "scheduler", "rng", "data_cursor"]
    assert {f["role"] for f in m["checkpoints"][0]["files"]} == {"config", "weights", "optimizer", "training-state"}
    assert [c["path"] for c in m["data"]["chunks"]] == [f"data/train_{i:03d}.jsonl" for i in range(7)]
    assert [(c["first_step"], c["last_step"]) for c in m["data"]["chunks"]] == [(4 * i + 1, 4 * i + 4) for i in range(7)]
    assert m["data"]["format"]["tokens_per_sequence"] == 65
    assert m["metrics"]["training_log"]["path"] == "logs/train_log.jsonl"
    assert m["metrics"]["evaluations"]["tasks"] == ["heldout_code", "heldout_prose", "heldout_science"]
    assert m["code"]["repo"] == "code/training-code.bundle" and len(m["code"]["commit"]) == 40
    assert m["license"] == {"id": "Apache-2.0", "file": "LICENSE"}
    assert m["config"]["training"]["batch_size"] == 8
    assert any("within_chunk set to unknown" in n for n in result.notes)
    assert [str(c) for c in result.changes] == ["added manifest llm360.yaml"]
    report = audit(release)
    # Only what a human must still say is missing: the in-chunk order and which files at the commit
    # hold the training config and the data processing, which init cannot know.
    assert report.verdict == "pass"
    assert finding_ids(report) == {"data_order.within-chunk-unknown", "config.no-training-config",
                                   "code.no-data-processing"}
    said = next(f.message for f in report.findings if f.id == "config.no-training-config")
    assert "compared with the checkpoints' own records only (24)" in said and "unverified" not in said, said


def test_refresh_updates_hashes_and_keeps_human_text(release):
    m = manifest(release)
    m["description"] = "Written by a human."
    m["data"]["mixture"] = {"prose": 1, "code": 2, "science": 3}  # a claim init must not overwrite
    write_manifest(release, m)
    path = release / "logs" / "train_log.jsonl"
    rows = read_jsonl(path)
    rows[0]["loss"] += 0.5
    write_jsonl(path, rows)
    assert "metrics.sha256-mismatch" in finding_ids(audit(release))

    result = init_release(release)
    assert [(c.where, c.field) for c in result.changes] == [("logs/train_log.jsonl", "sha256")]  # same size
    after = manifest(release)
    assert after["description"] == "Written by a human."
    assert after["data"]["mixture"] == {"prose": 1, "code": 2, "science": 3}
    ids = finding_ids(audit(release))
    assert "metrics.sha256-mismatch" not in ids and "data_mix.mixture-mismatch" in ids


def test_refresh_of_unchanged_release_changes_nothing(release):
    before = (release / "llm360.yaml").read_bytes()
    result = init_release(release)
    assert result.changes == []
    assert (release / "llm360.yaml").read_bytes() == before


def test_refresh_notices_new_and_removed_checkpoints(release):
    import shutil

    shutil.copytree(release / "checkpoints" / "step_000028", release / "checkpoints" / "step_000032")
    state_path = release / "checkpoints" / "step_000032" / "training_state.json"
    state = json.loads(state_path.read_text())
    state["step"] = 32
    state_path.write_text(json.dumps(state))
    shutil.rmtree(release / "checkpoints" / "step_000004")
    result = init_release(release)
    assert [str(c) for c in result.changes] == ["checkpoints: added checkpoint checkpoints/step_000032 (step 32)",
                                                "checkpoints: removed checkpoint checkpoints/step_000004 (no longer exists)"]
    assert [c["step"] for c in manifest(release)["checkpoints"]] == [0, 8, 12, 16, 20, 24, 28, 32]


def test_dry_run_writes_nothing(release):
    (release / "llm360.yaml").unlink()
    result = init_release(release, write=False)
    assert not (release / "llm360.yaml").exists()
    assert result.text.startswith("spec_version: '1.0'\n")


def test_changes_are_data(release):
    state_path = release / "checkpoints" / "step_000012" / "training_state.json"
    state = json.loads(state_path.read_text())
    state_path.write_text(json.dumps(state | {"step": 13, "tokens_seen": 13 * 8 * 64}))
    result = init_release(release, write=False)
    assert result.changes[:2] == [Change("checkpoints[step 12]", "step", 12, 13, "training_state.json"),
                                  Change("checkpoints[step 12]", "tokens", 12 * 8 * 64, 13 * 8 * 64,
                                         "recorded in training_state.json")]  # fmt: skip
    assert [c.field for c in result.changes[2:]] == ["sha256", "size"] and result.dropped == [] and not result.written
    (release / "checkpoints" / "step_000012" / "extra").mkdir()
    (release / "checkpoints" / "step_000012" / "extra" / "model.safetensors").write_bytes(b"")
    assert Dropped("checkpoints/step_000012/extra", "no step in training_state.json or the directory name") in (
        init_release(release, write=False).dropped)


def _lit_checkpoint(d, step: int) -> None:
    """A LitGPT-shaped lit_model.pth (what `litgpt pretrain` saves), written here without litgpt."""
    import torch

    d.mkdir(parents=True)
    w = torch.zeros(4, 2)
    torch.save({"model": {"lm_head.weight": w}, "optimizer": {"state": {0: {"step": torch.tensor(float(step)),
                "exp_avg": w, "exp_avg_sq": w}}, "param_groups": [{"params": [0]}]}, "train_dataloader": {},
                "iter_num": step, "step_count": step}, d / "lit_model.pth")  # fmt: skip


def test_litgpt_final_takes_its_step_from_lit_model_pth_and_a_duplicate_of_the_last_step_is_skipped(tmp_path):
    for name, step in (("step-00000002", 2), ("step-00000004", 4), ("final", 5)):
        _lit_checkpoint(tmp_path / "a" / name, step)
    init_release(tmp_path / "a")
    cks = manifest(tmp_path / "a")["checkpoints"]
    assert [(c["step"], c["path"]) for c in cks] == [(2, "step-00000002"), (4, "step-00000004"), (5, "final")]
    assert all(c["state"] == ["weights", "optimizer", "scheduler"] for c in cks)  # the loader state is empty
    for name, step in (("step-00000002", 2), ("final", 2)):
        _lit_checkpoint(tmp_path / "b" / name, step)
    result = init_release(tmp_path / "b")
    assert [c["path"] for c in manifest(tmp_path / "b")["checkpoints"]] == ["step-00000002"]
    assert Dropped("final", "step 2, which another checkpoint directory holds") in result.dropped


def _bundle_of(release, files: dict[str, str]) -> None:
    """Replace the release's code bundle with one of a real git repository holding ``files``."""
    import subprocess

    repo = release.parent / "code-repo"
    repo.mkdir()
    for name, text in files.items():
        (repo / name).write_text(text)
    env = {"GIT_CONFIG_GLOBAL": "/dev/null", "GIT_CONFIG_NOSYSTEM": "1", "PATH": "/usr/bin:/bin"}
    for cmd in (["init", "-q"], ["add", "."], ["-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "c"],
                ["bundle", "create", str(release / "code" / "training-code.bundle"), "HEAD"]):
        subprocess.run(["git", *cmd], cwd=repo, env=env, check=True, capture_output=True)


def test_init_takes_the_entrypoint_from_the_commit_not_a_name_it_lacks(release):
    (release / "llm360.yaml").unlink()
    result = init_release(release)
    assert manifest(release)["code"]["entrypoint"] == "train.py"  # the example's trainer is at the commit
    assert any("entrypoint train.py: found at the commit" in n for n in result.notes), result.notes
    # A Trainer script of another name, alone at the top level (tests/hf_run.py, say): that one.
    (release / "llm360.yaml").unlink()
    _bundle_of(release, {"hf_run.py": "print('train')\n", "README.md": "code\n"})
    init_release(release)
    assert manifest(release)["code"]["entrypoint"] == "hf_run.py"
    assert "code.file-missing-at-commit" not in finding_ids(audit(release))


def test_init_says_when_it_cannot_find_the_entrypoint(release):
    (release / "llm360.yaml").unlink()
    _bundle_of(release, {"a.py": "", "b.py": ""})
    result = init_release(release)
    assert manifest(release)["code"]["entrypoint"] == "train.py"
    assert any("none of train.py, pretrain.py, main.py at the commit, declare code.entrypoint" in n
               for n in result.notes), result.notes  # fmt: skip
