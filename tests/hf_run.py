"""A real Hugging Face Trainer run, shared by tests/test_hf_trainer.py and tests/test_hf_replay.py: a tiny
Llama trained 12 steps (checkpoints 4, 8, 12) with transformers' own Trainer over 40 sequences, 10 steps an
epoch: between checkpoints 8 and 12 the Trainer starts its second epoch (a new permutation of the 40 from
its seeded sampler, a new DataLoader iterator). Its data is released beside it: ``data/train.jsonl`` (the
sequences in the dataset's own indexing) and ``data/global_indices.npy`` (the dataset index of each
sequence the Trainer's sampler fed it, in training order, epoch after epoch, recorded by the dataset as the
Trainer read it)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

STEPS, SAVE_EVERY, BATCH, SEQUENCES = 12, 4, 4, 40
CHECKPOINTS = [f"checkpoint-{s}" for s in range(SAVE_EVERY, STEPS + 1, SAVE_EVERY)]

TRAIN = f"SEQUENCES = {SEQUENCES}\n" + textwrap.dedent("""
    import json, os, sys, numpy, torch
    from transformers import LlamaConfig, LlamaForCausalLM, Trainer, TrainingArguments
    out = sys.argv[1]
    g = torch.Generator().manual_seed(0)
    rows = torch.randint(0, 128, (SEQUENCES, 16), generator=g).tolist()

    class Recorded(torch.utils.data.Dataset):
        # the sequences as the Trainer reads them; which ones it read, in order
        def __init__(self):
            self.seen = []
        def __len__(self):
            return len(rows)
        def __getitem__(self, i):
            self.seen.append(i)
            return {"input_ids": rows[i], "labels": rows[i]}

    data = Recorded()
    torch.manual_seed(0)
    model = LlamaForCausalLM(LlamaConfig(vocab_size=128, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                                         num_attention_heads=4, num_key_value_heads=4, max_position_embeddings=64))
    args = TrainingArguments(output_dir=out, max_steps=12, save_steps=4, logging_steps=1, seed=0,
                             per_device_train_batch_size=4, learning_rate=1e-3, warmup_steps=2,
                             lr_scheduler_type="linear", report_to="none", use_cpu=True, dataloader_num_workers=0)
    Trainer(model=model, args=args, train_dataset=data).train()
    os.makedirs(f"{out}/data")
    with open(f"{out}/data/train.jsonl", "w") as f:
        f.writelines(json.dumps({"token_ids": r}) + "\\n" for r in rows)
    # the Trainer fetches one batch ahead: keep the sequences of the steps it trained
    numpy.save(f"{out}/data/global_indices.npy", numpy.array(data.seen[:12 * 4], dtype=numpy.int64))
""")


def train(out: Path) -> None:
    """Train the run into ``out`` (in a subprocess: the Trainer's global state stays out of pytest)."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false",
           "OMP_NUM_THREADS": "1"}  # fmt: skip
    r = subprocess.run([sys.executable, "-c", TRAIN, str(out)], capture_output=True, text=True, timeout=300, env=env)
    assert r.returncode == 0, r.stderr[-3000:]


if __name__ == "__main__":  # python tests/hf_run.py OUT_DIR: the run, as README "Bring your own release" shows
    train(Path(sys.argv[1]))
