"""`llm360-audit init` at scale, through the CLI: the audit's parallel hasher and hash cache (an audit
right after init hashes nothing), --no-hash, a closing summary of what was found and not, and exit 1
with nothing written when there is nothing to audit."""

from __future__ import annotations

import json
import shutil

import yaml

from conftest import manifest, run_cli


def _audit_json(release, tmp_path, *extra, env=None) -> dict:
    out = tmp_path / "out"
    r = run_cli(str(release), "--replay", "none", "--out", str(out), "-q", *extra, env=env)
    assert r.returncode in (0, 1), r.stderr
    return json.loads((out / "report.json").read_text())


def test_the_audit_right_after_init_hashes_nothing(release, tmp_path):
    env = {"XDG_CACHE_HOME": str(tmp_path / "cache")}
    r = run_cli("init", str(release), env=env)
    assert r.returncode == 0, r.stderr
    assert "found: checkpoints: 8, steps 0–28, 8 with optimizer state; data: 7 chunks (jsonl-token-ids)" in r.stderr
    assert "hashing: done" in r.stderr  # progress, on stderr
    report = _audit_json(release, tmp_path, env=env)
    assert report["verdict"] == "pass"
    assert report["scope"]["bytes_hashed"] == 0 and report["scope"]["hashes_from_cache"] > 30


def test_init_no_hash_records_sizes_only(release, tmp_path):
    r = run_cli("init", str(release), "--no-hash", "--no-cache")
    assert r.returncode == 0, r.stderr
    m = manifest(release)
    files = [f for c in m["checkpoints"] for f in c["files"]] + m["data"]["chunks"]
    files += [m["metrics"]["training_log"], m["metrics"]["evaluations"]]
    assert len(files) > 40 and all("sha256" not in f and f["size"] > 0 for f in files)
    structural = _audit_json(release, tmp_path, "--no-hash")
    assert structural["verdict"] == "pass"
    assert not [f for f in structural["findings"] if f["id"].endswith(".no-hash")]
    hashed = _audit_json(release, tmp_path, "--no-cache")
    assert {f["id"] for f in hashed["findings"] if f["id"].endswith(".no-hash")} == {
        "checkpoints.no-hash", "optimizer.no-hash", "data.no-hash", "metrics.no-hash"}


def test_init_with_nothing_to_audit_exits_1_and_writes_nothing(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "README.md").write_text("just a readme\n")
    r = run_cli("init", str(empty), "--no-cache")
    assert r.returncode == 1
    assert "nothing to audit" in r.stderr and "not found: checkpoints" in r.stderr
    assert sorted(p.name for p in empty.iterdir()) == ["README.md"]


def test_init_names_a_checkpoint_at_the_release_root(built_release, tmp_path):
    root = tmp_path / "hf-model"
    root.mkdir()
    for name in ("config.json", "model.safetensors", "optimizer.safetensors"):
        shutil.copy(built_release / "checkpoints" / "step_000028" / name, root / name)
    r = run_cli("init", str(root), "--no-cache")
    assert r.returncode == 1
    assert ("a checkpoint at the release root (config.json, model.safetensors, optimizer.safetensors) has no step"
            in r.stderr and "--root-step N" in r.stderr)  # fmt: skip
    assert not (root / "llm360.yaml").exists()
    # given its step, the root checkpoint becomes an entry at path: . and the audit finds it whole
    r = run_cli("init", str(root), "--no-cache", "--root-step", "28")
    assert r.returncode == 0, r.stderr
    m = yaml.safe_load((root / "llm360.yaml").read_text())
    (ck,) = m["checkpoints"]
    assert (ck["step"], ck["path"], sorted(f["path"] for f in ck["files"])) == (
        28, ".", ["config.json", "model.safetensors", "optimizer.safetensors"])
    r = run_cli(str(root), "--replay", "none", "--format", "json", "--out", str(tmp_path / "o"))
    report = json.loads((tmp_path / "o" / "report.json").read_text())
    assert report["criteria"]["model_checkpoints"]["status"] == "pass", report["findings"]
    assert report["criteria"]["model_checkpoints"]["evidence"]["checkpoints"] == 1
