"""What the replay-overhead benchmarks share: their arguments (all four), and for the whole-command ones
(replay_overhead_litgpt.py, replay_overhead_torchtitan.py) a timed subprocess, the replayed segment's check,
the medians and the ratio."""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

GOAL = 1.15


def parser(doc: str, width: str = "hidden", seq: int = 128, batch: int = 8) -> argparse.ArgumentParser:
    """The arguments every replay-overhead benchmark takes: the model's size, the segment's and the repeats."""
    ap = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--layers", type=int, default=4)
    ap.add_argument(f"--{width}", type=int, default=256)
    ap.add_argument("--seq", type=int, default=seq)
    ap.add_argument("--batch", type=int, default=batch)
    ap.add_argument("--steps", type=int, default=16, help="K: the replayed segment's steps")
    ap.add_argument("--repeats", type=int, default=3)
    return ap


def timed(cmd: list[str], env: dict, cwd: Path) -> float:
    """Wall seconds of one command; any exit but 0 or 1 (the audit fails a release lacking parts) ends the run."""
    t0 = time.perf_counter()
    r = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=cwd)
    took = time.perf_counter() - t0
    if r.returncode not in (0, 1):
        sys.exit(f"{' '.join(cmd[:4])} … exited {r.returncode}:\n{r.stdout[-2000:]}{r.stderr[-3000:]}")
    return took


def bit_exact_segment(report: Path) -> dict:
    """The one replayed segment of the audit's report, which must be bit-exact."""
    [segment] = json.loads((report / "report.json").read_text())["replay"]["segments"]
    assert segment["status"] == "bit-exact", segment
    return segment


def verdict(baseline: str, own: list[float], audit: list[float], goal: float = GOAL) -> int:
    """Print both medians and their ratio; 0 if the goal is met."""
    ratio = statistics.median(audit) / statistics.median(own)
    print(f"{baseline}: median {statistics.median(own):.3f} s  ({', '.join(f'{t:.3f}' for t in own)})")
    print(f"llm360-audit --replay 1: median {statistics.median(audit):.3f} s  ({', '.join(f'{t:.3f}' for t in audit)})")
    print(f"ratio {ratio:.3f} (goal <= {goal}): {'met' if ratio <= goal else 'NOT met'}")
    return 0 if ratio <= goal else 1
