"""Replay overhead for the Hugging Face Trainer: the whole llm360-audit replay of one K-step segment against
transformers' own Trainer resuming from the same checkpoint for the same K steps, in one process, on one
thread.

    python benchmarks/replay_overhead_hf.py [--layers 4] [--hidden 256] [--steps 16] [--repeats 3]

The benchmark trains its own release with transformers' Trainer (2K steps, checkpoint-K and
checkpoint-2K, the data and the order the Trainer fed it), writes the manifest with ``init``, then
times, alternately and ``--repeats`` times each:
  transformers  AutoModelForCausalLM.from_pretrained(checkpoint-K), Trainer(... the run's own
                TrainingArguments and dataset) .train(resume_from_checkpoint=checkpoint-K): K steps and
                the save of checkpoint-2K (transformers' import excluded, as for the audit);
  audit         Auditor().audit(release, --replay 1 --no-hash): manifest, structural checks (every
                pickle scanned and loaded weights-only), the scanned copy, the Trainer's K steps and
                save, comparing every tensor of model, optimizer, scheduler and RNG state.
Goal: median(audit) / median(transformers) <= 1.15.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

from overhead import parser  # benchmarks/overhead.py
from installed import as_installed  # the benchmarks' directory: run as python benchmarks/replay_overhead_hf.py

for var in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_HUB_DISABLE_TELEMETRY"):
    os.environ[var] = "1"

import numpy as np  # noqa: E402
import torch  # noqa: E402
from transformers import AutoModelForCausalLM, LlamaConfig, LlamaForCausalLM, Trainer, TrainingArguments  # noqa: E402
from transformers.utils import logging as hf_logging  # noqa: E402

from audit.core.auditor import Auditor  # noqa: E402
from audit.core.options import AuditOptions, ScopeOptions  # noqa: E402
from audit.init import init_release  # noqa: E402
from audit.replay import ReplayOptions  # noqa: E402


class Recorded(torch.utils.data.Dataset):
    """The sequences as the Trainer reads them, and which ones it read, in order."""

    def __init__(self, rows: list[list[int]]):
        self.rows, self.seen = rows, []

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, i: int) -> dict:
        self.seen.append(i)
        return {"input_ids": self.rows[i], "labels": self.rows[i]}


def arguments(out: Path, a: argparse.Namespace) -> TrainingArguments:
    return TrainingArguments(output_dir=str(out), max_steps=2 * a.steps, save_steps=a.steps, logging_steps=1, seed=0,
                             per_device_train_batch_size=a.batch, learning_rate=1e-3, warmup_steps=2,
                             lr_scheduler_type="linear", report_to="none", use_cpu=True, dataloader_num_workers=0,
                             disable_tqdm=True)  # fmt: skip


def build(root: Path, a: argparse.Namespace) -> list[list[int]]:
    g = torch.Generator().manual_seed(0)
    rows = torch.randint(0, 256, (2 * a.steps * a.batch, a.seq + 1), generator=g).tolist()
    data = Recorded(rows)
    torch.manual_seed(0)
    heads = a.hidden // 64 or 1
    model = LlamaForCausalLM(LlamaConfig(vocab_size=256, hidden_size=a.hidden, intermediate_size=a.hidden * 8 // 3 // 8 * 8,
                                         num_hidden_layers=a.layers, num_attention_heads=heads,
                                         num_key_value_heads=heads, max_position_embeddings=a.seq + 1))  # fmt: skip
    Trainer(model=model, args=arguments(root, a), train_dataset=data).train()
    (root / "data").mkdir()
    with open(root / "data" / "train.jsonl", "w") as f:
        f.writelines(json.dumps({"token_ids": r}) + "\n" for r in rows)
    np.save(root / "data" / "global_indices.npy", np.array(data.seen[: 2 * a.steps * a.batch], dtype=np.int64))
    init_release(root)
    return rows


def main() -> int:
    ap = parser(__doc__)
    a = ap.parse_args()
    as_installed()
    torch.set_num_threads(1)
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "release"
        rows = build(root, a)
        start = root / f"checkpoint-{a.steps}"
        options = AuditOptions(scope=ScopeOptions(hash_files=False), replay=ReplayOptions(mode="1"))
        base, full = [], []
        for i in range(a.repeats):
            t0 = time.perf_counter()
            model = AutoModelForCausalLM.from_pretrained(str(start))
            trainer = Trainer(model=model, args=arguments(Path(tmp) / f"resumed-{i}", a), train_dataset=Recorded(rows))
            trainer.train(resume_from_checkpoint=str(start))
            base.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            report = Auditor().audit(root, options)
            full.append(time.perf_counter() - t0)
            seg = report.replay.segments[0]
            assert seg.status == "bit-exact", seg
    params = sum(p.numel() for p in model.parameters())
    ratio = statistics.median(full) / statistics.median(base)
    import transformers

    print(f"model: Llama {a.layers} layers × {a.hidden} wide, {params / 1e6:.2f} M parameters; {a.steps} steps of "
          f"{a.batch} × {a.seq + 1} tokens; transformers {transformers.__version__}, torch {torch.__version__}, 1 thread")  # fmt: skip
    print(f"transformers' own resume: median {statistics.median(base):.3f} s  ({', '.join(f'{t:.3f}' for t in base)})")
    print(f"llm360-audit replay: median {statistics.median(full):.3f} s  ({', '.join(f'{t:.3f}' for t in full)})")
    print(f"ratio {ratio:.3f} (goal <= 1.15): {'met' if ratio <= 1.15 else 'NOT met'}")
    return 0 if ratio <= 1.15 else 1


if __name__ == "__main__":
    sys.exit(main())
