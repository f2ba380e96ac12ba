"""`llm360-audit init` on a release laid out like LLM360's Amber as downloaded: ``ckpt_NNN/``
checkpoint directories (the N-th checkpoint, saved after data chunk N — an index, not a step), each
with ``config.json``, ``model.safetensors.index.json`` and three bf16 safetensors shards and no
training state, and data chunks ``data/train/train_NNN.jsonl``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from audit.spec import schemas
from audit.readers import yamlio
from audit.init import init_release
from conftest import audit, finding_ids, manifest

#: A tiny LLaMA with Amber's config.json keys (Amber: hidden 4096, intermediate 11008, 32 layers, …).
CONFIG = {
    "architectures": ["LlamaForCausalLM"], "model_type": "llama", "vocab_size": 256, "hidden_size": 32,
    "intermediate_size": 64, "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 4,
    "max_position_embeddings": 8, "rms_norm_eps": 1e-6, "rope_theta": 10000.0, "tie_word_embeddings": False,
    "hidden_act": "silu", "torch_dtype": "bfloat16", "bos_token_id": 1, "eos_token_id": 2,
}  # fmt: skip
BATCH, SEQ_LEN, LINES, SOURCES = 2, 8, 6, ("c4", "arxiv", "starcoder")
STEPS_PER_CHUNK = LINES // BATCH  # 3
SKELETON = {  # only what a human must say
    "spec_version": "1.0",
    "name": "tiny-amber",
    "license": {"id": "Apache-2.0"},
    "code": {"repo": "https://github.com/LLM360/amber-train", "entrypoint": "main.py"},
    "config": {
        "model": "ckpt_003/config.json",
        "training": {
            "optimizer": {"name": "adamw", "betas": [0.9, 0.95], "eps": 1e-8, "weight_decay": 0.1},
            "lr_schedule": {"name": "warmup-cosine", "peak_lr": 3e-4, "final_lr": 3e-5, "warmup_steps": 2,
                            "total_steps": 12},
            "batch_size": BATCH, "sequence_length": SEQ_LEN, "precision": "bf16-mixed", "grad_clip": 1.0,
            "seed": 11111,
        },
    },
    "data": {"order": {"within_chunk": "unknown"}},
}  # fmt: skip


def _tensors(seed: int) -> dict[str, torch.Tensor]:
    """The weights of CONFIG in HF LlamaForCausalLM names, bf16."""
    g = torch.Generator().manual_seed(seed)
    h, i, v = CONFIG["hidden_size"], CONFIG["intermediate_size"], CONFIG["vocab_size"]
    shapes = {"model.embed_tokens.weight": (v, h)}
    for layer in range(CONFIG["num_hidden_layers"]):
        p = f"model.layers.{layer}."
        shapes |= {p + "self_attn.q_proj.weight": (h, h), p + "self_attn.k_proj.weight": (h, h),
                   p + "self_attn.v_proj.weight": (h, h), p + "self_attn.o_proj.weight": (h, h),
                   p + "mlp.gate_proj.weight": (i, h), p + "mlp.up_proj.weight": (i, h),
                   p + "mlp.down_proj.weight": (h, i), p + "input_layernorm.weight": (h,),
                   p + "post_attention_layernorm.weight": (h,)}  # fmt: skip
    shapes |= {"model.norm.weight": (h,), "lm_head.weight": (v, h)}
    return {n: torch.randn(s, generator=g).to(torch.bfloat16) for n, s in shapes.items()}


def write_checkpoint(d: Path, seed: int) -> None:
    """config.json, three shards (embeddings + layer 0 | layer 1 | norm + lm_head) and a real index."""
    d.mkdir(parents=True)
    (d / "config.json").write_text(json.dumps(CONFIG, indent=2))
    tensors = _tensors(seed)
    groups = [
        [n for n in tensors if n.startswith(("model.embed_tokens", "model.layers.0."))],
        [n for n in tensors if n.startswith("model.layers.1.")],
        [n for n in tensors if n in ("model.norm.weight", "lm_head.weight")],
    ]
    weight_map = {}
    for k, names in enumerate(groups, 1):
        shard = f"model-{k:05d}-of-{len(groups):05d}.safetensors"
        save_file({n: tensors[n] for n in names}, str(d / shard), metadata={"format": "pt"})
        weight_map |= {n: shard for n in names}
    total = sum(t.numel() * t.element_size() for t in tensors.values())
    index = {"metadata": {"total_size": total}, "weight_map": dict(sorted(weight_map.items()))}
    (d / "model.safetensors.index.json").write_text(json.dumps(index, indent=2))


def write_chunk(path: Path, n: int) -> None:
    g = torch.Generator().manual_seed(1000 + n)
    rows = torch.randint(0, CONFIG["vocab_size"], (LINES, SEQ_LEN + 1), generator=g).tolist()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps({"token_ids": r, "source": SOURCES[(n + j) % len(SOURCES)]}) + "\n"
                            for j, r in enumerate(rows)))  # fmt: skip


def build_amber_like(root: Path, checkpoints: int = 4, chunks: int = 4) -> Path:
    for n in range(checkpoints):
        write_checkpoint(root / f"ckpt_{n:03d}", seed=n)
    for n in range(chunks):
        write_chunk(root / "data" / "train" / f"train_{n:03d}.jsonl", n)
    (root / "llm360.yaml").write_text(yamlio.dumps(SKELETON))
    return root


@pytest.fixture
def amber(tmp_path) -> Path:
    return build_amber_like(tmp_path / "amber")


def test_init_derives_amber_steps_from_the_chunks(amber):
    result = init_release(amber)
    m = manifest(amber)
    assert list(schemas.validator("manifest").iter_errors(m)) == []
    assert not [n for n in result.notes if n.startswith("still to complete by hand")]
    cks = m["checkpoints"]
    assert [c["path"] for c in cks] == [f"ckpt_{n:03d}" for n in range(4)]
    assert [c["step"] for c in cks] == [3, 6, 9, 12]
    assert [c["revision"] for c in cks] == [f"ckpt_{n:03d}" for n in range(4)]
    assert [c["tokens"] for c in cks] == [c["step"] * BATCH * SEQ_LEN for c in cks]
    assert all(c["state"] == ["weights"] for c in cks)
    for c in cks:
        roles = {f["path"].split("/")[-1]: f["role"] for f in c["files"]}
        assert roles == {"config.json": "config", "model.safetensors.index.json": "weights-index",
                         **{f"model-0000{k}-of-00003.safetensors": "weights" for k in (1, 2, 3)}}  # fmt: skip
        assert all(len(f["sha256"]) == 64 and f["size"] > 0 for f in c["files"])
        assert list(c) == ["step", "tokens", "path", "revision", "state", "files"]  # Amber manifest's order
    chunks = m["data"]["chunks"]
    assert [c["path"] for c in chunks] == [f"data/train/train_{n:03d}.jsonl" for n in range(4)]
    assert [(c["first_step"], c["last_step"]) for c in chunks] == [(1, 3), (4, 6), (7, 9), (10, 12)]
    assert m["data"]["format"]["tokens_per_sequence"] == SEQ_LEN + 1
    assert m["data"]["order"] == {"within_chunk": "unknown"}  # the human's, kept
    assert m["config"] == SKELETON["config"]
    assert any("step of checkpoint N = last step of data chunk N (steps 3 … 12)" in n for n in result.notes)

    report = audit(amber)
    ids = finding_ids(report)
    assert report.criteria["model_checkpoints"].evidence["checkpoints"] == 4
    assert report.criteria["model_checkpoints"].evidence["tensors_checked"] == 4 * 21
    assert not {i for i in ids if i.startswith("checkpoints.")}, report.findings
    assert report.criteria["model_checkpoints"].status == "pass"
    assert "optimizer.not-released" in ids  # Amber released weights only
    assert "data_order.within-chunk-unknown" in ids
    assert not {i for i in ids if i.startswith(("data_order.", "data.", "data_mix."))} - {"data_order.within-chunk-unknown"}
    assert not {i for i in ids if i.startswith(("audit.", "manifest."))}


def test_refresh_of_amber_layout_is_stable(amber):
    init_release(amber)
    before = (amber / "llm360.yaml").read_bytes()
    result = init_release(amber)
    assert result.changes == []
    assert (amber / "llm360.yaml").read_bytes() == before


def test_steps_taken_from_directory_numbers_are_corrected(amber):
    """A manifest written by an earlier init (ckpt_N taken as step N) is repaired, tokens included."""
    init_release(amber)
    m = manifest(amber)
    for n, c in enumerate(m["checkpoints"]):
        c["step"], c["tokens"] = n, n * BATCH * SEQ_LEN
    (amber / "llm360.yaml").write_text(yamlio.dumps(m))
    result = init_release(amber)
    after = manifest(amber)
    assert [(c["step"], c["tokens"]) for c in after["checkpoints"]] == [(s, s * BATCH * SEQ_LEN) for s in (3, 6, 9, 12)]
    assert "checkpoints[step 1] step: 1 → 6 (last step of data chunk data/train/train_001.jsonl; 1 was checkpoint index 1, not a step)" in [str(c) for c in result.changes]
    assert f"checkpoints[step 1] tokens: {BATCH * SEQ_LEN} → {6 * BATCH * SEQ_LEN} (6 × {BATCH} × {SEQ_LEN})" in [str(c) for c in result.changes]


def test_human_steps_are_kept_and_disagreement_is_said(amber):
    init_release(amber)
    m = manifest(amber)
    m["checkpoints"][0]["step"], m["checkpoints"][0]["tokens"] = 2, 2 * BATCH * SEQ_LEN
    (amber / "llm360.yaml").write_text(yamlio.dumps(m))
    result = init_release(amber)
    assert [c["step"] for c in manifest(amber)["checkpoints"]] == [2, 6, 9, 12]
    assert result.changes == []
    assert result.notes == ["ckpt_000: step 2 kept as written; chunk data/train/train_000.jsonl ends at step 3"]


def test_more_checkpoints_than_chunks_leaves_steps_to_the_human(tmp_path):
    root = build_amber_like(tmp_path / "amber", checkpoints=5, chunks=4)
    result = init_release(root)
    m = manifest(root)
    assert [c["path"] for c in m["checkpoints"]] == [f"ckpt_{n:03d}" for n in range(5)]
    assert all("step" not in c and "tokens" not in c for c in m["checkpoints"])  # nothing invented
    assert all(c["revision"] == c["path"] and c["state"] == ["weights"] for c in m["checkpoints"])
    notes = [n for n in result.notes if n.startswith("still to complete by hand: checkpoints[].step")]
    assert notes == ["still to complete by hand: checkpoints[].step of ckpt_000 … ckpt_004 (5) (or pass "
                     "--checkpoint-every STEPS): the names number checkpoints, not steps, and 5 checkpoint directories cannot be paired with 4 "
                     "data chunks (chunk N feeds checkpoint N needs one chunk per checkpoint)"]  # fmt: skip
    assert list(schemas.validator("manifest").iter_errors(m))  # invalid until a human gives the steps
    # The human fills the steps in; the next refresh keeps them and completes the tokens.
    for c, step in zip(m["checkpoints"], (0, 3, 6, 9, 12)):
        c["step"] = step
    (root / "llm360.yaml").write_text(yamlio.dumps(m))
    result = init_release(root)
    after = manifest(root)
    assert [(c["step"], c["tokens"]) for c in after["checkpoints"]] == [(s, s * BATCH * SEQ_LEN) for s in (0, 3, 6, 9, 12)]
    assert not [n for n in result.notes if n.startswith("still to complete by hand")]
    assert list(schemas.validator("manifest").iter_errors(after)) == []


def test_no_batch_size_leaves_steps_to_the_human(tmp_path):
    root = build_amber_like(tmp_path / "amber")
    (root / "llm360.yaml").write_text(yamlio.dumps({k: v for k, v in SKELETON.items() if k != "config"}))
    result = init_release(root)
    m = manifest(root)
    assert all("step" not in c for c in m["checkpoints"])
    assert any(c.startswith("still to complete by hand: checkpoints[].step of ckpt_000 … ckpt_003 (4)")
               and "(config.training.batch_size is not declared)" in c for c in result.notes)  # fmt: skip


def test_step_directories_still_name_steps(tmp_path):
    """step_NNNNNN and HF Trainer's checkpoint-N hold steps, as before."""
    root = tmp_path / "rel"
    write_checkpoint(root / "checkpoint-500", seed=0)
    write_checkpoint(root / "step_001000", seed=1)
    (root / "llm360.yaml").write_text(yamlio.dumps({k: v for k, v in SKELETON.items() if k != "data"}))
    result = init_release(root)
    m = manifest(root)
    assert [(c["path"], c["step"], c["tokens"]) for c in m["checkpoints"]] == [
        ("checkpoint-500", 500, 500 * BATCH * SEQ_LEN), ("step_001000", 1000, 1000 * BATCH * SEQ_LEN)]
    assert all("revision" not in c for c in m["checkpoints"])
    assert "checkpoints: added checkpoint checkpoint-500 (step 500)" in [str(c) for c in result.changes]
