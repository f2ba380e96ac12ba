"""Start-up: ``llm360-audit --version`` and ``--help`` against ``python -c pass``, in one run.

    python benchmarks/startup.py [--repeats 21]

Each command is a subprocess (the console script, as users run it); the three are interleaved run by run so
that machine load falls on all alike; wall-clock median. Goal (issue 16): each ≤ 2 × ``python -c pass``
+ 60 ms. What is imported is asserted by tests/test_cli.py (nothing of pydantic, jsonschema, rich, git,
torch, numpy or yaml after --version or --help). Exit 1 when a goal is missed.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import time

from installed import as_installed, tool_command  # the benchmarks' directory: run as python benchmarks/startup.py

GOAL_FACTOR, GOAL_SLACK_S = 2.0, 0.060


def tool() -> list[str]:
    return tool_command()


def wall(cmd: list[str]) -> float:
    t = time.perf_counter()
    subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
    return time.perf_counter() - t


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeats", type=int, default=21)
    a = ap.parse_args()
    as_installed()
    commands = {"python -c pass": [sys.executable, "-c", "pass"], "llm360-audit --version": tool() + ["--version"],
                "llm360-audit --help": tool() + ["--help"]}  # fmt: skip
    for cmd in commands.values():  # warm the page cache and the bytecode caches
        wall(cmd)
    runs: dict[str, list[float]] = {k: [] for k in commands}
    for _ in range(a.repeats):
        for name, cmd in commands.items():
            runs[name].append(wall(cmd))
    med = {k: statistics.median(v) for k, v in runs.items()}
    base = med["python -c pass"]
    limit = GOAL_FACTOR * base + GOAL_SLACK_S
    print(f"machine: {platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}, "
          f"load average {os.getloadavg()[0]:.1f}; {a.repeats} interleaved runs, median")  # fmt: skip
    print("| command | median | goal |")
    print("|---|---|---|")
    ok = True
    for name, m in med.items():
        if name == "python -c pass":
            print(f"| `{name}` | {m * 1000:.1f} ms | baseline |")
            continue
        met = m <= limit
        ok &= met
        print(f"| `{name}` | {m * 1000:.1f} ms | ≤ {limit * 1000:.1f} ms (2 × baseline + 60 ms): {'met' if met else 'NOT met'} |")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
