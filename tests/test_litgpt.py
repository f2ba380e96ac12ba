"""LitGPT output, from a real run: ``litgpt pretrain`` (litgpt 0.5.x, its own CLI) trains a 2-layer
LLaMA-style model for 24 steps on CPU with a checkpoint every 6 steps and the CSV logger; ``init``
maps its ``step-*/`` and ``final/`` directories to a manifest with no hand editing, and the audit
reads every ``lit_model.pth`` (a pickle: statically scanned, then opened with
torch.load(weights_only=True)) for its step, its tensors and its AdamW moments, and the CSV log's
learning rate against LitGPT's own schedule."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import manifest, run_cli, write_manifest

pytest.importorskip("litgpt", reason="litgpt is not installed (pip install --no-deps litgpt==0.5.13 lightning "
                                     "'jsonargparse[signatures]>=4.37,<=4.41' psutil requests; see README)")  # fmt: skip

RUN = Path(__file__).resolve().parent / "litgpt_run"
STEPS, SAVE_EVERY = 24, 6
CHECKPOINTS = [f"step-{s:08d}" for s in range(SAVE_EVERY, STEPS + 1, SAVE_EVERY)] + ["final"]
TENSORS = 17  # wte, lm_head, ln_f, and 7 per block


@pytest.fixture(scope="session")
def litgpt_run(tmp_path_factory) -> Path:
    """One real ``litgpt pretrain`` run per session, kept exactly as LitGPT wrote it. The data module
    (tests/litgpt_run/tinydata.py: seeded token ids, no download, no tokenizer) lies outside the release;
    TORCHDYNAMO_DISABLE makes pretrain's torch.compile a no-op (no C++ build on CPU)."""
    out = tmp_path_factory.mktemp("litgpt") / "release"
    env = {**os.environ, "PYTHONPATH": str(RUN), "TORCHDYNAMO_DISABLE": "1", "HF_HUB_OFFLINE": "1",
           "OMP_NUM_THREADS": "1", "CUDA_VISIBLE_DEVICES": ""}  # fmt: skip
    cmd = [sys.executable, "-m", "litgpt", "pretrain", "tiny-llama", "--config", str(RUN / "pretrain.yaml"),
           "--out_dir", str(out)]  # fmt: skip
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=600, env=env, cwd=out.parent)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-3000:]
    return out


@pytest.fixture
def run_copy(litgpt_run, tmp_path) -> Path:
    dst = tmp_path / "release"
    shutil.copytree(litgpt_run, dst)
    return dst


def test_the_run_is_litgpt_layout(litgpt_run):
    for name in CHECKPOINTS:
        assert {p.name for p in (litgpt_run / name).iterdir()} >= {"lit_model.pth", "hyperparameters.yaml",
                                                                   "model_config.yaml"}  # fmt: skip
    rows = (litgpt_run / "logs/csv/version_0/metrics.csv").read_text().splitlines()
    assert len(rows) == STEPS + 1 and "iter" in rows[0].split(",")
