"""SIGINT or SIGTERM during hashing or during a replay: exit 130, a clear message, and the previous
complete report left as it was (no partial artifact), no stray temporary files or processes."""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from audit.readers import yamlio
from conftest import write_manifest


def _digest(d: Path) -> dict[str, str]:
    return {str(p.relative_to(d)): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(d.rglob("*")) if p.is_file()}


def _start(args, env=None):
    return subprocess.Popen([sys.executable, "-m", "audit", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=env)  # fmt: skip


def _wait_for_line(proc, needle: str, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = proc.stderr.readline()
        if not line:
            raise AssertionError(f"process ended before {needle!r}")
        if needle in line:
            return
    raise AssertionError(f"{needle!r} not seen")


def _previous_report(release, out):
    r = subprocess.run([sys.executable, "-m", "audit", str(release), "--replay", "none", "--no-hash", "--out", str(out),
                        "-q"], capture_output=True, text=True, timeout=300)  # fmt: skip
    assert r.returncode in (0, 1), r.stderr
    return _digest(out)


def test_sigint_while_hashing_keeps_the_previous_report(release, tmp_path):
    with open(release / "data" / "train_006.jsonl", "r+b") as f:
        f.truncate(8 << 30)  # 8 GiB, sparse: hashing takes seconds
    out = tmp_path / "out"
    before = _previous_report(release, out)
    proc = _start([str(release), "--replay", "none", "--out", str(out)])
    _wait_for_line(proc, "Data order: done")  # data availability (hashing the chunks) runs next
    time.sleep(0.5)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert "interrupted; no report written" in err and "Traceback" not in err
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
    proc = _start([str(release), "--replay", "1", "--allow-exec", "--out", str(out)], env=dict(os.environ, TMPDIR=str(tmp)))
    deadline = time.monotonic() + 120
    while not list(tmp.glob("llm360-replay-*/console.log")):  # the command is running
        assert time.monotonic() < deadline and proc.poll() is None
        time.sleep(0.1)
    time.sleep(0.5)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "interrupted; no report written" in err
    assert _digest(out) == before
    assert not list(tmp.glob("llm360-replay-*")), "temporary replay directory left behind"
    ps = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True).stdout
    assert "llm360-sleeper" not in ps, "the replay command outlived the audit"
