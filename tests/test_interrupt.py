"""SIGINT or SIGTERM during hashing or during a replay: exit 130, a clear message, and the previous
complete report left as it was (no partial artifact), no stray temporary files or processes.

No fixed sleep decides anything here: each signal is sent once the child shows, in /proc, that it is
where the test means to interrupt it (reading the big file; waiting on the replay command), and every
wait has a generous deadline, so a loaded machine makes the tests slower, never wrong."""

from __future__ import annotations

import hashlib
import os
import platform
import signal
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from audit.readers import yamlio
from conftest import run_cli, start_cli, write_manifest

DEADLINE = 300.0  # seconds for any one awaited event: only a hung child takes this long
POLL = 0.01  # seconds between looks at the child (how often, not how long: never a condition)
BIG = 4 << 30  # a sparse data file of 4 GiB: hashing it takes seconds even on a fast, idle machine


def _digest(d: Path) -> dict[str, str]:
    return {str(p.relative_to(d)): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(d.rglob("*")) if p.is_file()}


class Audit:
    """The CLI in a child process; a thread collects its stderr, so the pipe never fills and no wait blocks.
    Leaving the ``with`` block kills the child if it still runs (a failed test leaves no audit behind)."""

    def __init__(self, *args: str, env: dict[str, str] | None = None):
        self.proc = start_cli(*args, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        self._lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def __enter__(self) -> Audit:
        return self

    def __exit__(self, *exc) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=DEADLINE)

    def _read(self) -> None:
        for line in self.proc.stderr:
            self._lines.append(line)

    @property
    def stderr(self) -> str:
        return "".join(self._lines)

    def wait_until(self, condition: Callable[[], object], what: str) -> object:
        """Poll ``condition`` until it returns something true; fail if the child ends first or the deadline passes."""
        deadline = time.monotonic() + DEADLINE
        while not (got := condition()):
            if self.proc.poll() is not None:
                raise AssertionError(f"the audit ended (exit {self.proc.returncode}) before {what}:\n{self.stderr}")
            assert time.monotonic() < deadline, f"{what}: not seen in {DEADLINE:g} s\n{self.stderr}"
            time.sleep(POLL)
        return got

    def finish(self) -> tuple[int, str]:
        self.proc.wait(timeout=DEADLINE)
        self._reader.join(timeout=DEADLINE)
        return self.proc.returncode, self.stderr


def _read_offset(pid: int, path: Path) -> int | None:
    """How far the process has read ``path`` through an open descriptor (/proc fdinfo), or None if none is open."""
    try:
        fds = os.listdir(f"/proc/{pid}/fd")
    except OSError:
        return None
    for fd in fds:
        try:
            if os.readlink(f"/proc/{pid}/fd/{fd}") == str(path):
                with open(f"/proc/{pid}/fdinfo/{fd}") as f:
                    return next(int(line.split()[1]) for line in f if line.startswith("pos:"))
        except (OSError, StopIteration):
            continue
    return None


def _child_running(parent: int, marker: bytes) -> int | None:
    """The pid of a child of ``parent`` that has exec'd a command line containing ``marker``."""
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
            if ppid == parent and marker in Path(f"/proc/{entry}/cmdline").read_bytes():
                return int(entry)
        except (OSError, ValueError, IndexError):
            continue
    return None


# The system calls of a process waiting on a child: subprocess's wait loop alternates waitpid and sleeps.
_WAITING = {"x86_64": {61, 230}, "aarch64": {260, 115}}  # wait4, clock_nanosleep


def _syscalls_visible() -> bool:
    """Whether /proc/PID/syscall tells the system call a process is in, on an architecture known here."""
    try:
        return platform.machine() in _WAITING and Path("/proc/self/syscall").read_text().split()[0].isdigit()
    except (OSError, IndexError):
        return False


def _waiting_on_a_child(pid: int) -> bool:
    """True while the process's main thread is in waitpid or a sleep (and not, e.g., still starting the child)."""
    try:
        call = Path(f"/proc/{pid}/syscall").read_text().split()
    except OSError:
        return False
    return bool(call) and call[0].isdigit() and int(call[0]) in _WAITING[platform.machine()]


def _previous_report(release, out):
    r = run_cli(str(release), "--replay", "none", "--no-hash", "--out", str(out), "-q")
    assert r.returncode in (0, 1), r.stderr
    return _digest(out)


def test_sigint_while_hashing_keeps_the_previous_report(release, tmp_path):
    big = release / "data" / "train_006.jsonl"  # declared with a sha256 in the manifest
    with open(big, "r+b") as f:
        f.truncate(BIG)  # sparse: no disk space, but every byte must be read and hashed
    out = tmp_path / "out"
    before = _previous_report(release, out)
    cache = {"XDG_CACHE_HOME": str(tmp_path / "cache")}  # a fresh hash cache: every file is really hashed
    with Audit(str(release), "--replay", "none", "--out", str(out), env=cache) as audit:
        # Hashing comes first and reads the largest file first: wait until it has read into the big file.
        offset = audit.wait_until(lambda: _read_offset(audit.proc.pid, big), "hashing data/train_006.jsonl")
        assert offset < BIG
        audit.proc.send_signal(signal.SIGINT)
        code, err = audit.finish()
    assert code == 130, err
    assert "interrupted; no report written" in err and "Traceback" not in err
    assert "hashing: done" not in err, "the signal came after hashing, not during it"
    assert _digest(out) == before
    assert not [p for p in out.rglob("*.tmp")]


def test_sigterm_during_a_replay_kills_the_command_and_keeps_the_previous_report(tmp_path):
    from test_replay_command import make_release

    release = make_release(tmp_path / "release", restore_rng=True)
    m = yamlio.loads((release / "llm360.yaml").read_bytes())
    m["code"]["replay_command"] = "{python} -c \"import time; time.sleep(120)  # llm360-sleeper\""
    write_manifest(release, m)
    out = tmp_path / "out"
    before = _previous_report(release, out)
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    with Audit(str(release), "--replay", "1", "--allow-exec", "--out", str(out), env={"TMPDIR": str(tmp)}) as audit:
        pid = audit.proc.pid
        # The command is running (exec'd, its command line its own) and the audit is waiting for it to end,
        # past starting it: a signal now interrupts the replay, not the start of a process.
        audit.wait_until(lambda: _child_running(pid, b"llm360-sleeper"), "the replay command running")
        assert list(tmp.glob("llm360-replay-*/console.log"))
        if _syscalls_visible():
            audit.wait_until(lambda: _waiting_on_a_child(pid), "the audit waiting on the replay command")
        else:  # /proc cannot tell here: give the audit ample time to get from starting the command to waiting on it
            time.sleep(2.0)
        audit.proc.send_signal(signal.SIGTERM)
        code, err = audit.finish()
    assert code == 130, err
    assert "interrupted; no report written" in err
    assert _digest(out) == before
    assert not list(tmp.glob("llm360-replay-*")), "temporary replay directory left behind"
    ps = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True).stdout
    assert "llm360-sleeper" not in ps, "the replay command outlived the audit"


def _handler_installed(pid: int) -> bool:
    """Whether the process catches SIGTERM (/proc status SigCgt): the CLI's handlers are in place."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False
    caught = next((int(line.split()[1], 16) for line in status.splitlines() if line.startswith("SigCgt:")), 0)
    return bool(caught & (1 << (signal.SIGTERM - 1)))


def _busy_cores() -> list[subprocess.Popen]:
    """One busy-looping process per core: the interrupts below land on a loaded machine."""
    import sys

    return [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(os.cpu_count() or 1)]


#: (progress lines to wait for, extra delay): 5 moments in the CLI's start-up and imports, then one after
#: each of the first 15 of the 17 progress lines of a --replay all run (hashing, the checks, the replay's
#: segments, the lazy import of torch among them) — never after the last segment, so each lands mid-run.
MOMENTS = [(0, 0.08 * k) for k in range(5)] + [(n, 0.02 * (n % 3)) for n in range(1, 16)]


@pytest.mark.slow
def test_sigint_at_twenty_moments_of_a_full_replay_under_load(release, tmp_path):
    out = tmp_path / "out"
    before = _previous_report(release, out)
    load = _busy_cores()
    codes = []
    try:
        for lines, delay in MOMENTS:
            with Audit(str(release), "--replay", "all", "--no-cache", "--out", str(out)) as audit:
                audit.wait_until(lambda: _handler_installed(audit.proc.pid), "the signal handlers installed")
                audit.wait_until(lambda: audit.stderr.count(": done") >= lines, f"{lines} progress line(s)")
                time.sleep(delay)
                audit.proc.send_signal(signal.SIGINT)
                code, err = audit.finish()
            codes.append(code)
            assert code == 130, f"SIGINT after {lines} progress line(s) + {delay:g} s: exit {code}\n{err}"
            assert "interrupted" in err and "Traceback" not in err and "internal error" not in err, err
            assert _digest(out) == before, f"SIGINT after {lines} line(s) + {delay:g} s changed the previous report"
            assert not [p for p in out.rglob("*.tmp")]
    finally:
        for p in load:
            p.kill()
            p.wait()
    assert codes == [130] * 20
