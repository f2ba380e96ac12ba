"""The LitGPT replay and litdata data, on the session's real ``litgpt pretrain`` run (conftest.litgpt_run:
27 steps, a checkpoint every 6, trained on litdata chunks inside the release): ``init`` then
``--replay all`` replays every segment with LitGPT's own code through the built-in driver (no user
script); a weight of a later checkpoint changed by one ULP ends ``mismatch``; the litdata-tokens reader
finds truncated chunks and an index that lies, naming the file."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from conftest import run_cli

pytest.importorskip("litgpt", reason="litgpt is not installed (see README: Bring your own release, LitGPT)")
pytest.importorskip("litdata", reason="litdata is not installed (pip install --no-deps litdata; see .ci/run)")

pytestmark = pytest.mark.slow  # the session's training run, then init and the audit as subprocesses
SEGMENTS = [(6, 12), (12, 18), (18, 24), (24, 27)]
TENSORS = 17 * 4  # weights, exp_avg, exp_avg_sq and the step of each of the 17 parameters
WEIGHT = "transformer.h.0.attn.qkv.weight"


def _init(root: Path) -> None:
    r = run_cli("init", str(root))
    assert r.returncode == 0, r.stdout + r.stderr


def _audit(root: Path, out: Path, replay: str) -> tuple[int, dict]:
    r = run_cli(str(root), "--replay", replay, "--out", str(out))
    assert "Traceback" not in r.stdout + r.stderr, r.stderr
    return r.returncode, json.loads((out / "report.json").read_text())


def test_replay_all_reproduces_every_segment_with_litgpts_own_code(litgpt_copy, tmp_path):
    _init(litgpt_copy)
    _, report = _audit(litgpt_copy, tmp_path / "report", "all")
    segments = report["replay"]["segments"]
    assert [(s["start_step"], s["end_step"]) for s in segments] == SEGMENTS
    for s in segments:
        assert s["engine"] == "builtin" and s["compared"] == ["log", "state"], s
        assert s["status"] in ("bit-exact", "within-tolerance"), s
        assert s["tensors_compared"] == TENSORS and s["max_abs_diff"] <= 1e-6, s  # measured here: 0 (bit-exact)
        assert s["environment_differences"] == ["(no environment fingerprint released)"]  # LitGPT records none
        if s["status"] == "within-tolerance":
            assert s["max_ulp"] > 0 and s["tolerance"] is not None  # the distance is stated
    env = report["replay"]["environment"]
    assert env["framework"] == "litgpt" and env["litgpt_version"] and env["torch_version"]
    assert not [f for f in report["findings"] if f["id"].startswith("replay.") and f["severity"] == "error"]


def test_the_driver_logs_every_loss_and_lr_as_litgpt_did_and_saves_its_layout(litgpt_copy, tmp_path):
    """In process, on the thread count of the training run: each logged loss and learning rate exactly."""
    import torch

    from audit.frameworks.litgpt import LitGPT, read_checkpoint, read_metrics_csv
    from audit.core.release import Release
    from audit.replay import compare
    from audit.replay.data import step_batches
    from audit.replay.plan import segments as all_segments, why_not
    from audit.spec.manifest_loader import load_manifest

    _init(litgpt_copy)
    manifest, _, _ = load_manifest(litgpt_copy)
    release = Release(root=litgpt_copy, manifest=manifest, manifest_sha256="")
    start, end = all_segments(manifest)[0]
    assert why_not(release, start, end, "builtin", False) is None  # no RNG state needed, none asked for
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # the run trained with OMP_NUM_THREADS=1
    try:
        run = LitGPT().replay(release, start, step_batches(release, 7, 12), "cpu", tmp_path / "work")
    finally:
        torch.set_num_threads(threads)
    released = read_metrics_csv(litgpt_copy / manifest.metrics.training_log.path).rows
    assert [r["step"] for r in run.logs] == list(range(7, 13))
    for row in run.logs:
        assert row["loss"] == released.get(row["step"])["loss"], row
        assert row["learning_rate"] == released.get(row["step"])["learning_rate"], row
    got = read_checkpoint(run.out / "lit_model.pth", "replayed lit_model.pth")
    want = read_checkpoint(litgpt_copy / "step-00000012" / "lit_model.pth", "step-00000012/lit_model.pth")
    assert set(got) == set(want) and (got["iter_num"], got["step_count"]) == (12, 12)
    state = compare.compare_states(litgpt_copy / "step-00000012", run.out, ["lit_model.pth"])
    assert state.compared == TENSORS and not state.missing and not state.fields
    assert max((d.max_abs_diff for d in state.diffs), default=0.0) <= 1e-6


def test_one_ulp_in_a_later_checkpoint_is_a_mismatch_at_its_step(litgpt_copy, tmp_path):
    import torch

    path = litgpt_copy / "step-00000012" / "lit_model.pth"
    obj = torch.load(path, weights_only=True)  # the test's own file
    w = obj["model"][WEIGHT].view(-1)
    w[0] = torch.nextafter(w[0], torch.tensor(float("inf")))  # one ULP up, a weight the steps 7..12 change
    torch.save(obj, path)
    _init(litgpt_copy)  # rehash: the manifest agrees with the changed file
    code, report = _audit(litgpt_copy, tmp_path / "report", "1")  # the first segment: 6 → 12
    [s] = report["replay"]["segments"]
    assert (s["start_step"], s["end_step"], s["status"], s["first_divergent_step"]) == (6, 12, "mismatch", 12), s
    assert s["tensors_differing"] == 1 and s["tensors"][0]["name"] == f"lit_model.pth:model.{WEIGHT}"
    assert s["tensors"][0]["max_ulp"] == 1 and s["tensors"][0]["differing"] == 1
    assert "reproduced all 6 logged steps bit for bit" in s["reason"]
    assert code == 1 and "replay.mismatch" in {f["id"] for f in report["findings"]}


def test_litdata_chunks_truncated_or_misdescribed_are_named(litgpt_run, tmp_path):
    from audit.formats.registry import read_sequences, scan_chunk
    from audit.spec.manifest import DataFormat

    data = tmp_path / "data"
    shutil.copytree(litgpt_run / "data", data)
    fmt = DataFormat(kind="litdata-tokens", tokens_per_sequence=17)
    good = scan_chunk(data / "chunk-0-0.bin", fmt, 128)
    assert (good.sequences, good.tokens, good.out_of_vocab, good.errors) == (24, 408, 0, [])
    assert scan_chunk(data / "chunk-0-0.bin", fmt, 100).out_of_vocab > 0  # ids ≥ 100 in a 128-id run
    items = scan_chunk(data / "chunk-0-0.bin", DataFormat(kind="litdata-tokens"), 128)
    assert (items.sequences, dict(items.lengths)) == (24, {17: 24})  # the items as litdata.optimize wrote them
    assert len(read_sequences(data / "chunk-0-1.bin", fmt, [0, 23])[23]) == 17
    with pytest.raises(ValueError, match="holds 24 sequences"):
        read_sequences(data / "chunk-0-1.bin", fmt, [24])

    chunk = data / "chunk-0-2.bin"
    chunk.write_bytes(chunk.read_bytes()[:-10])
    [problem] = scan_chunk(chunk, fmt, 128).errors
    assert "truncated" in problem.message and not problem.index
    index = json.loads((data / "index.json").read_text())
    index["chunks"][3]["chunk_size"] += 1
    (data / "index.json").write_text(json.dumps(index))
    [problem] = scan_chunk(data / "chunk-0-3.bin", fmt, 128).errors
    assert problem.index and "index.json says chunk-0-3.bin holds 25 items, its header 24" in problem.message

