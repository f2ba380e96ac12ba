"""Replay overhead of the built-in LitGPT driver: ``llm360-audit RELEASE --replay 1`` (one K-step segment
replayed with LitGPT's own code) against LitGPT's own training of the same K steps
(``litgpt pretrain --resume step-K``), both as whole commands, on one thread.

    python benchmarks/replay_overhead_litgpt.py [--layers 4] [--hidden 256] [--seq 128] [--batch 8] [--steps 16]
                                                [--repeats 3]

The script builds its release first: seeded token ids written by ``litdata.optimize`` (TokensLoader) into
``RELEASE/data``, then ``litgpt pretrain`` for 2K steps with a checkpoint every K on them (the
``LitTokens`` DataModule below: litdata's StreamingDataset, unshuffled), then ``llm360-audit init``.
Then, alternately and ``--repeats`` times each:
  litgpt   ``litgpt pretrain --resume RELEASE/step-K/lit_model.pth`` into a scratch directory: start-up,
           loading the checkpoint, the K steps, saving step 2K and final/;
  audit    ``llm360-audit RELEASE --replay 1 --no-hash``: start-up, manifest, every structural check, the
           scanned weights-only load, the K steps, writing the replayed state, comparing every tensor.
Both run with OMP_NUM_THREADS=1 and TORCHDYNAMO_DISABLE=1 (pretrain's torch.compile a no-op: no C++
build on CPU). Goal: median(audit) / median(litgpt) <= 1.15; the replayed segment must be bit-exact.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from installed import as_installed  # the benchmarks' directory: run as python benchmarks/replay_overhead_litgpt.py
from overhead import parser, bit_exact_segment, timed, verdict  # benchmarks/overhead.py

HERE = Path(__file__).resolve().parent


class _Args:
    vocab, chunk_sequences = 512, 32


try:  # the DataModule litgpt pretrain imports from this file (PYTHONPATH=benchmarks/)
    from litgpt.data import DataModule
except ImportError:  # the benchmark itself says so in main()
    DataModule = object


class LitTokens(DataModule):
    def __init__(self, data_path: str = "data"):
        super().__init__()
        self.data_path, self.batch_size, self.seq_length = data_path, 1, 2

    def connect(self, tokenizer=None, batch_size: int = 1, max_seq_length: int = 128) -> None:
        self.batch_size, self.seq_length = batch_size, max_seq_length + 1

    def _loader(self):
        from litdata.streaming import StreamingDataLoader, StreamingDataset, TokensLoader

        dataset = StreamingDataset(input_dir=str(self.data_path), item_loader=TokensLoader(block_size=self.seq_length),
                                   shuffle=False)  # fmt: skip
        return StreamingDataLoader(dataset, batch_size=self.batch_size, num_workers=0, drop_last=True)

    def train_dataloader(self):
        return self._loader()

    def val_dataloader(self):
        return self._loader()


def _sequences(spec: tuple[int, int, int]):
    import torch

    chunk, count, length = spec
    g = torch.Generator().manual_seed(chunk)
    for _ in range(count):
        yield torch.randint(0, _Args.vocab, (length,), generator=g, dtype=torch.int64)


def _config(a, data: Path) -> dict:
    return {
        "model_config": {"name": "bench-llama", "block_size": a.seq, "vocab_size": _Args.vocab,
                         "padded_vocab_size": _Args.vocab, "n_layer": a.layers, "n_head": max(1, a.hidden // 64),
                         "n_embd": a.hidden, "n_query_groups": max(1, a.hidden // 64), "rotary_percentage": 1.0,
                         "parallel_residual": False, "bias": False, "norm_class_name": "RMSNorm",
                         "mlp_class_name": "LLaMAMLP", "intermediate_size": a.hidden * 8 // 3 // 8 * 8},
        "precision": "32-true",
        "data": {"class_path": "replay_overhead_litgpt.LitTokens", "init_args": {"data_path": str(data)}},
        "train": {"save_interval": a.steps, "log_interval": 1, "global_batch_size": a.batch,
                  "micro_batch_size": a.batch, "max_tokens": 2 * a.steps * a.batch * a.seq, "max_seq_length": a.seq,
                  "lr_warmup_steps": 2, "max_norm": 1.0, "min_lr": 3e-5},
        "eval": {"interval": 100000, "max_iters": 1, "initial_validation": False, "final_validation": False},
        "optimizer": {"class_path": "torch.optim.AdamW",
                      "init_args": {"lr": 3e-4, "weight_decay": 0.1, "betas": [0.9, 0.95]}},
        "devices": 1, "logger_name": "csv", "seed": 1,
    }  # fmt: skip


def main() -> int:
    ap = parser(__doc__)
    a = ap.parse_args()
    as_installed()
    try:
        import litdata
        import litgpt  # noqa: F401
        import yaml
    except ImportError as exc:
        sys.exit(f"needs litgpt and litdata ({exc}); see README: Bring your own release, LitGPT")
    env = {**os.environ, "OMP_NUM_THREADS": "1", "TORCHDYNAMO_DISABLE": "1", "HF_HUB_OFFLINE": "1",
           "CUDA_VISIBLE_DEVICES": "", "PYTHONPATH": str(HERE)}  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "release"
        data = root / "data"
        sequences = 2 * a.steps * a.batch + a.batch  # pretrain fetches one more batch before it stops
        chunks = -(-sequences // _Args.chunk_sequences)
        litdata.optimize(fn=_sequences, inputs=[(c, _Args.chunk_sequences, a.seq + 1) for c in range(chunks)],
                         output_dir=str(data), chunk_size=_Args.chunk_sequences * (a.seq + 1),
                         item_loader=litdata.TokensLoader(), num_workers=1, mode="overwrite", start_method="fork")
        config = Path(tmp) / "pretrain.yaml"
        config.write_text(yaml.safe_dump(_config(a, data)))
        pretrain = [sys.executable, "-m", "litgpt", "pretrain", "bench-llama", "--config", str(config)]
        timed(pretrain + ["--out_dir", str(root)], env, Path(tmp))
        cli = [sys.executable, "-m", "audit"]
        subprocess.run(cli + ["init", str(root)], check=True, capture_output=True, env=env)
        resume = pretrain + ["--resume", str(root / f"step-{a.steps:08d}" / "lit_model.pth")]
        own, audit = [], []
        for i in range(a.repeats):
            out = Path(tmp) / f"resumed-{i}"
            own.append(timed(resume + ["--out_dir", str(out)], env, Path(tmp)))
            shutil.rmtree(out)
            report = Path(tmp) / f"report-{i}"
            audit.append(timed(cli + [str(root), "--replay", "1", "--no-hash", "--out", str(report), "-q"], env, Path(tmp)))
            bit_exact_segment(report)
    print(f"model: {a.layers} layers × {a.hidden} wide (LitGPT GPT, LLaMA MLP); {a.steps} steps of {a.batch} × "
          f"{a.seq} tokens; 1 thread")  # fmt: skip
    return verdict("litgpt pretrain --resume", own, audit)


if __name__ == "__main__":
    sys.exit(main())
