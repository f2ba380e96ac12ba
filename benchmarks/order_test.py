"""The order test's error rates on the weights-only fixture (issue 13), over sample seeds.

    python benchmarks/order_test.py [--seeds 20] [--sample 64] [--controls 256] [--runs 20]

Builds the fixture (audit.example.build.FORENSICS: a 2-layer, 64-wide LLaMA, 115k parameters, 28 steps on
half-random sequences, weights only), then, for each seed, runs the order test on every segment of
  clean        the release as built: every segment should be consistent;
  swapped      chunks 2 and 5 exchanged (then init): segments 8→12 and 20→24 should be inconsistent;
  substituted  chunk 3 replaced by never-trained sequences, same counts and sources (then init): 12→16;
  foreign      checkpoint 16 replaced by that of a run with another training seed (other initialisation,
               same data in the same order): 12→16 and 16→20;
  foreign-data the same with the other run's own data shuffle and random bytes.
Then the step-size bound alone (audit/forensics/continuity.py: no sample, so its error rates come from
training runs, not sample seeds) over --runs fixtures trained with other seeds: every segment of each
clean run (false alarm: any parameter over the bound), and the run with one checkpoint (4, 8, … 28 in
turn) replaced by that of another seed (power: the segments touching it over the bound).
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

from dataclasses import replace

from audit.core.release import Release
from audit.example.build import FORENSICS, build_example
from audit.forensics.continuity import step_bound
from audit.forensics.model import checkpoint_tensors
from audit.forensics.options import OrderTestOptions
from audit.forensics.order import order_test
from audit.forensics.tamper import foreign_checkpoint, substitute_chunk, swap_chunks
from audit.replay.plan import segments
from audit.spec.manifest_loader import load_manifest

TAMPERED = {"swapped": {8, 20}, "substituted": {12}, "foreign": {12, 16}, "foreign-data": {12, 16}}
TAMPERS = {
    "swapped": lambda r: swap_chunks(r, 2, 5),
    "substituted": lambda r: substitute_chunk(r, 3),
    "foreign": lambda r: foreign_checkpoint(r, 16, seed=777),
    "foreign-data": lambda r: foreign_checkpoint(r, 16, seed=777, same_data=False),
}


def run(root: Path, seeds: int, opts: OrderTestOptions) -> dict[int, list]:
    manifest, _, _ = load_manifest(root)
    release = Release(root=root, manifest=manifest, manifest_sha256="")
    pairs = segments(manifest)
    out: dict[int, list] = {}
    for i, (a, b) in enumerate(pairs):
        out[a.step] = [order_test(release, a, b, manifest.checkpoints[-1].step,
                                  OrderTestOptions(**{**opts.__dict__, "seed": s}), i) for s in range(seeds)]  # fmt: skip
    return out


def _release(root: Path) -> Release:
    manifest, _, _ = load_manifest(root)
    return Release(root=root, manifest=manifest, manifest_sha256="")


def bounds(root: Path) -> dict[int, float]:
    """The step-size bound's largest ratio on every segment, by start step."""
    release = _release(root)
    h = release.manifest.config.training
    return {a.step: step_bound(h, a.step, b.step, checkpoint_tensors(release, a), checkpoint_tensors(release, b)).max_ratio
            for a, b in segments(release.manifest)}  # fmt: skip


def bound_runs(tmp: Path, runs: int) -> None:
    clean_ratios, tampered_ratios, alarms, tested, found, tampered = [], [], 0, 0, 0, 0
    for r in range(runs):
        root = tmp / f"run{r}"
        build_example(root, variant=replace(FORENSICS, train=replace(FORENSICS.train, seed=1000 + r)))
        got = bounds(root)
        clean_ratios += got.values()
        alarms += sum(v > 1 for v in got.values())
        tested += len(got)
        step = 4 * (1 + r % 7)
        foreign_checkpoint(root, step, seed=5000 + r, variant=replace(FORENSICS, train=replace(FORENSICS.train, seed=1000 + r)))
        got = {s: v for s, v in bounds(root).items() if s in (step - 4, step)}
        tampered_ratios += got.values()
        found += sum(v > 1 for v in got.values())
        tampered += len(got)
        print(f"  run {r} (seed {1000 + r}), checkpoint {step} foreign: ratios {', '.join(f'{v:.2f}' for v in got.values())}")
        shutil.rmtree(root)
    print(f"step-size bound over {runs} training runs: clean segments over it {alarms}/{tested} (largest ratio "
          f"{max(clean_ratios):.3f}); segments touching a foreign checkpoint over it {found}/{tampered} (smallest "
          f"ratio {min(tampered_ratios):.2f})")  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", type=int, default=20)
    ap.add_argument("--sample", type=int, default=OrderTestOptions.sample, help="declared sequences per segment")
    ap.add_argument("--controls", type=int, default=OrderTestOptions.control_sample, help="controls per segment")
    ap.add_argument("--runs", type=int, default=20, help="training runs for the step-size bound's error rates")
    args = ap.parse_args()
    opts = OrderTestOptions(sample=args.sample, control_sample=args.controls)
    with tempfile.TemporaryDirectory() as tmp:
        clean = Path(tmp) / "clean"
        began = time.perf_counter()
        build_example(clean, variant=FORENSICS)
        print(f"fixture built in {time.perf_counter() - began:.1f} s; alpha {opts.alpha}, min_effect "
              f"{opts.min_effect}, {opts.sample} declared / {opts.control_sample} controls, {args.seeds} seeds")  # fmt: skip
        releases = {"clean": clean}
        for name, tamper in TAMPERS.items():
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
                fired = sorted({f for r in results for f in r.fired})
                print(f"  {start:>2}→{results[0].end_step:<2}{mark:11} {verdicts}  p {min(ps):.1e}…{max(ps):.1e}  "
                      f"A {min(effects):.2f}…{max(effects):.2f}  bound {results[0].step_bound_ratio:.2f}  "
                      f"fired {fired}  {wall:.2f} s/segment")  # fmt: skip
                if name == "clean":
                    tested += len(results)
                    alarms += len(results) - verdicts["consistent"]
                elif bad:
                    tampered += len(results)
                    found += verdicts["inconsistent"]
        print(f"\nclean segments not consistent: {alarms}/{tested}; tampered segments inconsistent: {found}/{tampered}\n")
        bound_runs(Path(tmp), args.runs)


if __name__ == "__main__":
    main()
