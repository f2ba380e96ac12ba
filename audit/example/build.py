"""``llm360-audit example build DIR``: train a tiny LLaMA for real and write a complete release.

Layout (Amber-shaped, scaled down): one data chunk per checkpoint interval (chunk N feeds the steps
up to checkpoint N+1), checkpoints with the full training state, a per-step log, held-out loss per
checkpoint, the training code as a git bundle at a pinned commit, and llm360.yaml written by
``llm360-audit init``. Building twice on one machine gives byte-identical files.
"""

from __future__ import annotations

import json
import shutil
import random
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

import git
import torch
import torch.nn.functional as F

from audit import __version__
from audit.readers import yamlio
from audit.spec.names import MANIFEST_NAME
from audit.example.data import SOURCES, mix, split_corpus, write_chunk
from audit.frameworks.reference import hyperparameters_from_trainer
from audit.init import init_release
from audit.trainer import ModelConfig, TrainConfig, Trainer, deterministic

MODEL = ModelConfig(
    vocab_size=256, hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
    num_key_value_heads=4, max_position_embeddings=64, rms_norm_eps=1e-6, rope_theta=10000.0,
)  # fmt: skip
TRAIN = TrainConfig(
    peak_lr=3e-3, final_lr=3e-4, warmup_steps=4, total_steps=28, batch_size=8, sequence_length=64,
    seed=11111, betas=(0.9, 0.95), eps=1e-8, weight_decay=0.1, grad_clip=1.0, precision="fp32", num_threads=1,
)  # fmt: skip
CHECKPOINT_EVERY = 4


@dataclass(frozen=True)
class Variant:
    """What a built release is: the committed example by default. ``data="text-then-random"`` keeps the first
    ``text_tokens`` of each text sequence and fills the rest with uniform random bytes (unique, so only
    training on that very sequence lowers its loss); ``weights_only`` keeps
    only each checkpoint's config.json and model.safetensors, as Amber and Pythia publish them."""

    model: ModelConfig = MODEL
    train: TrainConfig = TRAIN
    data: str = "corpus"  # corpus | text-then-random
    text_tokens: int = 16  # text-then-random: tokens of text before the random ones
    weights_only: bool = False
    data_seed: int | None = None  # seed of the data shuffle and random bytes; None: the training seed
    extra: dict = field(default_factory=dict)  # manifest keys merged over the skeleton


#: The weights-only fixture of the forensics tests (issue 13): 115k parameters, sized in BENCHMARKS.md
#: ("Order test") so that one pass over a sequence leaves a measurable trace.
FORENSICS = Variant(
    model=replace(MODEL, hidden_size=64, intermediate_size=128),
    train=replace(TRAIN, batch_size=16, peak_lr=2e-2, final_lr=2e-3),
    data="text-then-random", weights_only=True,
)  # fmt: skip
COMMIT_DATE = "1767225600 +0000"  # 2026-01-01T00:00:00Z
AUTHOR = git.Actor("llm360-audit example", "example@llm360-audit.invalid")

TRAIN_SCRIPT = '''"""Train the llm360-audit example release: `python train.py OUT_DIR`.

The trainer is llm360-audit's reference trainer (audit.trainer) at the version pinned in
requirements.txt; the hyperparameters are configs/train.yaml and the model is configs/model.json.
"""

import sys
from pathlib import Path

from audit.example.build import build_example

if __name__ == "__main__":
    build_example(Path(sys.argv[1]))
'''
PREPARE_SCRIPT = '''"""Rebuild the example's data chunks: byte-level tokens of the shipped corpus (audit/example/corpus),
65-token sequences, the last 10% of each source held out, a seeded shuffle (seed 11111), 32 sequences
per chunk. See audit/example/data.py in llm360-audit at the version pinned in requirements.txt.
"""
'''


def _chunk_name(i: int) -> str:
    return f"data/train_{i:03d}.jsonl"


def _held_out_loss(trainer: Trainer, sequences: list[list[int]]) -> float:
    with deterministic(trainer.train_cfg.num_threads), torch.no_grad():
        batch = torch.tensor(sequences, dtype=torch.long)
        logits = trainer.model(batch[:, :-1])
        return F.cross_entropy(logits.float().flatten(0, 1), batch[:, 1:].flatten()).item()


def _write_json(path: Path, data) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")


def _code_bundle(root: Path, work: Path, v: Variant) -> str:
    """Commit the training code with fixed dates, bundle it into the release; return the commit."""
    repo_dir = work / "code-repo"
    repo = git.Repo.init(repo_dir, initial_branch="main")
    files = {
        "README.md": "# Training code of the llm360-audit example release\n\n`python train.py OUT_DIR`\n",
        "train.py": TRAIN_SCRIPT,
        "prepare_data.py": PREPARE_SCRIPT,
        "requirements.txt": f"llm360-audit=={__version__}\n",
        "configs/train.yaml": yamlio.dumps(hyperparameters_from_trainer(v.train.to_dict())),
        "configs/model.json": json.dumps(v.model.to_hf_config(), indent=2, sort_keys=True) + "\n",
    }
    for name, text in files.items():
        (repo_dir / name).parent.mkdir(parents=True, exist_ok=True)
        (repo_dir / name).write_text(text)
    repo.index.add(sorted(files))
    commit = repo.index.commit("Training code of the example release", author=AUTHOR, committer=AUTHOR,
                               author_date=COMMIT_DATE, commit_date=COMMIT_DATE)  # fmt: skip
    (root / "code").mkdir()
    repo.git.bundle("create", str(root / "code" / "training-code.bundle"), "HEAD", "main")
    repo.close()
    return commit.hexsha


def _manifest_skeleton(commit: str, v: Variant) -> dict:
    """What a human declares; `init` adds every fact it can measure."""
    return {
        "spec_version": "1.0",
        "name": "llm360-audit tiny example",
        "description": "A 2-layer byte-level LLaMA trained for 28 steps on a small corpus, released the LLM360 way.",
        "license": {"id": "Apache-2.0", "file": "LICENSE"},
        "code": {"repo": "code/training-code.bundle", "commit": commit, "entrypoint": "train.py",
                 "training_config": "configs/train.yaml", "model_config": "configs/model.json",
                 "data_processing": "prepare_data.py"},
        "config": {"model": "config.json", "training": hyperparameters_from_trainer(v.train.to_dict())},
        "data": {"order": {"within_chunk": "sequential",
                           "description": f"chunk N feeds steps 4N+1..4N+4; step s takes the next {v.train.batch_size} lines"}},
        "metrics": {"evaluations": {"path": "evals/evaluations.jsonl", "tasks": [f"heldout_{s}" for s in SOURCES + ("random",) * (v.data != "corpus")]}},
    }  # fmt: skip


def _sequences(v: Variant, count: int) -> tuple[list[tuple[str, list[int]]], dict[str, list[list[int]]]]:
    """(the training sequences in training order, the held-out sequences per source)."""
    seq_tokens = v.train.sequence_length + 1
    train, held_out = split_corpus(seq_tokens)
    seed = v.train.seed if v.data_seed is None else v.data_seed
    if v.data == "corpus":
        return mix(train, count, seed), held_out
    rng = random.Random(seed + 1)
    half = v.text_tokens
    text = mix(train, count, seed)

    def noise(n: int) -> list[int]:
        return [rng.randrange(v.model.vocab_size) for _ in range(n)]

    held_out["random"] = [ids[:half] + noise(seq_tokens - half) for ids in held_out["prose"][:16]]
    return [(source, ids[:half] + noise(seq_tokens - half)) for source, ids in text], held_out


def build_example(directory: Path, progress: Callable[[str], None] = lambda _: None, variant: Variant | None = None) -> None:
    directory = Path(directory)
    v = variant or Variant()
    TRAIN = v.train  # noqa: N806
    with tempfile.TemporaryDirectory(prefix="llm360-example-") as tmp:
        work = Path(tmp)
        root = work / "release"
        root.mkdir()
        seq_tokens = TRAIN.sequence_length + 1
        per_chunk = CHECKPOINT_EVERY * TRAIN.batch_size
        n_chunks = TRAIN.total_steps // CHECKPOINT_EVERY
        sequences, held_out = _sequences(v, n_chunks * per_chunk)
        chunks = [sequences[i * per_chunk : (i + 1) * per_chunk] for i in range(n_chunks)]
        for i, chunk in enumerate(chunks):
            write_chunk(root / _chunk_name(i), chunk)
        progress(f"wrote {n_chunks} data chunks of {per_chunk} sequences × {seq_tokens} tokens")

        trainer = Trainer(v.model, TRAIN)
        log_lines, eval_lines = [], []

        def checkpoint(step: int) -> None:
            chunk = min(step // CHECKPOINT_EVERY, n_chunks - 1)
            cursor = {"chunk": _chunk_name(chunk), "sequence": (step - chunk * CHECKPOINT_EVERY) * TRAIN.batch_size,
                      "sequences_consumed": step * TRAIN.batch_size}  # fmt: skip
            trainer.save_checkpoint(root / "checkpoints" / f"step_{step:06d}", data_cursor=cursor)
            for source in held_out:
                loss = _held_out_loss(trainer, held_out[source])
                eval_lines.append({"step": step, "task": f"heldout_{source}", "metric": "loss", "value": loss})

        checkpoint(0)
        for step in range(1, TRAIN.total_steps + 1):
            chunk, offset = divmod(step - 1, CHECKPOINT_EVERY)
            rows = chunks[chunk][offset * TRAIN.batch_size : (offset + 1) * TRAIN.batch_size]
            log = trainer.step(torch.tensor([ids for _, ids in rows], dtype=torch.long))
            log_lines.append({"step": log.step, "loss": log.loss, "learning_rate": log.learning_rate,
                              "grad_norm": log.grad_norm})  # fmt: skip
            if step % CHECKPOINT_EVERY == 0:
                checkpoint(step)
                progress(f"step {step}: loss {log.loss:.4f}, checkpoint written")

        for rel, lines in (("logs/train_log.jsonl", log_lines), ("evals/evaluations.jsonl", eval_lines)):
            (root / rel).parent.mkdir(parents=True, exist_ok=True)
            (root / rel).write_text("".join(json.dumps(line, sort_keys=True) + "\n" for line in lines))
        _write_json(root / "config.json", v.model.to_hf_config())
        (root / "LICENSE").write_text(_license_text())
        (root / "README.md").write_text(_model_card())
        commit = _code_bundle(root, work, v)
        if v.weights_only:  # what Amber and Pythia publish: no optimizer, RNG or data-cursor state
            for ck in (root / "checkpoints").iterdir():
                for name in ("optimizer.safetensors", "training_state.json"):
                    (ck / name).unlink()
        (root / MANIFEST_NAME).write_text(yamlio.dumps({**_manifest_skeleton(commit, v), **v.extra}))
        init_release(root)
        progress("manifest written by llm360-audit init")

        if directory.exists():
            shutil.rmtree(directory)
        directory.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(str(root), str(directory))


def _license_text() -> str:
    return (
        "Apache License, Version 2.0 (https://www.apache.org/licenses/LICENSE-2.0)\n\n"
        "The weights, logs and code of this example release are licensed under the Apache License 2.0.\n"
        "The training text includes public-domain works; see audit/example/corpus/SOURCES.md in llm360-audit.\n"
    )


def _model_card() -> str:
    return (
        "# llm360-audit tiny example release\n\n"
        "A 2-layer, 32-wide byte-level LLaMA (vocab 256) trained for 28 steps, released with everything LLM360\n"
        "asks for: training code at a pinned commit (`code/training-code.bundle`), hyperparameters, every\n"
        "checkpoint with its optimizer, scheduler, RNG and data-cursor state (safetensors + JSON, no pickle),\n"
        "the data chunks (`data/`, Amber's JSONL layout) with their order, the per-step log and held-out\n"
        "evaluations per checkpoint. Audit it with `llm360-audit .`.\n"
    )
