"""Hashing at scale: the tool's cold audit against one `openssl dgst -sha256` process over the same
files, a warm re-audit (hash cache) against a `--no-hash` audit, and `init` (which hashes through the
same cache) against the cold audit, with the audit right after it against `--no-hash`, in one script.

    python benchmarks/hash_throughput.py [--gib 4] [--files 8] [--repeats 3] [--workdir DIR]

Builds a release of `--files` checkpoints holding one safetensors file each (real header, random
data), `--gib` GiB in all, and a manifest (llm360-audit init). Every run is a subprocess; peak RSS is
the child's ru_maxrss. The page cache is warmed first so that both sides read from memory.
Goals: cold audit / openssl <= 0.55 on 2 cores and cold audit / `model_signing sign key` (model-signing's
parallel hashing, same files; skipped with a message where model-signing is not installed) <= 0.9; peak RSS
while hashing <= 100 MB; warm re-audit / --no-hash audit <= 1.3; init / cold audit <= 1.1; audit after
init / --no-hash <= 1.3.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from installed import as_installed  # the benchmarks' directory: run as python benchmarks/hash_throughput.py

from audit.readers import yamlio
from audit.init import init_release


def build(root: Path, gib: float, files: int) -> list[Path]:
    per_file = int(gib * (1 << 30)) // files // 4 * 4
    block = os.urandom(1 << 24)
    paths = []
    for i in range(files):
        d = root / "checkpoints" / f"step_{i + 1:06d}"
        d.mkdir(parents=True)
        header = json.dumps({"w": {"dtype": "F32", "shape": [per_file // 4], "data_offsets": [0, per_file]}}).encode()
        header += b" " * (-len(header) % 8)
        path = d / "model.safetensors"
        with open(path, "wb") as f:
            f.write(struct.pack("<Q", len(header)) + header)
            left = per_file
            while left:
                n = min(left, len(block))
                f.write(block[:n] if i % 2 else block[-n:])
                left -= n
        paths.append(path)
    (root / "config.json").write_text(json.dumps({"architectures": ["BenchModel"], "vocab_size": 1}))
    (root / "llm360.yaml").write_text(yamlio.dumps({"spec_version": "1.0", "name": "hash benchmark"}))
    init_release(root)
    return paths


def timed(cmd: list[str]) -> tuple[float, float]:
    """(wall seconds, this child's peak RSS in MB) — each run in its own waiter to isolate ru_maxrss."""
    probe = [sys.executable, "-c", "import resource,subprocess,sys,time; t=time.perf_counter(); "
             "subprocess.run(sys.argv[1:]); w=time.perf_counter()-t; "
             "print(w, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)", *cmd]  # fmt: skip
    out = subprocess.run(probe, capture_output=True, text=True, check=True).stdout.split()
    return float(out[-2]), int(out[-1]) / 1024


def model_signing_command(root: Path, work: Path) -> list[str] | None:
    """``model_signing sign key`` over the release with a fresh EC P-256 key (signature outside the release),
    or None when model-signing (and cryptography) are not installed in this environment."""
    exe = Path(sys.executable).with_name("model_signing")
    if not exe.exists():
        return None
    try:
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric import ec
    except ImportError:
        return None
    key = ec.generate_private_key(ec.SECP256R1())
    pem = work / "bench-key.pem"
    pem.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                      serialization.NoEncryption()))  # fmt: skip
    return [str(exe), "sign", "key", str(root), "--private_key", str(pem), "--signature", str(work / "model.sig")]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--gib", type=float, default=4.0)
    ap.add_argument("--files", type=int, default=8)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--workdir", type=Path, default=None)
    a = ap.parse_args()
    as_installed()
    if shutil.which("openssl") is None:
        print("openssl not found", file=sys.stderr)
        return 2
    work = Path(tempfile.mkdtemp(prefix="llm360-hashbench-", dir=a.workdir))
    try:
        root = work / "release"
        t0 = time.perf_counter()
        paths = build(root, a.gib, a.files)
        setup = time.perf_counter() - t0
        total = sum(p.stat().st_size for p in paths)
        tool = [sys.executable, "-m", "audit", str(root), "--replay", "none", "-q", "--out", str(work / "out")]
        openssl = ["openssl", "dgst", "-sha256", *map(str, paths)]
        timed(openssl)  # warm the page cache
        init = [sys.executable, "-m", "audit", "init", str(root), "-q"]
        signer = model_signing_command(root, work)
        rows = {"openssl": [], "cold": [], "warm": [], "nohash": [], "init": [], "after-init": []}
        if signer is not None:
            rows["model_signing"] = []
        rss = {k: [] for k in rows}
        for _ in range(a.repeats):
            cache = work / "cache"
            shutil.rmtree(cache, ignore_errors=True)
            for name, cmd in (("openssl", openssl), ("cold", tool + ["--cache-dir", str(cache)]),
                              ("warm", tool + ["--cache-dir", str(cache)]), ("nohash", tool + ["--no-hash"]),
                              ("init", init + ["--cache-dir", str(cache) + "-init"]),
                              ("after-init", tool + ["--cache-dir", str(cache) + "-init"]),
                              *((("model_signing", signer),) if signer else ())):  # fmt: skip
                if name == "init":
                    shutil.rmtree(str(cache) + "-init", ignore_errors=True)
                wall, peak = timed(cmd)
                rows[name].append(wall)
                rss[name].append(peak)
        med = {k: statistics.median(v) for k, v in rows.items()}
        cold_ratio, warm_ratio = med["cold"] / med["openssl"], med["warm"] / med["nohash"]
        init_ratio, after_ratio = med["init"] / med["cold"], med["after-init"] / med["nohash"]
        peak = max(rss["cold"])
        print(f"{len(paths)} files, {total / (1 << 30):.2f} GiB; {os.cpu_count()} cores; setup {setup:.1f} s")
        for k in rows:
            print(f"{k:8s} median {med[k]:.3f} s  runs {', '.join(f'{t:.3f}' for t in rows[k])}  "
                  f"peak RSS {max(rss[k]):.0f} MB")
        print(f"openssl throughput {total / med['openssl'] / 1e9:.2f} GB/s; tool cold {total / med['cold'] / 1e9:.2f} GB/s")
        ok = cold_ratio <= 0.55 and peak <= 100 and warm_ratio <= 1.3 and init_ratio <= 1.1 and after_ratio <= 1.3
        if signer is None:
            print("model_signing row skipped: model-signing is not installed here (pip install model-signing==1.1.1 "
                  "pyopenssl cryptography)")  # fmt: skip
        else:
            ms_ratio = med["cold"] / med["model_signing"]
            ok = ok and ms_ratio <= 0.9
            print(f"cold/model_signing sign key {ms_ratio:.3f} (goal <= 0.9)")
        print(f"cold/openssl {cold_ratio:.3f} (goal <= 0.55); peak RSS while hashing {peak:.0f} MB (goal <= 100); "
              f"warm/no-hash {warm_ratio:.3f} (goal <= 1.3); init/cold {init_ratio:.3f} (goal <= 1.1); "
              f"after-init/no-hash {after_ratio:.3f} (goal <= 1.3): {'all met' if ok else 'NOT all met'}")
        return 0 if ok else 1
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
