"""The built-in driver that replays a torchtitan segment with torchtitan's own resume, so a release declares
only how its job is launched (``code.replay_command``, run with ``--allow-exec`` from the code at its commit)::

    {python} -m audit.frameworks.torchtitan_driver --checkpoint {checkpoint} --start-step {start_step} \\
        --steps {steps} --out {out} -- {python} launch.py --module tinytitan --config tiny

It lays the start checkpoint out as torchtitan's checkpointer finds it (``<dump>/checkpoint/step-N``), runs the
job with torchtitan's own flags added (``--dump_folder``, ``--checkpoint.enable``, ``--checkpoint.interval``
= the segment's steps, TensorBoard on) — torchtitan resumes model, optimizer, scheduler, data loader and
train state from it — and leaves in ``--out`` the checkpoint of step N + steps under the released file names
(``.metadata``, ``__0_0.distcp``) and ``train_log.jsonl`` (loss, learning rate, grad norm of the segment's
steps, from its TensorBoard events). ``training.steps`` is left as the job sets it (the learning-rate schedule
depends on it), so the job trains on to its end.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
from pathlib import Path


def _args(argv: list[str]) -> tuple[argparse.Namespace, list[str]]:
    if "--" not in argv:
        raise SystemExit("torchtitan_driver: the job's command follows --")
    cut = argv.index("--")
    p = argparse.ArgumentParser(prog="python -m audit.frameworks.torchtitan_driver")
    p.add_argument("--checkpoint", type=Path, required=True)
    p.add_argument("--start-step", type=int, required=True)
    p.add_argument("--steps", type=int, required=True)
    p.add_argument("--out", type=Path, required=True)
    return p.parse_args(argv[:cut]), argv[cut + 1:]


def environment() -> dict:
    import torch

    try:
        from importlib.metadata import version

        titan = version("torchtitan")
    except Exception:
        titan = None
    return {"framework": "torchtitan", "torchtitan_version": titan, "torch_version": torch.__version__,
            "python_version": platform.python_version(), "device": "cpu", "threads": torch.get_num_threads(),
            "machine": platform.machine()}  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    args, job = _args(sys.argv[1:] if argv is None else argv)
    if not job:
        raise SystemExit("torchtitan_driver: no job command after --")
    end = args.start_step + args.steps
    dump = args.out.parent / "torchtitan-dump"
    shutil.rmtree(dump, ignore_errors=True)
    (dump / "checkpoint").mkdir(parents=True)
    shutil.copytree(args.checkpoint, dump / "checkpoint" / f"step-{args.start_step}")
    cmd = [*job, "--dump_folder", str(dump), "--checkpoint.enable", "--checkpoint.interval", str(args.steps),
           "--checkpoint.keep_latest_k", "0", "--metrics.enable_tensorboard", "--metrics.log_freq", "1"]  # fmt: skip
    proc = subprocess.run(cmd, env=os.environ.copy())
    if proc.returncode != 0:
        print(f"torchtitan_driver: the job exited with {proc.returncode}", file=sys.stderr)
        return proc.returncode
    made = dump / "checkpoint" / f"step-{end}"
    if not made.is_dir():
        print(f"torchtitan_driver: the job wrote no checkpoint/step-{end}", file=sys.stderr)
        return 1
    args.out.mkdir(parents=True, exist_ok=True)
    for f in made.iterdir():
        shutil.copy2(f, args.out / f.name)
    _write_log(dump, args.start_step, end, args.out / "train_log.jsonl")
    (args.out / "training_state.json").write_text(json.dumps({"step": end, "environment": environment()}))
    return 0


def _write_log(dump: Path, start: int, end: int, out: Path) -> None:
    from audit.readers.tensorboard_log import read_event_file

    files = sorted(dump.glob("tb/*/events.out.tfevents.*"))
    with open(out, "w") as f:
        for path in files[-1:]:
            log = read_event_file(path)
            for step, row in log.rows.items():
                if start < step <= end:
                    f.write(json.dumps({"step": step, **row}) + "\n")


if __name__ == "__main__":
    sys.exit(main())
