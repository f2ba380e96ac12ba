"""`llm360-audit init` says what it changed, through the CLI: each defect planted in a copy of the example
release, init run as a user runs it, and the exact lines it prints (old → new, where the new value came
from; what it dropped and why) checked against the manifest it wrote."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path

from conftest import flip_tensor_byte, manifest, read_jsonl, run_cli, write_jsonl, write_manifest

CKPT = "checkpoints/step_000012"
TOKENS_PER_STEP = 8 * 64  # the example's batch_size × sequence_length


def init(release: Path, *args: str, prelude: str | None = None, code: int = 0) -> list[str]:
    """Run init; return the lines it prints about the manifest (changes, drops, notes: indented), and the last."""
    r = run_cli("init", str(release), "--no-cache", *args, prelude=prelude)
    assert r.returncode == code, r.stderr
    assert "Traceback" not in r.stderr
    lines = r.stderr.splitlines()
    return [line for line in lines if line.startswith("  ")] + [lines[-1]]


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def file_entry(release: Path, rel: str) -> dict:
    m = manifest(release)
    entries = [f for c in m["checkpoints"] for f in c["files"]] + m["data"]["chunks"]
    return next(f for f in entries if f["path"] == rel)


def checkpoint(release: Path, path: str) -> dict:
    return next(c for c in manifest(release)["checkpoints"] if c["path"] == path)


def rewrite_state(release: Path, **fields) -> tuple[dict, dict]:
    """Change training_state.json of the step-12 checkpoint (a field set to None is removed): (its manifest
    entry before, the sha256 and size lines init should print for it)."""
    path = release / CKPT / "training_state.json"
    before = file_entry(release, f"{CKPT}/training_state.json")
    state = json.loads(path.read_text())
    state.update(fields)
    path.write_text(json.dumps({k: v for k, v in state.items() if v is not None}))
    where = f"  {CKPT}/training_state.json"
    return before, {"sha256": f"{where} sha256: {before['sha256'][:8]}… → {digest(path)[:8]}…",
                    "size": f"{where} size: {before['size']} → {path.stat().st_size}"}  # fmt: skip


def test_a_step_relabelled_from_the_state_file_takes_its_token_count(release):
    _, lines = rewrite_state(release, step=13, tokens_seen=13 * TOKENS_PER_STEP)
    assert init(release) == [
        "  checkpoints[step 12] step: 12 → 13 (training_state.json)",
        f"  checkpoints[step 12] tokens: {12 * TOKENS_PER_STEP} → {13 * TOKENS_PER_STEP} (recorded in training_state.json)",
        lines["sha256"], lines["size"],
        f"wrote {release}/llm360.yaml (4 change(s))"]  # fmt: skip
    ck = checkpoint(release, CKPT)
    assert (ck["step"], ck["tokens"]) == (13, 13 * TOKENS_PER_STEP)


def test_a_step_relabelled_without_a_recorded_count_is_recounted(release):
    _, lines = rewrite_state(release, step=13, tokens_seen=None)
    assert init(release)[:2] == ["  checkpoints[step 12] step: 12 → 13 (training_state.json)",
                                 f"  checkpoints[step 12] tokens: {12 * TOKENS_PER_STEP} → {13 * TOKENS_PER_STEP} (13 × 8 × 64)"]
    assert checkpoint(release, CKPT)["tokens"] == 13 * TOKENS_PER_STEP


def test_a_token_count_that_cannot_be_recomputed_goes_and_says_why(release):
    m = manifest(release)
    del m["config"]["training"]["sequence_length"]  # as for a Trainer's output: not recorded
    write_manifest(release, m)
    _, lines = rewrite_state(release, step=13, tokens_seen=None)
    assert init(release) == [
        "  checkpoints[step 12] step: 12 → 13 (training_state.json)", lines["sha256"], lines["size"],
        f"  checkpoints[step 12] tokens: {12 * TOKENS_PER_STEP} → (none) (cannot be recomputed for step 13: no count "
        "recorded in its files and config.training.batch_size or sequence_length not declared)",
        f"wrote {release}/llm360.yaml (4 change(s))"]  # fmt: skip
    assert "tokens" not in checkpoint(release, CKPT)
    assert checkpoint(release, "checkpoints/step_000016")["tokens"] == 16 * TOKENS_PER_STEP  # recorded: kept


def test_a_recorded_count_disagreeing_with_the_step_is_written_and_said(release):
    """The state file says step 13 but still counts the tokens of 12: its count is written (init does not
    hide the disagreement from the audit, which reports it) and the note says so."""
    rewrite_state(release, step=13)
    lines = init(release)
    assert lines[0] == "  checkpoints[step 12] step: 12 → 13 (training_state.json)"
    assert (f"  tokens recorded by the framework differ from step × batch_size × sequence_length at 1 checkpoint(s), "
            f"e.g. {CKPT}: training_state.json records 6144 at step 13, 13 × 8 × 64 = 6656; the recorded count is "
            "written (the audit reports the difference)") in lines  # fmt: skip
    assert checkpoint(release, CKPT)["tokens"] == 6144


def test_a_changed_file_prints_its_digests(release):
    rel = "checkpoints/step_000016/model.safetensors"
    old = file_entry(release, rel)["sha256"]
    flip_tensor_byte(release / rel)
    new = digest(release / rel)
    assert init(release) == [f"  {rel} sha256: {old[:8]}… → {new[:8]}…", f"wrote {release}/llm360.yaml (1 change(s))"]
    assert file_entry(release, rel)["sha256"] == new


def test_files_added_to_and_removed_from_a_checkpoint(release):
    d = release / "checkpoints" / "step_000020"
    (d / "optimizer.safetensors").unlink()
    shutil.copy(d / "model.safetensors", d / "model_ema.safetensors")
    assert init(release) == [
        "  checkpoints[step 20]: added file checkpoints/step_000020/model_ema.safetensors (weights)",
        "  checkpoints[step 20]: removed file checkpoints/step_000020/optimizer.safetensors (no longer exists)",
        f"wrote {release}/llm360.yaml (2 change(s))"]  # fmt: skip
    paths = [f["path"].rsplit("/", 1)[1] for f in checkpoint(release, "checkpoints/step_000020")["files"]]
    assert paths == ["config.json", "model.safetensors", "model_ema.safetensors", "training_state.json"]


def test_checkpoints_added_and_removed(release):
    shutil.copytree(release / "checkpoints" / "step_000028", release / "checkpoints" / "step_000032")
    state = release / "checkpoints" / "step_000032" / "training_state.json"
    state.write_text(json.dumps(json.loads(state.read_text()) | {"step": 32, "tokens_seen": 32 * TOKENS_PER_STEP}))
    shutil.rmtree(release / "checkpoints" / "step_000004")
    assert init(release)[:2] == ["  checkpoints: added checkpoint checkpoints/step_000032 (step 32)",
                                 "  checkpoints: removed checkpoint checkpoints/step_000004 (no longer exists)"]
    assert [c["step"] for c in manifest(release)["checkpoints"]] == [0, 8, 12, 16, 20, 24, 28, 32]
    assert checkpoint(release, "checkpoints/step_000032")["tokens"] == 32 * TOKENS_PER_STEP


def test_a_changed_data_chunk_prints_every_count(release):
    rel = "data/train_003.jsonl"
    before = file_entry(release, rel)
    rows = read_jsonl(release / rel)
    gone = rows.pop()
    write_jsonl(release / rel, rows)
    n, source = len(gone["token_ids"]), gone["source"]
    assert init(release) == [
        f"  {rel} sha256: {before['sha256'][:8]}… → {digest(release / rel)[:8]}…",
        f"  {rel} size: {before['size']} → {(release / rel).stat().st_size}",
        f"  {rel} sequences: 32 → 31",
        f"  {rel} tokens: {before['tokens']} → {before['tokens'] - n}",
        f"  {rel} sources.{source}: {before['sources'][source]} → {before['sources'][source] - n}",
        f"wrote {release}/llm360.yaml (5 change(s))"]  # fmt: skip
    after = file_entry(release, rel)
    assert (after["sequences"], after["tokens"]) == (31, before["tokens"] - n)


def test_data_chunks_added_and_removed(release):
    shutil.copy(release / "data" / "train_006.jsonl", release / "data" / "train_007.jsonl")
    (release / "data" / "train_000.jsonl").unlink()
    assert init(release) == ["  data.chunks: added chunk data/train_007.jsonl (32 sequences, 2080 tokens)",
                             "  data.chunks: removed chunk data/train_000.jsonl (no longer exists)",
                             f"wrote {release}/llm360.yaml (2 change(s))"]  # fmt: skip
    assert [c["path"] for c in manifest(release)["data"]["chunks"]] == [f"data/train_{i:03d}.jsonl" for i in range(1, 8)]


def test_hyperparameters_derived_are_listed_and_declared_ones_kept(release):
    m = manifest(release)
    training = m["config"]["training"]
    del m["config"]
    write_manifest(release, m)
    lines = init(release)
    assert lines[:2] == ["  config.model: (none) → config.json", "  config.training.optimizer.name: (none) → adamw"]
    assert "  config.training.batch_size: (none) → 8" in lines
    assert lines[-1] == f"wrote {release}/llm360.yaml (16 change(s))"
    assert manifest(release)["config"]["training"] == training

    m = manifest(release)
    m["config"]["training"]["seed"] = 7  # a human's value: kept, the disagreement said
    write_manifest(release, m)
    assert init(release) == ["  config.training.seed: 7 kept as written; the files of checkpoints/step_000028 give 11111",
                             f"{release}/llm360.yaml unchanged (0 change(s))"]  # fmt: skip
    assert manifest(release)["config"]["training"]["seed"] == 7


def test_a_chunk_symlinked_out_of_the_release_is_dropped(release, tmp_path):
    outside = tmp_path / "elsewhere" / "train_003.jsonl"
    outside.parent.mkdir()
    shutil.move(release / "data" / "train_003.jsonl", outside)
    (release / "data" / "train_003.jsonl").symlink_to(outside)
    why = f"a symlink to {outside}, outside the release"
    assert init(release) == [f"  data.chunks: removed chunk data/train_003.jsonl ({why})",
                             f"  dropped data/train_003.jsonl: {why}", f"wrote {release}/llm360.yaml (1 change(s))"]
    assert "data/train_003.jsonl" not in [c["path"] for c in manifest(release)["data"]["chunks"]]


def test_a_symlink_inside_the_release_is_followed(release):
    """The audit reads a symlink that stays inside the release (resolve_inside): init describes it too."""
    store = release / "data" / ".store"
    store.mkdir()
    shutil.move(release / "data" / "train_003.jsonl", store / "train_003.jsonl")
    (release / "data" / "train_003.jsonl").symlink_to(Path(".store") / "train_003.jsonl")
    before = (release / "llm360.yaml").read_bytes()
    assert init(release) == [f"{release}/llm360.yaml unchanged (0 change(s))"]
    assert (release / "llm360.yaml").read_bytes() == before


def test_what_init_cannot_describe_is_dropped_with_the_reason(release):
    (release / "checkpoints" / "broken.safetensors").symlink_to("nowhere.safetensors")
    (release / "all-checkpoints").symlink_to("checkpoints")
    final = release / "checkpoints" / "final"
    final.mkdir()
    shutil.copy(release / "checkpoints" / "step_000028" / "model.safetensors", final / "model.safetensors")
    # As root every file can be read: the refusal a user without permission meets, planted in the process.
    unreadable = ("import os\n_open, _scandir = os.open, os.scandir\n"
                  "def refuse(p, end):\n"
                  "    if os.fspath(p).endswith(end):\n"
                  "        raise PermissionError(13, 'Permission denied', os.fspath(p))\n"
                  "os.open = lambda p, *a, **k: refuse(p, 'train_002.jsonl') or _open(p, *a, **k)\n"
                  "os.scandir = lambda p='.': refuse(p, 'step_000008') or _scandir(p)")  # fmt: skip
    assert init(release, prelude=unreadable) == [
        "  checkpoints: removed checkpoint checkpoints/step_000008 (cannot be read: Permission denied)",
        "  data.chunks: removed chunk data/train_002.jsonl (cannot be read: Permission denied)",
        "  dropped all-checkpoints: a symlink to a directory, not followed",
        "  dropped checkpoints/broken.safetensors: a broken symlink (to nowhere.safetensors)",
        "  dropped checkpoints/step_000008: cannot be read: Permission denied",
        "  dropped data/train_002.jsonl: cannot be read: Permission denied",
        "  dropped checkpoints/final: no step in training_state.json or the directory name",
        f"wrote {release}/llm360.yaml (2 change(s))"]  # fmt: skip


def test_a_rerun_on_an_unchanged_release_changes_nothing(release):
    path = release / "llm360.yaml"
    path.chmod(0o640)
    before, stat = path.read_bytes(), path.stat()
    assert init(release) == [f"{path} unchanged (0 change(s))"]
    assert path.read_bytes() == before
    assert (path.stat().st_mode, path.stat().st_ino, path.stat().st_mtime_ns) == (stat.st_mode, stat.st_ino, stat.st_mtime_ns)


def test_a_rewritten_manifest_keeps_its_mode_and_a_rewrite_alone_counts(release):
    path = release / "llm360.yaml"
    path.write_text("# a comment init does not keep\n" + path.read_text())
    path.chmod(0o600)
    assert init(release) == ["  llm360.yaml layout: as written → init's (key order, quoting; comments are not kept)",
                             f"wrote {path} (1 change(s))"]  # fmt: skip
    assert os.stat(path).st_mode & 0o777 == 0o600
    assert init(release) == [f"{path} unchanged (0 change(s))"]


def test_check_and_dry_run_show_the_same_lines_and_write_nothing(release):
    path = release / "llm360.yaml"
    assert init(release, "--check") == [f"{path} unchanged (0 change(s))"]
    rel = "checkpoints/step_000016/model.safetensors"
    flip_tensor_byte(release / rel)
    before = path.read_bytes()
    line = f"  {rel} sha256: {file_entry(release, rel)['sha256'][:8]}… → {digest(release / rel)[:8]}…"
    assert init(release, "--check", code=1) == [line, f"would change {path} (1 change(s)); nothing written (--check)"]
    r = run_cli("init", str(release), "--no-cache", "--dry-run")
    assert r.returncode == 0 and line in r.stderr.splitlines() and digest(release / rel) in r.stdout
    assert path.read_bytes() == before
    quiet = run_cli("init", str(release), "--no-cache", "--check", "--quiet")
    assert (quiet.returncode, quiet.stderr) == (1, "")
    quiet = run_cli("init", str(release), "--no-cache", "--quiet")
    assert (quiet.returncode, quiet.stderr) == (0, "") and path.read_bytes() != before


def test_a_long_list_of_changes_is_cut_with_a_total(release):
    first = file_entry(release, "checkpoints/step_000000/config.json")
    lines = init(release, "--no-hash", "--check", code=1)  # every file's digest would go
    assert len(lines) == 42 and lines[0] == f"  {first['path']} sha256: {first['sha256'][:8]}… → (none)"
    assert lines[-2:] == ["  … and 1 more (41 in all)", f"would change {release}/llm360.yaml (41 change(s)); nothing written (--check)"]
