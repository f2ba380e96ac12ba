"""The order test's error rates on the weights-only fixture (issue 13), over sample seeds.

    python benchmarks/order_test.py [--seeds 20] [--sample 64] [--controls 256]

Builds the fixture (audit.example.build.FORENSICS: a 2-layer, 64-wide LLaMA, 115k parameters, 28 steps on
half-random sequences, weights only), then, for each seed, runs the order test on every segment of
  clean        the release as built: every segment should be consistent;
  swapped      chunks 2 and 5 exchanged (then init): segments 8→12 and 20→24 should be inconsistent;
  substituted  chunk 3 replaced by never-trained sequences, same counts and sources (then init): 12→16.
A sample as large as what it samples from (the fixture's segments hold 64 sequences) is the same for
every seed; smaller samples show the sampling variation. Prints, per release and segment, the verdict counts, the p-value and effect ranges, and the seconds
per segment; then the false-alarm rate (clean segments not consistent) and the power (tampered
segments found inconsistent) at the default threshold.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

from audit.core.release import Release
from audit.example.build import FORENSICS, build_example
from audit.forensics.options import OrderTestOptions
from audit.forensics.order import order_test
from audit.forensics.tamper import substitute_chunk, swap_chunks
from audit.replay.plan import segments
from audit.spec.manifest_loader import load_manifest

TAMPERED = {"swapped": {8, 20}, "substituted": {12}}


def run(root: Path, seeds: int, opts: OrderTestOptions) -> dict[int, list]:
    manifest, _, _ = load_manifest(root)
    release = Release(root=root, manifest=manifest, manifest_sha256="")
    pairs = segments(manifest)
    out: dict[int, list] = {}
    for i, (a, b) in enumerate(pairs):
        out[a.step] = [order_test(release, a, b, manifest.checkpoints[-1].step,
                                  OrderTestOptions(**{**opts.__dict__, "seed": s}), i) for s in range(seeds)]  # fmt: skip
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", type=int, default=20)
    ap.add_argument("--sample", type=int, default=OrderTestOptions.sample, help="declared sequences per segment")
    ap.add_argument("--controls", type=int, default=OrderTestOptions.control_sample, help="controls per segment")
    args = ap.parse_args()
    opts = OrderTestOptions(sample=args.sample, control_sample=args.controls)
    with tempfile.TemporaryDirectory() as tmp:
        clean = Path(tmp) / "clean"
        began = time.perf_counter()
        build_example(clean, variant=FORENSICS)
        print(f"fixture built in {time.perf_counter() - began:.1f} s; alpha {opts.alpha}, min_effect "
              f"{opts.min_effect}, {opts.sample} declared / {opts.control_sample} controls, {args.seeds} seeds")  # fmt: skip
        releases = {"clean": clean}
        for name, tamper in (("swapped", lambda r: swap_chunks(r, 2, 5)), ("substituted", lambda r: substitute_chunk(r, 3))):
            shutil.copytree(clean, Path(tmp) / name)
            tamper(Path(tmp) / name)
            releases[name] = Path(tmp) / name
        alarms = tested = found = tampered = 0
        for name, root in releases.items():
            print(f"\n{name}")
            for start, results in run(root, args.seeds, opts).items():
                verdicts = {v: sum(r.verdict == v for r in results) for v in ("consistent", "inconsistent", "inconclusive")}
                ps = [r.p_value for r in results]
                effects = [r.effect for r in results]
                wall = sum(r.wall_s for r in results) / len(results)
                bad = start in TAMPERED.get(name, ())
                mark = " (tampered)" if bad else ""
                print(f"  {start:>2}→{results[0].end_step:<2}{mark:11} {verdicts}  p {min(ps):.1e}…{max(ps):.1e}  "
                      f"A {min(effects):.2f}…{max(effects):.2f}  {wall:.2f} s/segment")  # fmt: skip
                if name == "clean":
                    tested += len(results)
                    alarms += len(results) - verdicts["consistent"]
                elif bad:
                    tampered += len(results)
                    found += verdicts["inconsistent"]
        print(f"\nclean segments not consistent: {alarms}/{tested}; tampered segments inconsistent: {found}/{tampered}")


if __name__ == "__main__":
    main()
