"""Structural audit at Amber scale: `llm360-audit --no-hash --replay none` on a release shaped like
LLM360's Amber, against a bare loop that reads every safetensors header.

    python benchmarks/structure_scale.py [--checkpoints 360] [--workdir DIR] [--repeats 3]

The script builds the release itself in a temporary directory (under --workdir if given):
  * N checkpoints ``ckpt_000/`` … as published: ``config.json`` (LLaMA-7B: hidden 4096, intermediate
    11008, 32 layers, 32 heads, vocab 32000, untied, bf16), ``model.safetensors.index.json`` and three
    shards ``model-0000{1,2,3}-of-00003.safetensors`` with real headers (every tensor of the 7B model,
    correct offsets) whose tensor data is a sparse hole (the file is truncate()d to its full size:
    13.5 GB apparent per checkpoint, a few KB on disk; nothing reads the data with --no-hash);
  * N data chunks ``data/train/train_NNN.jsonl`` of a few 2049-token lines each. This benchmark is
    about structure (1,080 headers, N chunk entries, the step → chunk map), not data volume: the real
    chunks hold 1,706,880 lines each, so data_order.chunk-too-short is expected for every chunk;
  * the training log ``logs/train_log.jsonl`` with 762 × N lines (274,320 for N = 360) following
    Amber's hyperparameters: lr warmup 2000 steps, then cosine 3e-4 → 3e-5; step, loss, learning_rate,
    grad_norm;
  * ``evals/evaluations.jsonl``: ARC-C, HellaSwag, TruthfulQA, MMLU for every checkpoint;
  * ``llm360.yaml`` produced by ``llm360-audit init --no-hash`` (sizes, steps and counts; no digests:
    hashing 4.9 TB of sparse shards is out of reach, and the audit below runs --no-hash) from a human
    skeleton (name, license, code URL, Amber's hyperparameters, the chunks' step ranges of 762 steps
    each, the data order). Init's time is reported.

Then it measures:
  baseline   a bare Python loop over the 3 × N shards: open, read 8 bytes, read the header, json.loads;
  tool       `llm360-audit RELEASE --no-hash --replay none --out OUT -q` as a subprocess: wall time
             and peak RSS (os.wait4 rusage of that child), --repeats times, median;
  in-process Auditor().audit(RELEASE, no hashing, replay none), to separate interpreter start-up and
             report writing from the audit itself.
Goals: median(tool) <= 3 × median(baseline) and peak RSS <= 200 MB. Exit 1 when a goal is missed.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import platform
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from installed import as_installed, tool_command  # the benchmarks' directory: run as python benchmarks/structure_scale.py

from audit.readers import yamlio

STEPS_PER_CHUNK = 762  # Amber: 2240 sequences × 2048 tokens per step, 1,706,880 sequences per chunk
CONFIG = {
    "architectures": ["LlamaForCausalLM"], "bos_token_id": 1, "eos_token_id": 2, "hidden_act": "silu",
    "hidden_size": 4096, "initializer_range": 0.02, "intermediate_size": 11008, "max_position_embeddings": 2048,
    "model_type": "llama", "num_attention_heads": 32, "num_hidden_layers": 32, "num_key_value_heads": 32,
    "pad_token_id": 0, "pretraining_tp": 1, "rms_norm_eps": 1e-06, "rope_scaling": None, "rope_theta": 10000.0,
    "tie_word_embeddings": False, "torch_dtype": "bfloat16", "transformers_version": "4.33.1", "use_cache": True,
    "vocab_size": 32000,
}  # fmt: skip
HYPERPARAMETERS = {
    "optimizer": {"name": "adamw", "betas": [0.9, 0.95], "eps": 1e-8, "weight_decay": 0.1},
    "lr_schedule": {"name": "warmup-cosine", "peak_lr": 3e-4, "final_lr": 3e-5, "warmup_steps": 2000,
                    "total_steps": 274320},
    "batch_size": 2240, "sequence_length": 2048, "precision": "bf16-mixed", "grad_clip": 1.0, "seed": 11111,
}  # fmt: skip
MIXTURE = {"arxiv": 30.00, "book": 28.86, "c4": 197.67, "refinedweb": 665.01, "starcoder": 291.92,
           "stackexchange": 21.75, "wikipedia": 23.90}  # fmt: skip
EVAL_TASKS = (("arc_challenge", "acc_norm"), ("hellaswag", "acc_norm"), ("truthfulqa_mc2", "mc2"), ("mmlu", "acc"))
LINES_PER_CHUNK = 4
GOAL_RATIO, GOAL_RSS_MB = 3.0, 200.0


# -- the release ------------------------------------------------------------------------------------
def tensor_shapes(cfg: dict) -> list[tuple[str, list[int]]]:
    """LlamaForCausalLM tensors in state-dict order (the order HF shards them in)."""
    h, i, v, n = cfg["hidden_size"], cfg["intermediate_size"], cfg["vocab_size"], cfg["num_hidden_layers"]
    out = [("model.embed_tokens.weight", [v, h])]
    for layer in range(n):
        p = f"model.layers.{layer}."
        out += [(p + "self_attn.q_proj.weight", [h, h]), (p + "self_attn.k_proj.weight", [h, h]),
                (p + "self_attn.v_proj.weight", [h, h]), (p + "self_attn.o_proj.weight", [h, h]),
                (p + "mlp.gate_proj.weight", [i, h]), (p + "mlp.up_proj.weight", [i, h]),
                (p + "mlp.down_proj.weight", [h, i]), (p + "input_layernorm.weight", [h]),
                (p + "post_attention_layernorm.weight", [h])]  # fmt: skip
    return out + [("model.norm.weight", [h]), ("lm_head.weight", [v, h])]


def shard_layouts(cfg: dict, shards: int = 3) -> list[tuple[str, bytes, int, list[str]]]:
    """(file name, header bytes incl. the 8-byte length, data bytes, tensor names) per shard: the
    tensors split in state-dict order into shards of about equal size, bf16, offsets contiguous."""
    tensors = tensor_shapes(cfg)
    sizes = [math.prod(s) * 2 for _, s in tensors]
    target, groups, acc = sum(sizes) / shards, [[]], 0
    for (name, shape), size in zip(tensors, sizes):
        if acc >= target * len(groups) and len(groups) < shards:
            groups.append([])
        groups[-1].append((name, shape, size))
        acc += size
    out = []
    for k, group in enumerate(groups, 1):
        header: dict = {"__metadata__": {"format": "pt"}}
        offset = 0
        for name, shape, size in group:
            header[name] = {"dtype": "BF16", "shape": shape, "data_offsets": [offset, offset + size]}
            offset += size
        raw = json.dumps(header, separators=(",", ":")).encode()
        raw += b" " * (-len(raw) % 8)  # safetensors pads the header to 8 bytes
        out.append((f"model-{k:05d}-of-{len(groups):05d}.safetensors", len(raw).to_bytes(8, "little") + raw,
                    offset, [n for n, _, _ in group]))  # fmt: skip
    return out


def known_digest(head: bytes, data_bytes: int) -> str:
    """sha256 of a shard whose data is all zeros (a sparse hole), without reading the file."""
    h = hashlib.sha256(head)
    block = bytes(1 << 24)
    left = data_bytes
    while left:
        n = min(left, len(block))
        h.update(block[:n] if n < len(block) else block)
        left -= n
    return h.hexdigest()


def build(root: Path, n_ckpt: int) -> dict:
    layouts = shard_layouts(CONFIG)
    total = sum(size for _, _, size, _ in layouts)
    weight_map = {t: name for name, _, _, names in layouts for t in names}
    index = json.dumps({"metadata": {"total_size": total}, "weight_map": weight_map}, indent=2)
    config = json.dumps(CONFIG, indent=2)
    for c in range(n_ckpt):
        d = root / f"ckpt_{c:03d}"
        d.mkdir(parents=True)
        (d / "config.json").write_text(config)
        (d / "model.safetensors.index.json").write_text(index)
        for name, head, size, _ in layouts:
            with open(d / name, "wb") as f:
                f.write(head)
                f.truncate(len(head) + size)
        if c == 0:
            used = os.stat(d / layouts[0][0]).st_blocks * 512
            if used > 64 << 20:
                raise SystemExit(f"{root}: the filesystem does not keep sparse files ({used} bytes allocated); "
                                 "use --workdir on ext4, xfs, btrfs or tmpfs")  # fmt: skip
    rng = random.Random(11111)
    sources = list(MIXTURE)
    weights = list(MIXTURE.values())
    for c in range(n_ckpt):
        p = root / "data" / "train" / f"train_{c:03d}.jsonl"
        p.parent.mkdir(parents=True, exist_ok=True)
        with open(p, "w") as f:
            for _ in range(LINES_PER_CHUNK):
                ids = [rng.randrange(CONFIG["vocab_size"]) for _ in range(2049)]
                f.write(json.dumps({"token_ids": ids, "source": rng.choices(sources, weights)[0]}) + "\n")
    steps = STEPS_PER_CHUNK * n_ckpt
    peak, final, warm = 3e-4, 3e-5, 2000
    (root / "logs").mkdir()
    with open(root / "logs" / "train_log.jsonl", "w") as f:
        for s in range(1, steps + 1):
            if s <= warm:
                lr = peak * s / warm
            else:
                lr = final + 0.5 * (peak - final) * (1.0 + math.cos(math.pi * min(1.0, (s - warm) / (274320 - warm))))
            loss = 1.6 + 9.0 / math.sqrt(s) + rng.gauss(0, 0.02)
            f.write(json.dumps({"step": s, "loss": round(loss, 4), "learning_rate": lr,
                                "grad_norm": round(abs(rng.gauss(0.3, 0.05)), 4)}) + "\n")  # fmt: skip
    (root / "evals").mkdir()
    with open(root / "evals" / "evaluations.jsonl", "w") as f:
        for c in range(n_ckpt):
            for task, metric in EVAL_TASKS:
                f.write(json.dumps({"step": STEPS_PER_CHUNK * (c + 1), "task": task, "metric": metric,
                                    "value": round(0.25 + 0.2 * c / n_ckpt + rng.gauss(0, 0.01), 4)}) + "\n")  # fmt: skip
    (root / "LICENSE").write_text("                                 Apache License\n                           Version 2.0, January 2004\n")
    hp = dict(HYPERPARAMETERS, lr_schedule=dict(HYPERPARAMETERS["lr_schedule"]))
    skeleton = {  # what a human writes; init fills in the rest
        "spec_version": "1.0",
        "name": "LLM360/Amber (synthetic, structure only)",
        "code": {"repo": "https://github.com/LLM360/amber-train", "entrypoint": "main.py"},
        "config": {"model": f"ckpt_{n_ckpt - 1:03d}/config.json", "training": hp},
        "data": {
            "chunks": [{"path": f"data/train/train_{c:03d}.jsonl", "first_step": STEPS_PER_CHUNK * c + 1,
                        "last_step": STEPS_PER_CHUNK * (c + 1)} for c in range(n_ckpt)],
            "order": {"within_chunk": "unknown",
                      "description": "chunk N feeds checkpoint N; order inside a chunk not published"},
        },
    }  # fmt: skip
    (root / "llm360.yaml").write_text(yamlio.dumps(skeleton))
    return {"layouts": layouts, "shard_bytes": total}


def run_init(root: Path, layouts) -> tuple[float, float, list[str]]:
    """``init --no-hash`` on the release (sizes only: 4.9 TB of sparse shards are not hashed, and the
    structural audit after it runs --no-hash too); returns (seconds, 0, notes)."""
    from audit.init import init_release

    t = time.perf_counter()
    result = init_release(root, hash_files=False)
    return time.perf_counter() - t, 0.0, result.notes


# -- the measurements -------------------------------------------------------------------------------
def bare_loop(paths: list[Path]) -> float:
    t = time.perf_counter()
    for p in paths:
        with open(p, "rb") as f:
            n = int.from_bytes(f.read(8), "little")
            json.loads(f.read(n))
    return time.perf_counter() - t


def run_tool(root: Path, out: Path) -> tuple[float, float, int]:
    """One CLI audit: (wall seconds, peak RSS in MB, exit code)."""
    cmd = tool_command(str(root), "--no-hash", "--replay", "none", "--out", str(out), "-q")
    t = time.perf_counter()
    p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(p.pid, 0)
    wall = time.perf_counter() - t
    p.returncode = os.waitstatus_to_exitcode(status)
    err = p.stderr.read().decode(errors="replace") if p.stderr else ""
    if p.returncode not in (0, 1):
        raise SystemExit(f"llm360-audit exited {p.returncode}:\n{err}")
    return wall, usage.ru_maxrss / 1024, p.returncode


def in_process(root: Path):
    from audit.core.auditor import Auditor
    from audit.core.options import AuditOptions, ScopeOptions
    from audit.replay import ReplayOptions

    t = time.perf_counter()
    report = Auditor().audit(root, AuditOptions(scope=ScopeOptions(hash_files=False), replay=ReplayOptions(mode="none")))
    return time.perf_counter() - t, report


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--checkpoints", type=int, default=360)
    ap.add_argument("--workdir", type=Path, default=None, help="where to build (needs sparse files)")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--keep", action="store_true", help="keep the built release and print its path")
    a = ap.parse_args()
    as_installed()
    n = a.checkpoints
    tmp = tempfile.mkdtemp(prefix="structure-scale-", dir=a.workdir)
    try:
        root = Path(tmp) / "release"
        t = time.perf_counter()
        info = build(root, n)
        build_s = time.perf_counter() - t
        print(f"built {n} checkpoints ({3 * n} shards, {info['shard_bytes'] * n / 1e12:.2f} TB apparent), "
              f"{n} chunks, {STEPS_PER_CHUNK * n} log lines in {build_s:.1f} s", flush=True)  # fmt: skip

        # One real read of a shard: the known-content digest is the file's digest, and the throughput
        # tells what init with full hashing would cost.
        from audit.storage.hashing import sha256_stream as sha256_file

        name, head, size, _ = info["layouts"][-1]
        t = time.perf_counter()
        real = sha256_file(root / "ckpt_000" / name)
        hash_s = time.perf_counter() - t
        assert real == known_digest(head, size), "known-content digest differs from the file's sha256"
        hash_gbps = (len(head) + size) / hash_s / 1e9
        init_s, digest_s, notes = run_init(root, info["layouts"])
        todo = [c for c in notes if c.startswith("still to complete by hand")]
        print(f"init --no-hash: {init_s:.2f} s ({len(notes)} notes, {len(todo)} still to complete); "
              f"sha256 of one shard read from disk {hash_gbps:.2f} GB/s", flush=True)  # fmt: skip
        for c in todo:
            print(f"  {c}")
        m = yamlio.loads((root / "llm360.yaml").read_bytes())
        steps = [c.get("step") for c in m["checkpoints"]]
        assert steps == [STEPS_PER_CHUNK * (c + 1) for c in range(n)], f"init steps: {steps[:5]} …"

        shards = sorted(root.glob("ckpt_*/model-*.safetensors"))
        assert len(shards) == 3 * n
        bare_loop(shards)  # warm the page cache for every contender alike
        base = sorted(bare_loop(shards) for _ in range(max(5, a.repeats)))
        tool, rss, codes = [], [], set()
        for i in range(a.repeats):
            wall, mb, code = run_tool(root, Path(tmp) / f"out{i}")
            tool.append(wall)
            rss.append(mb)
            codes.add(code)
        inproc = []
        for _ in range(a.repeats):
            s, report = in_process(root)
            inproc.append(s)
        b, tl, ip = statistics.median(base), statistics.median(tool), statistics.median(inproc)
        ratio, peak = tl / b, max(rss)
        ok_ratio, ok_rss = ratio <= GOAL_RATIO, peak <= GOAL_RSS_MB
        from collections import Counter

        counts = Counter(f.id for f in report.findings)
        print()
        print(f"machine: {platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}")
        print(f"{'measure':<44}{'median':>10}   runs")
        print(f"{'baseline: bare loop over ' + str(len(shards)) + ' headers':<44}{b:>9.3f}s   "
              + " ".join(f"{x:.3f}" for x in base))
        print(f"{'tool: llm360-audit --no-hash --replay none':<44}{tl:>9.3f}s   " + " ".join(f"{x:.3f}" for x in tool))
        print(f"{'  in-process Auditor().audit()':<44}{ip:>9.3f}s   " + " ".join(f"{x:.3f}" for x in inproc))
        print(f"{'  start-up, reports, exit (tool − in-process)':<44}{tl - ip:>9.3f}s")
        print(f"{'init --no-hash':<44}{init_s:>9.3f}s")
        print(f"{'ratio tool / baseline':<44}{ratio:>9.2f}×   goal ≤ {GOAL_RATIO:g}: {'met' if ok_ratio else 'NOT met'}")
        print(f"{'peak RSS of the tool':<44}{peak:>8.1f}MB   " + " ".join(f"{x:.1f}" for x in rss)
              + f"   goal ≤ {GOAL_RSS_MB:g} MB: {'met' if ok_rss else 'NOT met'}")
        print(f"tool exit code(s): {sorted(codes)}; checkpoints audited: "
              f"{report.criteria['model_checkpoints'].evidence.get('checkpoints')}, tensors checked: "
              f"{report.criteria['model_checkpoints'].evidence.get('tensors_checked')}")  # fmt: skip
        print("findings: " + ", ".join(f"{k} ×{v}" for k, v in sorted(counts.items())))
        if a.keep:
            print(f"release kept at {root}")
        return 0 if ok_ratio and ok_rss else 1
    finally:
        if not a.keep:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
