"""The reference trainer: bit-exact resume, byte-identical checkpoints, schedule, clipping, HF parity.

Everything here trains for real on a tiny LLaMA (vocab 256, hidden 32, 2 layers), on the CPU.
"""

from __future__ import annotations

import dataclasses
import json
import os
import random
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors import safe_open

from audit.trainer.environment import diff_fingerprints, fingerprint
from audit.spec.schedule import lr_at
from audit.trainer import CHECKPOINT_FILES, CheckpointError, ModelConfig, StepLog, TrainConfig, Trainer, deterministic
from audit.trainer.determinism import fp32_precision_settings

MODEL = ModelConfig(
    vocab_size=256,
    hidden_size=32,
    intermediate_size=64,
    num_hidden_layers=2,
    num_attention_heads=4,
    num_key_value_heads=2,  # grouped-query attention
    max_position_embeddings=64,
)
TRAIN = TrainConfig(
    peak_lr=3e-3,
    final_lr=3e-4,
    warmup_steps=2,
    total_steps=8,
    batch_size=4,
    sequence_length=16,
    seed=11111,
)
STEPS, RESUME_AT = 6, 3


def make_batches(n: int, train_cfg: TrainConfig = TRAIN, seed: int = 0) -> list[torch.Tensor]:
    """``n`` batches of random token ids, drawn from a private generator (not the global RNGs)."""
    gen = torch.Generator().manual_seed(seed)
    shape = (train_cfg.batch_size, train_cfg.sequence_length + 1)
    return [torch.randint(0, MODEL.vocab_size, shape, generator=gen) for _ in range(n)]


def train(trainer: Trainer, batches: list[torch.Tensor]) -> list[StepLog]:
    """Step through ``batches``, each shuffled with the global RNGs (as a data loader or dropout would
    use them), so that a resume which forgets any generator's state trains differently."""
    logs = []
    for batch in batches:
        rows = torch.randperm(batch.shape[0])
        shift = random.randrange(batch.shape[1]) + int(np.random.randint(batch.shape[1]))
        logs.append(trainer.step(batch[rows].roll(shift, dims=1)))
    return logs


def global_rng_states() -> tuple[object, ...]:
    np_state = np.random.get_state()
    return random.getstate(), np_state[0], np_state[1].tolist(), np_state[2:], torch.get_rng_state().tolist()


def assert_same_training_state(a: Trainer, b: Trainer) -> None:
    params_a, params_b = dict(a.model.named_parameters()), dict(b.model.named_parameters())
    assert params_a.keys() == params_b.keys()
    for name, pa in params_a.items():
        pb = params_b[name]
        assert torch.equal(pa, pb), name
        state_a, state_b = a.optimizer.state[pa], b.optimizer.state[pb]
        assert torch.equal(state_a["exp_avg"], state_b["exp_avg"]), name
        assert torch.equal(state_a["exp_avg_sq"], state_b["exp_avg_sq"]), name
        assert state_a["step"].dtype == state_b["step"].dtype == torch.float32
        assert torch.equal(state_a["step"], state_b["step"]), name
    assert a.step_count == b.step_count


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A checkpoint after RESUME_AT steps (shared; tests that corrupt it work on a copy)."""
    trainer = Trainer(MODEL, TRAIN)
    train(trainer, make_batches(RESUME_AT))
    return trainer.save_checkpoint(tmp_path_factory.mktemp("ckpt") / "step3", data_cursor={"next_batch": RESUME_AT})


@pytest.mark.parametrize("tie", [False, True], ids=["untied", "tied"])
@pytest.mark.parametrize("precision", ["fp32", "bf16-mixed"])
def test_resume_is_bit_exact(tmp_path: Path, precision: str, tie: bool) -> None:
    model_cfg = dataclasses.replace(MODEL, tie_word_embeddings=tie)
    train_cfg = dataclasses.replace(TRAIN, precision=precision)
    batches = make_batches(STEPS)

    straight = Trainer(model_cfg, train_cfg)
    straight_logs = train(straight, batches)
    straight_rng = global_rng_states()

    first = Trainer(model_cfg, train_cfg)
    logs = train(first, batches[:RESUME_AT])
    rng_at_save = global_rng_states()
    ckpt = first.save_checkpoint(tmp_path / "ckpt", data_cursor={"next_batch": RESUME_AT})
    # Disturb every global generator: from_checkpoint must put them back.
    torch.manual_seed(999), random.seed(999), np.random.seed(999)
    resumed = Trainer.from_checkpoint(ckpt)
    assert global_rng_states() == rng_at_save
    assert resumed.unrestored_rng == []
    assert resumed.data_cursor == {"next_batch": RESUME_AT}
    assert resumed.step_count == RESUME_AT
    logs += train(resumed, batches[resumed.data_cursor["next_batch"] :])

    assert logs == straight_logs
    assert all(np.isfinite([log.loss, log.grad_norm]).all() for log in logs)
    assert [log.step for log in logs] == list(range(1, STEPS + 1))
    assert_same_training_state(resumed, straight)
    assert global_rng_states() == straight_rng
    with safe_open(ckpt / "model.safetensors", framework="pt") as f:
        names = set(f.keys())
        assert ("lm_head.weight" in names) is not tie
        assert f.metadata() == {"format": "pt"}
    if tie:
        assert resumed.model.lm_head.weight is resumed.model.model.embed_tokens.weight


def test_resume_in_a_fresh_process_reproduces_the_checkpoint_bytes(checkpoint: Path, tmp_path: Path) -> None:
    """The replay case: a new process, nothing shared but the checkpoint directory."""
    straight = Trainer(MODEL, TRAIN)
    train(straight, make_batches(STEPS))
    expected = straight.save_checkpoint(tmp_path / "straight", data_cursor={"next_batch": STEPS})

    resumed = tmp_path / "resumed"
    script = f"""
import sys
sys.path.insert(0, {str(Path(__file__).parent)!r})
from test_trainer import STEPS, Trainer, make_batches, train
trainer = Trainer.from_checkpoint({str(checkpoint)!r})
train(trainer, make_batches(STEPS)[trainer.data_cursor["next_batch"]:])
trainer.save_checkpoint({str(resumed)!r}, data_cursor={{"next_batch": STEPS}})
"""
    subprocess.run([sys.executable, "-c", script], check=True, timeout=120)
    for name in CHECKPOINT_FILES:
        assert (resumed / name).read_bytes() == (expected / name).read_bytes(), name


def test_bf16_mixed_changes_the_numerics() -> None:
    """Guards the bf16 resume test: autocast must really be on, or it only re-tests fp32."""
    batches = make_batches(2)
    fp32 = train(Trainer(MODEL, TRAIN), batches)
    bf16 = train(Trainer(MODEL, dataclasses.replace(TRAIN, precision="bf16-mixed")), batches)
    assert [log.loss for log in fp32] != [log.loss for log in bf16]


def test_identical_runs_give_byte_identical_checkpoints(tmp_path: Path) -> None:
    dirs = []
    for run in ("a", "b"):
        trainer = Trainer(MODEL, TRAIN)
        train(trainer, make_batches(RESUME_AT))
        dirs.append(trainer.save_checkpoint(tmp_path / run, data_cursor={"next_batch": RESUME_AT}))
    for name in CHECKPOINT_FILES:
        assert (dirs[0] / name).read_bytes() == (dirs[1] / name).read_bytes(), name


def test_checkpoint_holds_only_json_and_safetensors(checkpoint: Path) -> None:
    assert sorted(p.name for p in checkpoint.iterdir()) == sorted(CHECKPOINT_FILES)
    for path in checkpoint.iterdir():
        assert path.suffix in (".json", ".safetensors")
        head = path.read_bytes()[:2]
        assert head[:1] != b"\x80" and head != b"PK", f"{path.name} looks like a pickle / torch.save zip"
    state = json.loads((checkpoint / "training_state.json").read_text())
    assert state["step"] == RESUME_AT
    assert state["tokens_seen"] == RESUME_AT * TRAIN.batch_size * TRAIN.sequence_length
    assert state["optimizer"]["step"] == RESUME_AT
    assert state["scheduler"]["last_step"] == RESUME_AT
    assert set(state["rng"]) == {"python", "numpy", "torch_cpu", "torch_cuda"}
    assert TrainConfig.from_dict(state["train_config"]) == TRAIN
    with safe_open(checkpoint / "optimizer.safetensors", framework="pt") as f:
        names = dict(Trainer(MODEL, TRAIN).model.named_parameters())
        assert set(f.keys()) == {f"{k}.{n}" for k in ("exp_avg", "exp_avg_sq") for n in names}


def test_learning_rate_follows_the_schedule() -> None:
    trainer = Trainer(MODEL, TRAIN)
    logs = train(trainer, make_batches(TRAIN.total_steps + 1))  # one step past the end: stays at final_lr
    expected = [
        lr_at(
            step,
            schedule=TRAIN.schedule,
            peak_lr=TRAIN.peak_lr,
            final_lr=TRAIN.final_lr,
            warmup_steps=TRAIN.warmup_steps,
            total_steps=TRAIN.total_steps,
        )
        for step in range(1, TRAIN.total_steps + 2)
    ]
    assert [log.learning_rate for log in logs] == expected
    assert trainer.optimizer.param_groups[0]["lr"] == expected[-1]


def test_gradients_are_clipped_before_the_update() -> None:
    clip = 1e-10
    train_cfg = dataclasses.replace(TRAIN, grad_clip=clip, weight_decay=0.0)
    trainer = Trainer(MODEL, train_cfg)
    norms_seen_by_optimizer: list[float] = []

    def record_grad_norm(optimizer: torch.optim.Optimizer, args: object, kwargs: object) -> None:
        grads = [p.grad for group in optimizer.param_groups for p in group["params"]]
        norms_seen_by_optimizer.append(torch.linalg.vector_norm(torch.stack([g.norm() for g in grads])).item())

    trainer.optimizer.register_step_pre_hook(record_grad_norm)
    before = {n: p.detach().clone() for n, p in trainer.model.named_parameters()}
    log = trainer.step(make_batches(1)[0])
    assert log.grad_norm > 1.0  # the logged norm is the pre-clip one
    assert norms_seen_by_optimizer[0] <= clip * 1.001
    # AdamW's first update is lr * g / (|g| + eps), so clipped gradients bound it by lr * clip / eps.
    bound = log.learning_rate * clip / train_cfg.eps
    moved = max((p.detach() - before[n]).abs().max().item() for n, p in trainer.model.named_parameters())
    assert 0 < moved <= bound * 1.001

    unclipped = Trainer(MODEL, dataclasses.replace(train_cfg, grad_clip=1e9))
    unclipped.step(make_batches(1)[0])
    moved_unclipped = max((p.detach() - before[n]).abs().max().item() for n, p in unclipped.model.named_parameters())
    assert moved_unclipped > 50 * bound


@pytest.mark.parametrize("tie", [False, True], ids=["untied", "tied"])
def test_checkpoint_loads_in_transformers_with_equal_logits(tmp_path: Path, tie: bool) -> None:
    transformers = pytest.importorskip("transformers")
    model_cfg = dataclasses.replace(MODEL, tie_word_embeddings=tie)
    trainer = Trainer(model_cfg, TRAIN)
    train(trainer, make_batches(2))
    ckpt = trainer.save_checkpoint(tmp_path / "ckpt", data_cursor={})

    hf, info = transformers.LlamaForCausalLM.from_pretrained(
        ckpt, output_loading_info=True, attn_implementation="eager"
    )
    assert not info["missing_keys"] and not info["unexpected_keys"] and not info.get("mismatched_keys")
    assert hf.dtype == torch.float32
    assert (hf.lm_head.weight is hf.model.embed_tokens.weight) is tie
    input_ids = make_batches(1, seed=42)[0]
    with torch.no_grad():
        ours, theirs = trainer.model(input_ids), hf(input_ids).logits
    torch.testing.assert_close(theirs, ours, rtol=0, atol=1e-5)


def _delete_optimizer(ckpt: Path) -> None:
    (ckpt / "optimizer.safetensors").unlink()


def _drop_state_key(key: str):
    def corrupt(ckpt: Path) -> None:
        state = json.loads((ckpt / "training_state.json").read_text())
        del state[key]
        (ckpt / "training_state.json").write_text(json.dumps(state))

    return corrupt


def _truncate_weights(ckpt: Path) -> None:
    data = (ckpt / "model.safetensors").read_bytes()
    (ckpt / "model.safetensors").write_bytes(data[: len(data) // 2])


def _shrink_config(ckpt: Path) -> None:
    config = json.loads((ckpt / "config.json").read_text())
    config["num_hidden_layers"] = 1  # the weights of layer 1 become unexpected
    (ckpt / "config.json").write_text(json.dumps(config))


def _break_python_rng(ckpt: Path) -> None:
    state = json.loads((ckpt / "training_state.json").read_text())
    state["rng"]["python"]["state"] = state["rng"]["python"]["state"][:10]
    (ckpt / "training_state.json").write_text(json.dumps(state))


def _garble_state_json(ckpt: Path) -> None:
    (ckpt / "training_state.json").write_text("{not json")


@pytest.mark.parametrize(
    ("corrupt", "file", "detail"),
    [
        (_delete_optimizer, "optimizer.safetensors", "missing"),
        (_drop_state_key("rng"), "training_state.json", "rng"),
        (_drop_state_key("data_cursor"), "training_state.json", "data_cursor"),
        (_truncate_weights, "model.safetensors", "safetensors"),
        (_shrink_config, "model.safetensors", "model.layers.1"),
        (_break_python_rng, "training_state.json", "rng.python"),
        (_garble_state_json, "training_state.json", "JSON"),
    ],
    ids=["no-optimizer", "no-rng", "no-cursor", "truncated-weights", "config-mismatch", "bad-rng", "bad-json"],
)
def test_from_checkpoint_refuses_a_broken_checkpoint(
    checkpoint: Path, tmp_path: Path, corrupt, file: str, detail: str
) -> None:
    broken = Path(shutil.copytree(checkpoint, tmp_path / "broken"))
    corrupt(broken)
    with pytest.raises(CheckpointError) as excinfo:
        Trainer.from_checkpoint(broken)
    message = str(excinfo.value)
    assert file in message and detail in message
    assert isinstance(excinfo.value, ValueError)


def test_configs_round_trip() -> None:
    hf = MODEL.to_hf_config()
    assert hf["architectures"] == ["LlamaForCausalLM"] and hf["model_type"] == "llama"
    assert ModelConfig.from_hf_config(json.loads(json.dumps(hf))) == MODEL
    assert TrainConfig.from_dict(json.loads(json.dumps(TRAIN.to_dict()))) == TRAIN
    with pytest.raises(ValueError, match="rope_scaling"):
        ModelConfig.from_hf_config({**hf, "rope_scaling": {"rope_type": "linear", "factor": 2.0}})
    with pytest.raises(ValueError, match="missing"):
        TrainConfig.from_dict({"peak_lr": 1e-3})


def test_deterministic_restores_previous_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CUBLAS_WORKSPACE_CONFIG", ":16:8")
    saved_threads = torch.get_num_threads()
    saved_algorithms = torch.are_deterministic_algorithms_enabled()
    saved_warn_only = torch.is_deterministic_algorithms_warn_only_enabled()
    try:
        torch.use_deterministic_algorithms(False)
        torch.set_num_threads(2)
        precision_before = fp32_precision_settings()
        with pytest.raises(RuntimeError, match="boom"), deterministic(num_threads=1):
            assert torch.are_deterministic_algorithms_enabled()
            assert os.environ["CUBLAS_WORKSPACE_CONFIG"] == ":4096:8"
            assert set(fp32_precision_settings().values()) == {"ieee"}
            assert torch.get_num_threads() == 1
            raise RuntimeError("boom")  # settings come back even when the body fails
        assert not torch.are_deterministic_algorithms_enabled()
        assert os.environ["CUBLAS_WORKSPACE_CONFIG"] == ":16:8"
        assert fp32_precision_settings() == precision_before
        assert torch.get_num_threads() == 2

        monkeypatch.delenv("CUBLAS_WORKSPACE_CONFIG")
        torch.use_deterministic_algorithms(True, warn_only=True)
        with deterministic(num_threads=1):
            assert not torch.is_deterministic_algorithms_warn_only_enabled()
        assert "CUBLAS_WORKSPACE_CONFIG" not in os.environ
        assert torch.is_deterministic_algorithms_warn_only_enabled()
    finally:
        torch.set_num_threads(saved_threads)
        torch.use_deterministic_algorithms(saved_algorithms, warn_only=saved_warn_only)


def test_environment_fingerprint_is_stable_and_diffable(checkpoint: Path) -> None:
    fp = fingerprint("cpu", "fp32")
    assert fp == fingerprint("cpu", "fp32")
    assert fp["device_type"] == "cpu" and fp["torch_version"] == torch.__version__
    assert diff_fingerprints(fp, fp) == []
    assert diff_fingerprints(fp, {**fp, "num_threads": fp["num_threads"] + 1, "extra": 1}) == ["extra", "num_threads"]
    recorded = json.loads((checkpoint / "training_state.json").read_text())["environment"]
    assert recorded["deterministic_algorithms"] is True
    assert recorded["num_threads"] == TRAIN.num_threads
    assert recorded["cublas_workspace_config"] == ":4096:8"
