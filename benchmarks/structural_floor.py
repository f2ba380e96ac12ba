"""The structural audit against the real floor: the least reading the audit must do, at Amber's shape and
scaled with it; and ``init --no-hash`` against the audit.

    python benchmarks/structural_floor.py [--checkpoints 90,180,360] [--repeats 3] [--workdir DIR]

For each checkpoint count N the release is built as in ``benchmarks/structure_scale.py`` (N checkpoints of
LLaMA-7B shape, 3 sparse safetensors shards each with real headers, N data chunks, a 762 × N line training
log following Amber's schedule, evaluations, ``llm360.yaml`` from ``init --no-hash``). Then, each a
subprocess, interleaved run by run so that machine load falls on both sides alike:

  floor   a bare Python script doing the minimum reading: the manifest (``yaml.CSafeLoader``), every
          safetensors header it declares (read 8 bytes, read the header, ``json.loads``), every training-log
          line (``orjson.loads``);
  tool    ``llm360-audit RELEASE --no-hash --replay none --out OUT -q``;
  init    ``llm360-audit init RELEASE --no-hash -q`` (on a copy of the skeleton manifest each time).

Wall time, CPU time (user + system) and the child's peak RSS (``os.wait4``), median of --repeats; the goals are
on wall time (on a loaded machine the CPU-time ratio is the steadier one, and is printed beside it). Goals
(issue 16):
  1. at the largest N (360 = Amber): tool ≤ 1.5 × floor, tool's peak RSS ≤ 150 MB;
  2. time linear in N (least-squares slope and R² ≥ 0.98 over the counts), RSS growing ≤ 20 MB from the
     smallest to the largest N;
  5. init --no-hash ≤ 2 × the tool at the largest N.
Exit 1 when a goal is missed; the table printed is what BENCHMARKS.md records.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from installed import as_installed, tool_command  # noqa: E402
from structure_scale import build  # noqa: E402  (the Amber-shaped release builder)

FLOOR = r"""
import json, sys
import orjson, yaml
root = sys.argv[1]
with open(root + "/llm360.yaml", "rb") as f:
    m = yaml.load(f, Loader=yaml.CSafeLoader)
for ck in m.get("checkpoints") or []:
    for entry in ck.get("files") or []:
        if entry["path"].endswith(".safetensors"):
            with open(root + "/" + entry["path"], "rb") as f:
                json.loads(f.read(int.from_bytes(f.read(8), "little")))
with open(root + "/" + m["metrics"]["training_log"]["path"], "rb") as f:
    for line in f:
        orjson.loads(line)
"""
GOAL_RATIO, GOAL_RSS_MB, GOAL_R2, GOAL_RSS_GROWTH_MB, GOAL_INIT = 1.5, 150.0, 0.98, 20.0, 2.0


def timed(cmd: list[str], ok=(0, 1)) -> tuple[float, float, float]:
    """(wall seconds, the child's peak RSS in MB, its CPU seconds: user + system)."""
    t = time.perf_counter()
    p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(p.pid, 0)
    wall = time.perf_counter() - t
    code = os.waitstatus_to_exitcode(status)
    if code not in ok:
        raise SystemExit(f"{' '.join(cmd[:3])} … exited {code}:\n{p.stderr.read().decode(errors='replace')[-2000:]}")
    return wall, usage.ru_maxrss / 1024, usage.ru_utime + usage.ru_stime


def fit(xs: list[float], ys: list[float]) -> tuple[float, float, float]:
    """Least squares y = a + b·x: (a, b, R²)."""
    mx, my = statistics.fmean(xs), statistics.fmean(ys)
    sxx = sum((x - mx) ** 2 for x in xs)
    b = sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / sxx
    a = my - b * mx
    ss_res = sum((y - a - b * x) ** 2 for x, y in zip(xs, ys))
    ss_tot = sum((y - my) ** 2 for y in ys)
    return a, b, 1.0 - ss_res / ss_tot if ss_tot else 1.0


def measure(root: Path, work: Path, repeats: int) -> dict:
    skeleton = (work / "skeleton.yaml").read_bytes()
    floor_script = work / "floor.py"
    floor_script.write_text(FLOOR)
    floor_cmd = [sys.executable, str(floor_script), str(root)]
    rows: dict[str, list[tuple[float, float, float]]] = {"floor": [], "tool": [], "init": []}
    timed(floor_cmd)  # warm the page cache and the interpreter's files for every contender alike
    timed(tool_command(str(root), "--no-hash", "--replay", "none", "--out", str(work / "out"), "-q"))
    for i in range(repeats):
        rows["floor"].append(timed(floor_cmd, ok=(0,)))
        rows["tool"].append(timed(tool_command(str(root), "--no-hash", "--replay", "none", "--out", str(work / f"out{i}"), "-q")))
        (root / "llm360.yaml").write_bytes(skeleton)  # init from the human skeleton each time
        rows["init"].append(timed(tool_command("init", str(root), "--no-hash", "-q"), ok=(0,)))
    return {k: (statistics.median(w for w, _, _ in v), max(r for _, r, _ in v), [w for w, _, _ in v],
                statistics.median(c for _, _, c in v)) for k, v in rows.items()}  # fmt: skip


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--checkpoints", default="90,180,360", help="comma-separated checkpoint counts")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--workdir", type=Path, default=None, help="where to build (needs sparse files)")
    a = ap.parse_args()
    as_installed()
    counts = sorted(int(c) for c in a.checkpoints.split(","))
    results = {}
    for n in counts:
        tmp = Path(tempfile.mkdtemp(prefix=f"structural-floor-{n}-", dir=a.workdir))
        try:
            root = tmp / "release"
            t = time.perf_counter()
            build(root, n)
            shutil.copy(root / "llm360.yaml", tmp / "skeleton.yaml")
            subprocess.run(tool_command("init", str(root), "--no-hash", "-q"), check=True, stdout=subprocess.DEVNULL)
            print(f"N={n}: built and init'd in {time.perf_counter() - t:.1f} s", flush=True)
            results[n] = measure(root, tmp, a.repeats)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        f, tl, it = results[n]["floor"], results[n]["tool"], results[n]["init"]
        print(f"  floor {f[0]:.3f} s ({f[1]:.0f} MB)  tool {tl[0]:.3f} s ({tl[1]:.0f} MB)  init {it[0]:.3f} s "
              f"({it[1]:.0f} MB)  runs tool {' '.join(f'{x:.3f}' for x in tl[2])}", flush=True)  # fmt: skip

    big, small = counts[-1], counts[0]
    ratio = results[big]["tool"][0] / results[big]["floor"][0]
    rss = results[big]["tool"][1]
    init_ratio = results[big]["init"][0] / results[big]["tool"][0]
    ok = {"ratio": ratio <= GOAL_RATIO, "rss": rss <= GOAL_RSS_MB, "init": init_ratio <= GOAL_INIT}
    print()
    print(f"machine: {platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}, "
          f"load average {os.getloadavg()[0]:.1f}")  # fmt: skip
    print("| N | floor wall (CPU) | tool wall (CPU) | tool / floor wall (CPU) | tool peak RSS | init --no-hash wall (CPU) | init / tool wall (CPU) |")
    print("|---|---|---|---|---|---|---|")
    for n in counts:
        r = results[n]
        f, tl, it = r["floor"], r["tool"], r["init"]
        print(f"| {n} | {f[0]:.3f} s ({f[3]:.3f}) | {tl[0]:.3f} s ({tl[3]:.3f}) | {tl[0] / f[0]:.2f}× ({tl[3] / f[3]:.2f}×) | "
              f"{tl[1]:.1f} MB | {it[0]:.3f} s ({it[3]:.3f}) | {it[0] / tl[0]:.2f}× ({it[3] / tl[3]:.2f}×) |")  # fmt: skip
    print(f"goal 1: tool / floor at N={big} {ratio:.2f}× (≤ {GOAL_RATIO:g}: {'met' if ok['ratio'] else 'NOT met'}); "
          f"peak RSS {rss:.1f} MB (≤ {GOAL_RSS_MB:g}: {'met' if ok['rss'] else 'NOT met'})")  # fmt: skip
    if len(counts) >= 3:
        a0, slope, r2 = fit([float(n) for n in counts], [results[n]["tool"][0] for n in counts])
        fa, fslope, fr2 = fit([float(n) for n in counts], [results[n]["floor"][0] for n in counts])
        _, cslope, cr2 = fit([float(n) for n in counts], [results[n]["tool"][3] for n in counts])
        print(f"        tool CPU time: {cslope * 1000:.2f} ms × N, R² {cr2:.4f} (the steadier measure on a loaded machine)")
        growth = results[big]["tool"][1] - results[small]["tool"][1]
        ok["r2"], ok["growth"] = r2 >= GOAL_R2, growth <= GOAL_RSS_GROWTH_MB
        print(f"goal 2: tool time = {a0:.3f} s + {slope * 1000:.2f} ms × N, R² {r2:.4f} (≥ {GOAL_R2}: "
              f"{'met' if ok['r2'] else 'NOT met'}); floor = {fa:.3f} s + {fslope * 1000:.2f} ms × N (R² {fr2:.4f}); "
              f"RSS growth {small}→{big}: {growth:+.1f} MB (≤ {GOAL_RSS_GROWTH_MB:g}: {'met' if ok['growth'] else 'NOT met'})")  # fmt: skip
    print(f"goal 5: init --no-hash / tool at N={big} {init_ratio:.2f}× (≤ {GOAL_INIT:g}: {'met' if ok['init'] else 'NOT met'})")
    return 0 if all(ok.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
