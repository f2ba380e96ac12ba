"""Two ways to re-execute training steps; both leave the replayed checkpoint in ``work/out``.

* builtin: the adapter of the framework that wrote the checkpoint (audit.frameworks; the reference
  trainer today) resumes it with the hyperparameters the release *declares* and feeds the sequences
  its step → data mapping names;
* command: the release's own code, at the pinned commit, in a temporary worktree, run in a
  subprocess with a timeout and a minimal environment (only with --allow-exec).
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

from audit.frameworks.interface import EngineError, EngineRun
from audit.frameworks.registry import for_files
from audit.readers.jsonl import BadLine, iter_jsonl
from audit.spec.manifest import Checkpoint
from audit.core.release import Release
from audit.replay.options import ReplayOptions

OUTPUT_TAIL = 2000
#: The command's console output is kept in a file and only its tail is read.
MAX_LOG_BYTES = 64 * 1024 * 1024
#: The replayed checkpoint may not be much larger than the released one.
OUT_SIZE_FACTOR, OUT_SIZE_SLACK = 4, 256 * 1024 * 1024
PLACEHOLDERS = ("python", "checkpoint", "start_step", "steps", "total_steps", "data", "release_data", "out", "device")


def run_builtin(release: Release, start: Checkpoint, batches: list, opts: ReplayOptions, work: Path) -> EngineRun:
    """Replay with the framework that wrote the start checkpoint (audit.frameworks)."""
    framework = for_files({f.path.rsplit("/", 1)[-1] for f in start.files})
    if framework is None:
        raise EngineError(f"no built-in framework adapter reads {start.path}")
    return framework.replay(release, start, batches, opts.device, work)


#: Passed through from the auditor's environment: CPU arithmetic depends on the thread count (a reduction
#: split over 2 threads rounds differently than over 1), so the command runs with the auditor's setting.
THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS")


def minimal_env(work: Path) -> dict[str, str]:
    """No inherited secrets: only what a Python training script needs to start, and the thread counts."""
    return {
        **{k: os.environ[k] for k in THREAD_VARIABLES if k in os.environ},
        "PATH": os.pathsep.join([str(Path(sys.executable).parent), "/usr/local/bin", "/usr/bin", "/bin"]),
        "HOME": str(work),
        "TMPDIR": str(work),
        "LANG": "C.UTF-8",
        "PYTHONHASHSEED": "0",
        "PYTHONDONTWRITEBYTECODE": "1",
        "CUBLAS_WORKSPACE_CONFIG": ":4096:8",
    }


def run_command(release: Release, start: Checkpoint, batches: list, opts: ReplayOptions, work: Path) -> EngineRun:
    code = release.manifest.code
    try:
        argv_template = shlex.split(code.replay_command)
    except ValueError as exc:
        raise EngineError(f"code.replay_command cannot be parsed: {exc}") from None
    code_dir, ckpt, data, out = work / "code", work / "checkpoint", work / "data.jsonl", work / "out"
    release.code_repo().export(code.commit, code_dir)
    shutil.copytree(release.path(start.path), ckpt)  # the command never sees the release itself
    with open(data, "w") as f:
        for batch in batches:
            for ids in batch:
                f.write(json.dumps({"token_ids": ids}) + "\n")
    out.mkdir()
    chunks = _data_files(release)
    values = {"python": sys.executable, "checkpoint": str(ckpt), "start_step": str(start.step),
              "steps": str(len(batches)), "data": str(data), "out": str(out), "device": opts.device,
              "release_data": _data_root(release, chunks), "total_steps": _total_steps(release)}  # fmt: skip
    try:
        argv = [arg.format(**values) for arg in argv_template]
    except (KeyError, IndexError, ValueError) as exc:
        raise EngineError(f"code.replay_command: unknown placeholder {exc}; known: {', '.join(PLACEHOLDERS)}") from None
    console = work / "console.log"
    released = sum(p.stat().st_size for p in ckpt.rglob("*") if p.is_file())
    limit = OUT_SIZE_FACTOR * released + OUT_SIZE_SLACK
    try:
        with open(console, "wb") as log_file:
            proc = subprocess.run(argv, cwd=code_dir, env=minimal_env(work), stdin=subprocess.DEVNULL,
                                  stdout=log_file, stderr=subprocess.STDOUT, timeout=opts.timeout_s,
                                  start_new_session=True, preexec_fn=lambda: _limit_file_size(limit))  # fmt: skip
    except subprocess.TimeoutExpired:
        raise EngineError(f"replay command timed out after {opts.timeout_s:g} s") from None
    except OSError as exc:
        raise EngineError(f"replay command could not start: {exc.strerror}: {argv[0]}") from None
    changed = next((rel for rel, seen in chunks.items() if _stamp(release.path(rel)) != seen), None)
    if changed is not None:
        raise EngineError(f"the replay command modified the release's data: {changed}")
    if proc.returncode != 0:
        raise EngineError(f"replay command exited with {proc.returncode}: {_last_line(console)}")
    if console.stat().st_size > MAX_LOG_BYTES:
        raise EngineError(f"replay command wrote more than {MAX_LOG_BYTES} bytes of console output")
    produced = sum(p.stat().st_size for p in out.rglob("*") if p.is_file() and not p.is_symlink())
    if produced > limit:
        raise EngineError(f"replay command wrote {produced} bytes into its output, far more than the checkpoint")
    if any(p.is_symlink() for p in out.rglob("*")):
        raise EngineError("replay command left symbolic links in its output; refusing to read them")
    logs = []
    if (out / "train_log.jsonl").is_file():
        logs = [r for _, r in iter_jsonl(out / "train_log.jsonl") if isinstance(r, dict) and not isinstance(r, BadLine)
                and type(r.get("step")) is int]  # fmt: skip
    environment = None
    if (out / "training_state.json").is_file():
        try:
            environment = json.loads((out / "training_state.json").read_bytes()).get("environment")
        except (ValueError, AttributeError):
            environment = None
    return EngineRun(out=out, logs=logs, environment=environment)


def _total_steps(release: Release) -> str:
    """``{total_steps}``: the learning-rate schedule's length as config.training declares it ('' if it does not)."""
    config = release.manifest.config
    training = config.training if config is not None else None
    return str(training.lr_schedule.total_steps) if training is not None else ""


def _stamp(path: Path) -> tuple[int, int] | None:
    try:
        st = path.stat()
    except OSError:
        return None
    return st.st_size, st.st_mtime_ns


def _data_files(release: Release) -> dict[str, tuple[int, int] | None]:
    """The declared data files and their (size, mtime): the command may read them, never change them."""
    data = release.manifest.data
    return {c.path: _stamp(release.path(c.path)) for c in (data.chunks if data else [])}


def _data_root(release: Release, chunks: dict) -> str:
    """``{release_data}``: the directory holding every declared chunk (in their native format)."""
    dirs = [str(release.path(rel).parent) for rel in chunks]
    return os.path.commonpath(dirs) if dirs else str(release.root)


def _limit_file_size(limit: int) -> None:
    """In the child: no single file may grow beyond ``limit`` bytes (the kernel stops it: SIGXFSZ)."""
    import resource

    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))


def _last_line(console: Path) -> str:
    size = console.stat().st_size
    with open(console, "rb") as f:
        f.seek(max(0, size - OUTPUT_TAIL))
        lines = f.read().decode(errors="replace").strip().splitlines()
    return lines[-1] if lines else "(no output)"
