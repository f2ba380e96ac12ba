"""LitGPT output, from a real run: ``litgpt pretrain`` (litgpt 0.5.x, its own CLI) trains a 2-layer
LLaMA-style model for 27 steps on CPU, on litdata chunks inside the release, with a checkpoint every 6 steps and the CSV logger; ``init``
maps its ``step-*/`` and ``final/`` directories to a manifest with no hand editing, and the audit
reads every ``lit_model.pth`` (a pickle: statically scanned, then opened with
torch.load(weights_only=True)) for its step, its tensors and its AdamW moments, and the CSV log's
learning rate against LitGPT's own schedule."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from conftest import manifest, run_cli, write_manifest

pytest.importorskip("litgpt", reason="litgpt is not installed (pip install --no-deps litgpt==0.5.13 lightning "
                                     "'jsonargparse[signatures]>=4.37,<=4.41' psutil requests; see README)")  # fmt: skip

pytest.importorskip("litdata", reason="litdata is not installed (pip install --no-deps litdata; see .ci/run)")

pytestmark = pytest.mark.slow  # a real training run, then init and the audit as subprocesses
STEPS, SAVE_EVERY = 27, 6  # final/ (step 27) holds a step no directory name gives
STEP_DIRS = [f"step-{s:08d}" for s in range(SAVE_EVERY, STEPS + 1, SAVE_EVERY)]
CHECKPOINTS = STEP_DIRS + ["final"]
STEPS_FOUND = [6, 12, 18, 24, 27]
TENSORS = 17  # wte, lm_head, ln_f, and 7 per block of 2
LOG = "logs/csv/version_0/metrics.csv"


def test_the_run_is_litgpt_layout(litgpt_run):
    for name in CHECKPOINTS:
        assert {p.name for p in (litgpt_run / name).iterdir()} >= {"lit_model.pth", "hyperparameters.yaml",
                                                                   "model_config.yaml"}  # fmt: skip
    rows = (litgpt_run / LOG).read_text().splitlines()
    assert len(rows) == STEPS + 1 and "iter" in rows[0].split(",")


class Payload:
    """Unpickling this creates ``path``: proof that a pickle was loaded."""

    def __init__(self, path: Path):
        self.path = path

    def __reduce__(self):
        return (os.system, (f"touch {self.path}",))


def test_the_schedule_is_litgpts_get_lr_exactly():
    from litgpt.pretrain import get_lr

    from audit.spec.schedule import lr_at

    for warmup, total in ((4, STEPS), (0, 10), (10, 20)):
        for step in range(1, total + 3):
            want = get_lr(1e-3, step - 1, warmup, total, 1e-4)  # pretrain.fit: it = iter_num before the update
            assert lr_at(step, schedule="litgpt-warmup-cosine", peak_lr=1e-3, final_lr=1e-4, warmup_steps=warmup,
                         total_steps=total) == want, (warmup, total, step)  # fmt: skip


def _init(root: Path) -> dict:
    r = run_cli("init", str(root))
    assert r.returncode == 0, r.stdout + r.stderr
    return manifest(root)


def _audit(root: Path, out: Path, replay: str = "none") -> tuple[int, dict]:
    r = run_cli(str(root), "--replay", replay, "--out", str(out))
    assert "Traceback" not in r.stdout + r.stderr, r.stderr
    return r.returncode, json.loads((out / "report.json").read_text())


def _criterion(report: dict, name: str) -> dict:
    crits = report["criteria"]
    return next(c for c in crits if c["criterion"] == name) if isinstance(crits, list) else crits[name]


def test_init_declares_every_checkpoint_the_log_and_the_config(litgpt_copy):
    m = _init(litgpt_copy)
    assert [(c["step"], c["path"]) for c in m["checkpoints"]] == list(zip(STEPS_FOUND, CHECKPOINTS))
    for c in m["checkpoints"]:
        assert {"weights", "optimizer", "scheduler", "data_cursor"} <= set(c["state"]), c
        assert "rng" not in c["state"]  # LitGPT saves none
        roles = {f["path"].rsplit("/", 1)[-1]: f["role"] for f in c["files"]}
        assert roles["lit_model.pth"] == "weights" and roles["model_config.yaml"] == "config"
        assert c["tokens"] == c["step"] * 4 * 16
    assert m["metrics"]["training_log"]["path"] == LOG and m["metrics"]["training_log"]["format"] == "litgpt-csv"
    t = m["config"]["training"]
    assert m["config"]["model"] == "final/model_config.yaml"
    assert t["lr_schedule"] == {"name": "litgpt-warmup-cosine", "peak_lr": 0.001, "final_lr": 0.0001,
                                "warmup_steps": 4, "total_steps": STEPS}  # fmt: skip
    assert t["optimizer"] == {"name": "adamw", "betas": [0.9, 0.95], "eps": 1e-8, "weight_decay": 0.1}
    assert (t["batch_size"], t["sequence_length"], t["precision"], t["grad_clip"], t["seed"]) == (4, 16, "fp32", 1.0, 42)


def test_audit_reads_weights_moments_log_and_schedule_with_no_false_error(litgpt_copy, tmp_path):
    _init(litgpt_copy)
    code, report = _audit(litgpt_copy, tmp_path / "report")
    errors = {f["id"] for f in report["findings"] if f["severity"] == "error"}
    # No evaluations or code in a bare LitGPT out_dir; its litdata chunks are read and recounted.
    assert errors == {"code.not-released", "metrics.no-evaluations"}, errors
    ids = [f["id"] for f in report["findings"]]
    assert "checkpoints.pickle-weights" not in ids and "metrics.lr-schedule-mismatch" not in ids
    assert ids.count("checkpoints.pickle-weights-read") == len(CHECKPOINTS)  # a warning per lit_model.pth
    ck = _criterion(report, "model_checkpoints")["evidence"]
    assert ck["tensors_checked"] == TENSORS * len(CHECKPOINTS) and ck["parameters"] > 0
    assert (ck["first_step"], ck["last_step"]) == (SAVE_EVERY, STEPS)
    opt = _criterion(report, "optimizer_checkpoints")["evidence"]
    assert opt["checkpoints_with_optimizer"] == len(CHECKPOINTS)
    assert opt["moment_tensors_checked"] == 2 * TENSORS * len(CHECKPOINTS)
    assert "optimizer.not-released" not in ids and "optimizer.moments-invalid" not in ids
    # No RNG state saved, none needed (LitGPT's resume draws no random numbers): exactly resumable.
    assert "optimizer.not-resumable" not in ids and opt["exactly_resumable"] == len(CHECKPOINTS)
    summary = _criterion(report, "optimizer_checkpoints")["summary"]  # says what was held, not an RNG never saved
    assert summary.startswith(f"{len(CHECKPOINTS)} of {len(CHECKPOINTS)} checkpoints exactly resumable (moments, "
                              "scheduler, data cursor; no RNG state needed"), summary  # fmt: skip
    assert _criterion(report, "metrics")["evidence"]["steps_logged"] == STEPS
    config = _criterion(report, "config")
    assert config["status"] == "pass" and config["evidence"]["architecture"] == "LitGPT GPT (LLaMAMLP)"
    assert config["evidence"]["checkpoint_configs_compared"] == len(CHECKPOINTS)  # each model_config.yaml
    data = _criterion(report, "data_availability")
    assert data["status"] == "pass" and data["evidence"]["chunks"] == 5 and data["evidence"]["sequences_counted"] == 120, data
    assert _criterion(report, "data_order")["status"] == "pass"
    assert code == 1  # the missing code and evaluations fail the audit, nothing else


def test_a_changed_tensor_a_changed_hyperparameter_and_broken_chunks_are_found(litgpt_copy, tmp_path):
    m = _init(litgpt_copy)
    m["config"]["training"]["optimizer"]["weight_decay"] = 0.2
    write_manifest(litgpt_copy, m)
    _flip_tensor_byte(litgpt_copy / STEP_DIRS[2] / "lit_model.pth")
    chunk = litgpt_copy / "data" / "chunk-0-2.bin"  # a truncated litdata chunk, and an index that lies about another
    chunk.write_bytes(chunk.read_bytes()[:-10])
    other = litgpt_copy / "data" / "chunk-0-1.bin"  # one token id beyond the vocabulary of 128
    raw = bytearray(other.read_bytes())
    raw[(1 + 24 + 1) * 4 : (1 + 24 + 1) * 4 + 8] = (130).to_bytes(8, "little")  # the first int64 token id
    other.write_bytes(bytes(raw))
    index = json.loads((litgpt_copy / "data" / "index.json").read_text())
    index["chunks"][4]["dim"] += 17
    (litgpt_copy / "data" / "index.json").write_text(json.dumps(index))
    _, report = _audit(litgpt_copy, tmp_path / "report")
    found = {(f["id"], f.get("path")) for f in report["findings"]}
    assert ("checkpoints.sha256-mismatch", f"{STEP_DIRS[2]}/lit_model.pth") in found, found
    assert any(i == "config.recorded-mismatch" for i, _ in found)
    malformed = {f["path"]: f["message"] for f in report["findings"] if f["id"] == "data.malformed-file"}
    assert "truncated" in malformed["data/chunk-0-2.bin"], malformed
    assert ("data.token-out-of-vocab", "data/chunk-0-1.bin") in found, found
    assert "says chunk-0-4.bin holds 425 token ids, it holds 408" in malformed["data/index.json"], malformed


def _flip_tensor_byte(path: Path) -> None:
    """A silent defect in a torch.save zip: one byte of its first tensor's data XORed in place (same size)."""
    import zipfile

    with zipfile.ZipFile(path) as z:
        info = next(i for i in z.infolist() if i.filename.split("/")[-2:-1] == ["data"])
    data = bytearray(path.read_bytes())
    name_len, extra_len = int.from_bytes(data[info.header_offset + 26: info.header_offset + 28], "little"), \
        int.from_bytes(data[info.header_offset + 28: info.header_offset + 30], "little")  # fmt: skip
    data[info.header_offset + 30 + name_len + extra_len] ^= 0x01
    path.write_bytes(bytes(data))


def test_a_hostile_lit_model_pth_is_refused_and_never_loaded(litgpt_copy, tmp_path):
    import pickle

    marker = tmp_path / "payload-ran"
    (litgpt_copy / STEP_DIRS[1] / "lit_model.pth").write_bytes(pickle.dumps({"model": Payload(marker)}, protocol=4))
    m = _init(litgpt_copy)
    assert [c["step"] for c in m["checkpoints"]] == STEPS_FOUND  # step-00000012: its step from the name
    _, report = _audit(litgpt_copy, tmp_path / "report")
    found = {(f["id"], f["severity"]) for f in report["findings"] if f.get("path") == f"{STEP_DIRS[1]}/lit_model.pth"}
    assert {("checkpoints.pickle-unsafe", "error"), ("checkpoints.pickle-weights", "error")} <= found, found
    assert not marker.exists(), "a payload ran"
