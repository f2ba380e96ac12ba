"""Megatron-LM's ``torch_dist`` checkpoint format, saved for real by megatron-core's ``dist_checkpointing.save``.

The run of tests/megatron_run/train.py (megatron-core's GPTModel, 12 iterations on CPU, the same run as
test_megatron.py's) saves every checkpoint a second time the way Megatron-LM's ``save_checkpoint`` does for
``--ckpt-format torch_dist``: the model's and the optimizer's (megatron-core's ``FP32Optimizer``) sharded state
dicts, the rng state as a ``ShardedObject``, through megatron-core's own save strategy — ``iter_NNNNNNN/`` holds
``.metadata``, ``__0_*.distcp``, ``common.pt`` and ``metadata.json`` exactly as it wrote them. ``init`` maps
it to a manifest with no hand editing (the step, tokens and config from ``common.pt``'s opcodes); the audit
reads the weights (the decoder layers stacked per tensor), the moments and the common step."""

from __future__ import annotations

import io
import json
import os
import shutil
from pathlib import Path

import pytest

from conftest import manifest, run_cli
from test_megatron import DIRS, ITERS, TENSORS, TRACKER, Payload, _criterion, _init, _real

pytest.importorskip("megatron.core", reason="megatron-core is not installed (pip install -e '.[test]')")

pytestmark = pytest.mark.slow  # the real training run, then init and the audit as subprocesses
#: Each stacked decoder.layers.* tensor is one item: 2 embeddings, 12 per layer stacked, 2 final norm.
ITEMS = 16


@pytest.fixture
def dist_copy(megatron_saves, tmp_path) -> Path:
    dst = tmp_path / "release"
    shutil.copytree(megatron_saves[1], dst)
    return dst


def _audit(root: Path, out: Path) -> dict:
    r = run_cli(str(root), "--replay", "none", "--out", str(out))
    assert "Traceback" not in r.stdout + r.stderr, r.stderr
    return json.loads((out / "report.json").read_text())


def test_the_run_is_megatron_cores_torch_dist_layout(megatron_saves):
    from audit.frameworks.megatron import read_header
    from audit.readers.dcp import read_metadata

    dist = megatron_saves[1]
    assert (dist / TRACKER).read_text() == "12"
    for it, d in zip(ITERS, DIRS):
        names = {p.name for p in (dist / d).iterdir()}
        assert {".metadata", "common.pt", "metadata.json"} <= names and any(n.endswith(".distcp") for n in names)
        assert json.loads((dist / d / "metadata.json").read_text())["sharded_backend"] == "torch_dist"
        head = read_header(dist / d / "common.pt", "common.pt")
        assert head["iteration"] == it and head["args"]["ckpt_format"] == "torch_dist"
        assert head["opt_param_scheduler"]["num_steps"] == 4 * it and "model" not in head
        items = read_metadata(dist / d / ".metadata", ".metadata").items
        qkv = items["decoder.layers.self_attention.linear_qkv.weight"]  # stacked over the 2 layers, a chunk each
        assert qkv.shape == (2, 96, 32) and len(qkv.storage) == 2
        assert "optimizer.state.exp_avg.decoder.layers.self_attention.linear_qkv.weight" in items


def test_init_and_audit_read_every_torch_dist_checkpoint_with_no_false_error(dist_copy, tmp_path):
    m = _init(dist_copy)
    assert [(c["step"], c["path"]) for c in m["checkpoints"]] == list(zip(ITERS, DIRS))
    for c in m["checkpoints"]:
        assert c["state"] == ["weights", "optimizer", "scheduler", "rng", "data_cursor"], c
        roles = {f["path"].rsplit("/", 1)[-1]: f["role"] for f in c["files"]}
        assert roles["common.pt"] == "training-state" and roles[".metadata"] == "weights-index", roles
        assert c["tokens"] == c["step"] * 4 * 16  # args.consumed_train_samples × seq_length, from common.pt
    assert m["config"]["model"] == f"{DIRS[-1]}/common.pt"
    t = m["config"]["training"]
    assert t["lr_schedule"] == {"name": "megatron-cosine", "peak_lr": 0.001, "final_lr": 0.0001, "warmup_steps": 3,
                                "total_steps": 12}  # fmt: skip
    assert (t["batch_size"], t["sequence_length"], t["grad_clip"], t["seed"]) == (4, 16, 1.0, 1234)
    report = _audit(dist_copy, tmp_path / "report")
    errors = {f["id"] for f in report["findings"] if f["severity"] == "error"}
    assert errors == {"code.not-released", "data.not-released", "data_mix.not-declared", "data_order.incomplete",
                      "metrics.no-evaluations", "metrics.no-training-log"}, errors  # fmt: skip
    ids = [f["id"] for f in report["findings"]]
    assert not [i for i in ids if i.endswith("pickle-unsafe")] and "checkpoints.architecture-unknown" not in ids
    ck = _criterion(report, "model_checkpoints")["evidence"]
    assert ck["tensors_checked"] == TENSORS * len(ITERS)  # per layer, against the shapes the args imply
    opt = _criterion(report, "optimizer_checkpoints")["evidence"]
    assert opt["checkpoints_with_optimizer"] == opt["exactly_resumable"] == len(ITERS)
    assert opt["moment_tensors_checked"] == 2 * ITEMS * len(ITERS)
    assert opt["pickles_loaded_weights_only"] == len(ITERS)  # each common.pt, for its common_step
    config = _criterion(report, "config")
    assert config["status"] == "pass" and config["evidence"]["architecture"] == "Megatron-LM GPTModel"
    assert config["evidence"]["recorded_hyperparameters_compared"] == 2 * len(ITERS)  # args, opt_param_scheduler


def test_a_hostile_global_in_common_pt_is_refused_and_named(dist_copy, tmp_path):
    import torch

    from audit.readers.torch_pickle import load_weights_only

    marker = tmp_path / "payload-ran"
    target = dist_copy / DIRS[1] / "common.pt"
    obj = load_weights_only(target, target.name, numpy_arrays=True, namespaces=True)
    for key, v in vars(obj["args"]).items():
        setattr(obj["args"], key, _real(v))
    obj["args"].tokenizer_model = Payload(marker)  # an attribute whose unpickling runs os.system
    torch.save(obj, tmp_path / "common.pt")
    os.replace(tmp_path / "common.pt", target)
    m = _init(dist_copy)
    assert [c["step"] for c in m["checkpoints"]] == ITERS  # the step still read from the opcodes, nothing run
    report = _audit(dist_copy, tmp_path / "report")
    rel = f"{DIRS[1]}/common.pt"
    unsafe = [f for f in report["findings"] if f["id"] == "optimizer.pickle-unsafe" and f.get("path") == rel]
    assert unsafe and unsafe[0]["severity"] == "error" and "system" in unsafe[0]["message"], report["findings"]
    assert not marker.exists(), "a payload ran"


def test_a_truncated_distcp_is_a_finding_naming_it(dist_copy, tmp_path):
    _init(dist_copy)
    target = sorted((dist_copy / DIRS[0]).glob("*.distcp"))[-1]
    target.write_bytes(target.read_bytes()[: target.stat().st_size // 2])
    report = _audit(dist_copy, tmp_path / "report")
    rel = f"{DIRS[0]}/{target.name}"
    found = [f for f in report["findings"] if f.get("path") == rel and f["severity"] == "error"]
    assert any("truncated" in f["message"] for f in found), [f for f in report["findings"] if f.get("path") == rel]
    assert manifest(dist_copy)["checkpoints"][0]["step"] == ITERS[0]


def test_the_torch_dist_weights_are_the_legacy_saves_tensors_per_layer(megatron_saves, tmp_path):
    """The same run's two saves hold the same tensors: each stacked ``decoder.layers.X`` item, read back by
    torch's own DCP loader (the test's own files), is the legacy state dict's ``decoder.layers.N.X'`` per layer
    under the local spec's names — what the auditor's per-layer names and shapes stand for."""
    import torch
    from torch.distributed.checkpoint.format_utils import dcp_to_torch_save

    from audit.frameworks.megatron_dist import weight_shapes
    from audit.readers.dcp import read_metadata
    from test_megatron import FILE, _load

    legacy_dir, dist = megatron_saves
    d = DIRS[-1]
    dcp_to_torch_save(dist / d, tmp_path / "flat.pt")
    flat = torch.load(tmp_path / "flat.pt", weights_only=False)  # written just now by torch from the test's run
    legacy = {k: v for k, v in _load(legacy_dir / d / FILE)["model"].items() if torch.is_tensor(v)}
    local = {"self_attention.linear_qkv.layer_norm_": "input_layernorm.",
             "mlp.linear_fc1.layer_norm_": "pre_mlp_layernorm."}  # the local spec's sharded_state_dict_keys_map
    shapes = weight_shapes(read_metadata(dist / d / ".metadata", ".metadata"))
    assert len(shapes) == len(legacy) == TENSORS
    for name, (shape, dtype) in shapes.items():
        legacy_name = name
        for te, lo in local.items():
            legacy_name = legacy_name.replace(te, lo)
        stacked = name.startswith("decoder.layers.")
        layer, rest = (int(name.split(".")[2]), ".".join(name.split(".")[3:])) if stacked else (None, name)
        saved = flat[f"decoder.layers.{rest}"][layer] if stacked else flat[name]
        assert tuple(saved.shape) == shape and dtype == "F32" and torch.equal(saved, legacy[legacy_name]), name
    common = _load(dist / d / "common.pt")  # the step shared by every parameter, beside the sharded state
    assert float(common["optimizer"]["state"]["common_step"]) == ITERS[-1] and "rng_state" not in common


#: The bucket key megatron-core's DistributedOptimizer gives its flattened state in the default dp_reshardable
#: sharding (distrib_optimizer.py, sharded_param_state_dp_reshardable), for one fp32 buffer of one bucket.
BUCKET = "optimizer.distributed.dp_group_idx_0.gbuf_idx_0.dtype_(torch.float32, torch.float32).bucket_idx_0."


def _as_distributed_optimizer(ckpt: Path, short: int = 0) -> None:
    """Re-save a checkpoint's sharded state (torch's own DCP writer) with its moments as the distributed optimizer
    saves them: every parameter's exp_avg / exp_avg_sq / main param end to end in one flat bucket, padded to a
    multiple of 128. megatron-core's DistributedOptimizer needs CUDA (its buffers are allocated on
    torch.cuda.current_device()), so no real one can be saved here: this is its documented layout, built from
    the real checkpoint's tensors. ``short``: elements cut from the exp_avg_sq bucket (a damaged state)."""
    import torch
    import torch.distributed.checkpoint as tdcp
    from torch.distributed.checkpoint.format_utils import dcp_to_torch_save

    dcp_to_torch_save(ckpt, ckpt.parent / "flat.pt")
    flat = torch.load(ckpt.parent / "flat.pt", weights_only=False)  # written just now by torch, from the test's run
    (ckpt.parent / "flat.pt").unlink()
    names = sorted(k[len("optimizer.state.exp_avg."):] for k in flat if k.startswith("optimizer.state.exp_avg."))
    for kind, source in (("exp_avg", "optimizer.state.exp_avg."), ("exp_avg_sq", "optimizer.state.exp_avg_sq."),
                         ("param", "")):  # fmt: skip
        parts = [(flat.pop(source + n) if source else flat[n]).flatten() for n in names]
        bucket = torch.cat(parts)
        bucket = torch.cat([bucket, bucket.new_zeros(-len(bucket) % 128)])
        flat[BUCKET + kind] = bucket[: len(bucket) - short] if kind == "exp_avg_sq" else bucket
    for key, value in flat.items():  # the rng state stays one pickled object (a ShardedObject), not flattened
        if not torch.is_tensor(value):
            buf = io.BytesIO()
            torch.save(value, buf)
            flat[key] = io.BytesIO(buf.getvalue())
    for f in [ckpt / ".metadata", *ckpt.glob("*.distcp")]:
        f.unlink()
    tdcp.save(flat, checkpoint_id=str(ckpt), no_dist=True)


def test_the_distributed_optimizers_flattened_moments_are_found_not_called_missing(dist_copy, tmp_path):
    for d in DIRS:
        _as_distributed_optimizer(dist_copy / d)
    m = _init(dist_copy)
    assert all("optimizer" in c["state"] for c in m["checkpoints"]), [c["state"] for c in m["checkpoints"]]
    report = _audit(dist_copy, tmp_path / "report")
    ids = [f["id"] for f in report["findings"]]
    assert "optimizer.not-released" not in ids and "optimizer.moments-missing" not in ids, report["findings"]
    unmatched = [f for f in report["findings"] if f["id"] == "optimizer.moments-unmatched"]
    assert [f["path"] for f in unmatched] == [f"{d}/.metadata" for d in DIRS], unmatched
    assert unmatched[0]["severity"] == "warning" and "1 flattened bucket(s)" in unmatched[0]["message"]
    opt = _criterion(report, "optimizer_checkpoints")["evidence"]
    assert opt["checkpoints_with_optimizer"] == len(ITERS) and opt["moment_elements_in_buckets"] > 0


def test_a_bucket_too_short_for_the_weights_is_an_error(dist_copy, tmp_path):
    _as_distributed_optimizer(dist_copy / DIRS[0], short=1000)
    _init(dist_copy)
    report = _audit(dist_copy, tmp_path / "report")
    bad = [f for f in report["findings"] if f["id"] == "optimizer.moments-missing"]
    assert len(bad) == 1 and bad[0]["path"] == f"{DIRS[0]}/.metadata" and bad[0]["severity"] == "error", bad
    assert "exp_avg_sq elements" in bad[0]["message"]
