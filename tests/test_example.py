"""The example release: really trained, reproducible byte for byte, small, loadable by transformers."""

from __future__ import annotations

import filecmp
import json

import pytest

from audit.example.build import build_example
from conftest import REPO

COMMITTED = REPO / "examples" / "tiny-release"


def _tree(root):
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())


def test_two_builds_are_byte_identical(built_release, tmp_path):
    second = tmp_path / "again"
    build_example(second)
    assert _tree(second) == _tree(built_release)
    differing = [p for p in _tree(built_release) if not filecmp.cmp(built_release / p, second / p, shallow=False)]
    assert differing == []


def test_committed_example_matches_a_fresh_build_where_no_float_math_is_involved(built_release):
    """Data, code bundle and configs do not depend on the CPU's arithmetic; checkpoints may."""
    assert _tree(COMMITTED) == _tree(built_release)
    for rel in ["code/training-code.bundle", "config.json", "LICENSE", *[f"data/train_{i:03d}.jsonl" for i in range(7)]]:
        assert (COMMITTED / rel).read_bytes() == (built_release / rel).read_bytes(), rel


def test_committed_example_is_small():
    assert sum((COMMITTED / p).stat().st_size for p in _tree(COMMITTED)) < 5_000_000


def test_training_really_happened(built_release):
    log = [json.loads(line) for line in (built_release / "logs" / "train_log.jsonl").read_text().splitlines()]
    assert len(log) == 28
    assert log[-1]["loss"] < log[0]["loss"] - 1.0  # byte-level loss starts near ln(256) ≈ 5.5
    evals = [json.loads(line) for line in (built_release / "evals" / "evaluations.jsonl").read_text().splitlines()]
    prose = [e["value"] for e in evals if e["task"] == "heldout_prose"]
    assert len(prose) == 8 and prose[-1] < prose[0]


def test_final_checkpoint_loads_in_transformers():
    transformers = pytest.importorskip("transformers")
    import torch

    from audit.trainer import Trainer

    ckpt = COMMITTED / "checkpoints" / "step_000028"
    model, info = transformers.LlamaForCausalLM.from_pretrained(ckpt, output_loading_info=True,
                                                                attn_implementation="eager")  # fmt: skip
    assert info["missing_keys"] in ([], set()) and info["unexpected_keys"] in ([], set())
    ours = Trainer.from_checkpoint(ckpt).model.eval()
    ids = torch.tensor([list(b"The quick brown fox jumps over the lazy dog")])
    with torch.no_grad():
        assert torch.allclose(model(ids).logits, ours(ids), atol=1e-5)


def test_the_shipped_example_was_trained_by_the_current_training_code():
    """The quick start replays the shipped example: trained by other code, it is a different environment
    (``within-tolerance`` with ``trainer_code`` named) instead of the bit-exact replay it should show."""
    from audit.trainer.environment import trainer_code_digest

    recorded = {json.loads(p.read_text())["environment"]["trainer_code"]
                for p in COMMITTED.glob("checkpoints/*/training_state.json")}  # fmt: skip
    assert recorded == {trainer_code_digest()}, (
        "the trainer's arithmetic code changed since examples/tiny-release was built: "
        "rebuild it with `llm360-audit example build examples/tiny-release --force`")
