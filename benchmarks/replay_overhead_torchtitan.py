"""Replay overhead of the built-in torchtitan driver: ``llm360-audit RELEASE --replay 1 --allow-exec`` (one
K-step segment replayed by torchtitan's own resume through ``audit.frameworks.torchtitan_driver``) against
torchtitan's own training of the same K steps (its checkpointer resuming step K), both as whole commands, on
one thread.

    python benchmarks/replay_overhead_torchtitan.py [--layers 4] [--dim 256] [--seq 256] [--batch 32]
                                                    [--steps 16] [--repeats 3]

The script builds its release first: the job is tests/torchtitan_run/tinytitan.py's (torchtitan's Llama 3
model code, seeded token ids in memory) at the size given, written as a module ``benchjob`` next to copies
of ``launch.py`` and ``tinytitan.py`` in ``RELEASE/code`` (a git repository at a commit); torchtitan trains
it for 2K steps with a DCP checkpoint every K (``launch.py --module benchjob --config bench``), then
``llm360-audit init`` and ``code`` with the driver's replay command. Then, alternately and ``--repeats``
times each:
  torchtitan  the same launch into a scratch dump folder with ``--checkpoint.initial_load_path
              RELEASE/checkpoint/step-K --checkpoint.no-initial-load-model-only`` (torchtitan's checkpointer
              restores model, optimizer, scheduler, data loader and train state): start-up, the load, the K
              steps, saving step 2K, TensorBoard events;
  audit       ``llm360-audit RELEASE --replay 1 --no-hash --allow-exec``: start-up, manifest, every structural
              check, the code exported at its commit and the checkpoint copied for the command, the driver
              (the same launch resuming it with the same torchtitan flags, the K steps, step 2K saved, its
              TensorBoard events read), comparing every item of both checkpoints and the log.
The audit pays a fixed cost on top of the job's (its own process: the torch import, the structural checks,
loading and comparing every item of two checkpoints; the driver's start and its TensorBoard read), so the
ratio falls as the K steps grow. The defaults (3.3 M params, 16 steps of 32 × 256 tokens) are where the K steps
dominate torchtitan's own start-up (imports, building, its 2 s "sleeping for other ranks"); at the LitGPT
benchmark's 8 × 128 tokens they are under half of it (BENCHMARKS.md gives both).
Both run with OMP_NUM_THREADS=1. Goal: median(audit) / median(torchtitan) <= 1.15; the replayed segment must
be bit-exact.
"""

from __future__ import annotations

import contextlib
import math
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from installed import as_installed  # the benchmarks' directory: run as python benchmarks/replay_overhead_torchtitan.py
from overhead import parser, bit_exact_segment, timed, verdict  # benchmarks/overhead.py

from audit.frameworks import torchtitan as torchtitan_adapter
from audit.readers import dcp
from audit.readers import yamlio

HERE = Path(__file__).resolve().parent
RUN = HERE.parent / "tests" / "torchtitan_run"

JOB = '''"""The benchmark's torchtitan job: tinytitan's at {layers} layers, dim {dim}, sequences of {seq}."""
import tinytitan

tinytitan.LAYERS, tinytitan.DIM, tinytitan.SEQ, tinytitan.DOCUMENTS = {layers}, {dim}, {seq}, {documents}


def bench():
    config = tinytitan.tiny()
    config.training.local_batch_size, config.training.steps = {batch}, {total}
    config.checkpoint.interval = {steps}
    return config
'''


def _git(code: Path, *args: str) -> str:
    git = ["git", "-C", str(code), "-c", "user.name=bench", "-c", "user.email=bench@example.org"]
    return subprocess.run(git + list(args), check=True, capture_output=True, text=True).stdout.strip()


def main() -> int:
    ap = parser(__doc__, width="dim", seq=256, batch=32)
    ap.add_argument("--keep", type=Path, help="build in this (new) directory and keep it, to profile the commands")
    a = ap.parse_args()
    try:
        import tensorboard  # noqa: F401
        import torchtitan  # noqa: F401
    except ImportError as exc:
        sys.exit(f"needs torchtitan and tensorboard ({exc}); see README: Bring your own release, torchtitan")
    as_installed()
    env = {**os.environ, "OMP_NUM_THREADS": "1", "CUDA_VISIBLE_DEVICES": ""}
    cli = [sys.executable, "-m", "audit"]
    with tempfile.TemporaryDirectory() if a.keep is None else contextlib.nullcontext(a.keep) as tmp:
        Path(tmp).mkdir(parents=True, exist_ok=True)
        root = Path(tmp) / "release"
        code = root / "code"
        code.mkdir(parents=True)
        for name in ("launch.py", "tinytitan.py"):
            shutil.copy2(RUN / name, code / name)
        (code / "benchjob.py").write_text(JOB.format(layers=a.layers, dim=a.dim, seq=a.seq, batch=a.batch,
                                                     total=2 * a.steps, steps=a.steps,
                                                     documents=2 * a.steps * a.batch * a.seq // 20 + 1000))  # fmt: skip
        _git(code, "init", "-q")
        _git(code, "add", ".")
        _git(code, "commit", "-qm", "job")
        launch = [sys.executable, str(code / "launch.py"), "--module", "benchjob", "--config", "bench"]
        timed(launch + ["--dump_folder", str(root)], env, Path(tmp))
        r = subprocess.run(cli + ["init", str(root)], capture_output=True, text=True, env=env)
        if r.returncode != 0:
            sys.exit(f"init failed:\n{r.stdout[-2000:]}{r.stderr[-2000:]}")
        manifest = root / "llm360.yaml"
        m = yamlio.loads(manifest.read_bytes())
        m["code"] = {"repo": "code", "commit": _git(code, "rev-parse", "HEAD"), "entrypoint": "launch.py",
                     "replay_command": "{python} -m audit.frameworks.torchtitan_driver --checkpoint {checkpoint} "
                                       "--start-step {start_step} --steps {steps} --total-steps {total_steps} --out {out} -- "
                                       "{python} launch.py "
                                       "--module benchjob --config bench"}  # fmt: skip
        manifest.write_text(yamlio.dumps(m))
        resume = launch + ["--checkpoint.initial_load_path", str(root / "checkpoint" / f"step-{a.steps}"),
                           "--checkpoint.no-initial-load-model-only", "--checkpoint.keep_latest_k", "0"]  # fmt: skip
        own, audit = [], []
        for i in range(a.repeats):
            scratch = Path(tmp) / f"resumed-{i}"
            own.append(timed(resume + ["--dump_folder", str(scratch)], env, Path(tmp)))
            assert (scratch / "checkpoint" / f"step-{2 * a.steps}" / ".metadata").is_file(), "torchtitan saved no step 2K"
            shutil.rmtree(scratch)
            report = Path(tmp) / f"report-{i}"
            audit.append(timed(cli + [str(root), "--replay", "1", "--no-hash", "--allow-exec", "--out", str(report),
                                     "-q"], env, Path(tmp)))  # fmt: skip
            assert bit_exact_segment(report)["start_step"] == a.steps
        meta = dcp.read_metadata(root / "checkpoint" / f"step-{a.steps}" / dcp.METADATA, dcp.METADATA)
        params = sum(math.prod(t.shape) for t in torchtitan_adapter.weights(meta).values())
    print(f"model: {a.layers} layers × {a.dim} wide (torchtitan Llama 3, vocab 256), {params / 1e6:.2f} M params; "
          f"{a.steps} steps of {a.batch} × {a.seq} tokens; 1 thread")  # fmt: skip
    return verdict("torchtitan resume", own, audit)


if __name__ == "__main__":
    sys.exit(main())
