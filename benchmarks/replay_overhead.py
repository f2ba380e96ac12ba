"""Replay overhead: the whole llm360-audit replay of one K-step segment against a bare training loop
of the same model over the same steps, in one process, on one thread.

    python benchmarks/replay_overhead.py [--layers 4] [--hidden 256] [--steps 16] [--repeats 3]

The benchmark builds its own release with the reference trainer (checkpoints at step 0 and K, the
data, the log), then times, alternately and `--repeats` times each:
  baseline  Trainer.from_checkpoint(step 0) excluded; K optimizer steps on the same batches;
  audit     Auditor().audit(release, --replay 1 --no-hash): manifest, structural checks, loading the
            checkpoint, the K steps, writing the replayed state, comparing every tensor bitwise.
Goal: median(audit) / median(baseline) <= 1.10.
"""

from __future__ import annotations

import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

from overhead import parser  # benchmarks/overhead.py
from installed import as_installed  # the benchmarks' directory: run as python benchmarks/replay_overhead.py

import torch

from audit.readers import yamlio
from audit.core.auditor import Auditor
from audit.core.options import AuditOptions, ScopeOptions
from audit.frameworks.reference import hyperparameters_from_trainer
from audit.init import init_release
from audit.replay import ReplayOptions
from audit.trainer import ModelConfig, TrainConfig, Trainer


def build(root: Path, model: ModelConfig, train: TrainConfig) -> list[torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    batches = [torch.randint(0, model.vocab_size, (train.batch_size, train.sequence_length + 1), generator=g)
               for _ in range(train.total_steps)]  # fmt: skip
    (root / "data").mkdir(parents=True)
    with open(root / "data" / "train_000.jsonl", "w") as f:
        for b in batches:
            for row in b.tolist():
                f.write(json.dumps({"token_ids": row, "source": "random"}) + "\n")
    trainer = Trainer(model, train)
    trainer.save_checkpoint(root / "checkpoints" / "step_000000", data_cursor={"sequence": 0})
    log = [trainer.step(b) for b in batches]
    trainer.save_checkpoint(root / "checkpoints" / f"step_{train.total_steps:06d}", data_cursor={})
    (root / "logs").mkdir()
    (root / "logs" / "train_log.jsonl").write_text("".join(
        json.dumps({"step": r.step, "loss": r.loss, "learning_rate": r.learning_rate, "grad_norm": r.grad_norm}) + "\n"
        for r in log))  # fmt: skip
    (root / "config.json").write_text(json.dumps(model.to_hf_config()))
    (root / "llm360.yaml").write_text(yamlio.dumps({
        "spec_version": "1.0", "name": "replay-overhead benchmark",
        "config": {"model": "config.json", "training": hyperparameters_from_trainer(train.to_dict())},
        "data": {"order": {"within_chunk": "sequential"}},
    }))  # fmt: skip
    init_release(root)
    return batches


def main() -> int:
    ap = parser(__doc__)
    a = ap.parse_args()
    as_installed()
    model = ModelConfig(vocab_size=256, hidden_size=a.hidden, intermediate_size=a.hidden * 8 // 3 // 8 * 8,
                        num_hidden_layers=a.layers, num_attention_heads=a.hidden // 64 or 1,
                        num_key_value_heads=a.hidden // 64 or 1, max_position_embeddings=a.seq)  # fmt: skip
    train = TrainConfig(peak_lr=3e-4, final_lr=3e-5, warmup_steps=2, total_steps=a.steps, batch_size=a.batch,
                        sequence_length=a.seq, seed=1, num_threads=1)  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "release"
        batches = build(root, model, train)
        start = root / "checkpoints" / "step_000000"
        options = AuditOptions(scope=ScopeOptions(hash_files=False), replay=ReplayOptions(mode="1"))
        base, full = [], []
        for _ in range(a.repeats):
            trainer = Trainer.from_checkpoint(start)
            t0 = time.perf_counter()
            for b in batches:
                trainer.step(b)
            base.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            report = Auditor().audit(root, options)
            full.append(time.perf_counter() - t0)
            assert report.replay.segments[0].status == "bit-exact", report.replay.segments[0]
    params = sum(p.numel() for p in Trainer(model, train).model.parameters())
    ratio = statistics.median(full) / statistics.median(base)
    print(f"model: {a.layers} layers × {a.hidden} wide, {params / 1e6:.2f} M parameters; "
          f"{a.steps} steps of {a.batch} × {a.seq} tokens; torch {torch.__version__}, 1 thread")
    print(f"bare training loop: median {statistics.median(base):.3f} s  ({', '.join(f'{t:.3f}' for t in base)})")
    print(f"llm360-audit replay: median {statistics.median(full):.3f} s  ({', '.join(f'{t:.3f}' for t in full)})")
    print(f"ratio {ratio:.3f} (goal <= 1.10): {'met' if ratio <= 1.10 else 'NOT met'}")
    return 0 if ratio <= 1.10 else 1


if __name__ == "__main__":
    sys.exit(main())
