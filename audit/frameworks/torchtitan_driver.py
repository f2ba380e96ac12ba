"""The built-in driver that replays a torchtitan segment with torchtitan's own resume, so a release declares
only how its job is launched (``code.replay_command``, run with ``--allow-exec`` from the code at its commit)::

    {python} -m audit.frameworks.torchtitan_driver --checkpoint {checkpoint} --start-step {start_step} \\
        --steps {steps} --total-steps {total_steps} --out {out} -- {python} launch.py --module tinytitan --config tiny

It runs the job with torchtitan's own flags added (after the job's, so they win; ``--checkpoint.folder
checkpoint``, ``--checkpoint.load_step -1`` and ``--checkpoint.no-load-only`` undo job settings that would
keep it from loading or saving): ``--checkpoint.initial_load_path`` = the start checkpoint
with ``--checkpoint.no-initial-load-model-only`` (torchtitan's checkpointer restores model, optimizer,
scheduler, data loader and train state from it), a fresh ``--dump_folder``, ``--checkpoint.interval`` = the
segment's steps, TensorBoard on, and — given ``--total-steps`` (the schedule's length, ``{total_steps}``: the
manifest's ``config.training.lr_schedule.total_steps``) — ``--training.steps`` = the segment's end with
``--lr_scheduler.total_steps`` = that length, so the job stops after the segment on the same learning-rate
schedule (``--checkpoint.no-last-save-model-only`` keeps that last save a full one). Without it (the
placeholder empty) ``training.steps`` stays as the job sets it and the job trains on to its end.

It leaves in ``--out`` the checkpoint of step N + steps under the released file names (``.metadata``,
``__0_0.distcp``, moved, not copied) and ``train_log.jsonl`` (loss, learning rate, grad norm of the segment's
steps, from its TensorBoard events), and ``training_state.json`` with the environment: the versions of the
installed torchtitan and torch (read from their distributions: the driver never imports torch) and
``OMP_NUM_THREADS``; not the thread count torch chose inside the job, nor its device (the job picks it).
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
    p.add_argument("--total-steps", default="", help="the learning-rate schedule's total steps; empty: unknown")
    p.add_argument("--out", type=Path, required=True)
    return p.parse_args(argv[:cut]), argv[cut + 1:]


def _version(distribution: str) -> str | None:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(distribution)
    except PackageNotFoundError:
        return None


def environment() -> dict:
    """What the job ran under, known without importing torch (an import costs seconds on every replay)."""
    return {"framework": "torchtitan", "torchtitan_version": _version("torchtitan"), "torch_version": _version("torch"),
            "python_version": platform.python_version(), "omp_num_threads": os.environ.get("OMP_NUM_THREADS"),
            "machine": platform.machine()}  # fmt: skip


def job_flags(args: argparse.Namespace, dump: Path) -> list[str]:
    """torchtitan's own flags that make the job resume the start checkpoint and save the segment's end."""
    flags = ["--dump_folder", str(dump), "--checkpoint.enable", "--checkpoint.folder", "checkpoint",
             "--checkpoint.load_step", "-1", "--checkpoint.no-load-only", "--checkpoint.initial_load_path",
             str(args.checkpoint.resolve()), "--checkpoint.no-initial-load-model-only", "--checkpoint.interval",
             str(args.steps), "--checkpoint.keep_latest_k", "0", "--metrics.enable_tensorboard", "--metrics.log_freq", "1"]  # fmt: skip
    total = args.total_steps.strip()
    if total:
        if not total.isdigit() or int(total) < args.start_step + args.steps:
            raise SystemExit(f"torchtitan_driver: --total-steps {total!r} is not a step count past the segment")
        flags += ["--training.steps", str(args.start_step + args.steps), "--lr_scheduler.total_steps", total,
                  "--checkpoint.no-last-save-model-only"]  # fmt: skip
    return flags


def main(argv: list[str] | None = None) -> int:
    args, job = _args(sys.argv[1:] if argv is None else argv)
    if not job:
        raise SystemExit("torchtitan_driver: no job command after --")
    end = args.start_step + args.steps
    dump = args.out.parent / "torchtitan-dump"
    shutil.rmtree(dump, ignore_errors=True)
    proc = subprocess.run([*job, *job_flags(args, dump)], env=os.environ.copy())
    if proc.returncode != 0:
        print(f"torchtitan_driver: the job exited with {proc.returncode}", file=sys.stderr)
        return proc.returncode
    made = dump / "checkpoint" / f"step-{end}"
    if not made.is_dir():
        print(f"torchtitan_driver: the job wrote no checkpoint/step-{end}", file=sys.stderr)
        return 1
    args.out.mkdir(parents=True, exist_ok=True)
    for f in made.iterdir():
        shutil.move(f, args.out / f.name)
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
