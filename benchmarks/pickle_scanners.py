"""Our static pickle scanner (audit/readers/pickle_scan.py) against picklescan, modelscan and fickling,
on the corpus of tests/pickle_corpus.py (hostile and benign pickle files, built in a temp dir).

    python benchmarks/pickle_scanners.py [--no-training-args]

Prints a Markdown table — file, description, expected, ours, then each peer column — and the
per-tool totals: true positives (hostile, flagged), false positives (benign, flagged), false
negatives (hostile, not flagged). A verdict that disagrees with the label is marked ✗. A peer
that is not installed gets an "n/a" column. Nothing is loaded: every tool here is static.
"""

from __future__ import annotations

import argparse
import datetime as dt
import platform
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))

import pickle_corpus as pc  # noqa: E402

from audit.readers.pickle_scan import scan_pickle_file  # noqa: E402


def _cell(flagged: bool | None, note: str, expected: bool) -> str:
    if flagged is None:  # not installed, or the tool raised on the file (counted as not flagged)
        return "n/a" if not note else note + (" ✗" if expected else "")
    text = ("unsafe" if flagged else "safe") + (f" ({note})" if note else "")
    return text + (" ✗" if flagged != expected else "")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--no-training-args", action="store_true", help="leave out TrainingArguments (no transformers)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        cases = pc.build(d, training_args=not args.no_training_args)
        expected = [c.unsafe for c in cases]
        ours = [scan_pickle_file(c.path, c.path.name) for c in cases]
        columns: dict[str, list[tuple[bool | None, str]]] = {
            "ours": [(bool(s.unsafe), ", ".join(s.unsafe[:1]) + (" …" if len(s.unsafe) > 1 else "")) for s in ours]}
        for column, (package, _) in pc.VERDICTS.items():
            installed = pc.peer_version(package) is not None
            columns[column] = pc.peer_verdicts(column, cases) if installed else [(None, "")] * len(cases)
        ran = not (d / pc.MARKER).exists() and (d / "victim").is_dir()

    import torch

    versions = {p: pc.peer_version(p) or "not installed" for p in pc.PEERS}
    print(f"{dt.date.today()} · Python {platform.python_version()} · torch {torch.__version__} · "
          + " · ".join(f"{p} {v}" for p, v in versions.items()))  # fmt: skip
    print(f"{len(cases)} files: {sum(expected)} hostile, {len(cases) - sum(expected)} benign; "
          f"no payload ran: {ran}\n")  # fmt: skip
    print("| file | description | expected | " + " | ".join(columns) + " |")
    print("|---|---|---|" + "---|" * len(columns))
    for i, case in enumerate(cases):
        cells = [_cell(*col[i], expected[i]) for col in columns.values()]
        label = "unsafe" if case.unsafe else "safe"
        print(f"| `{case.path.name}` | {case.description} | {label} | " + " | ".join(cells) + " |")
    print("\n| tool | TP | FP | FN | agrees with the label |")
    print("|---|---|---|---|---|")
    for column, verdicts in columns.items():
        flagged = [v for v, _ in verdicts]
        if all(v is None for v in flagged):
            print(f"| {column} | n/a | n/a | n/a | not installed |")
            continue
        t = pc.totals(expected, flagged)
        agree = sum(bool(f) == e for f, e in zip(flagged, expected))
        print(f"| {column} | {t['TP']} | {t['FP']} | {t['FN']} | {agree}/{len(cases)} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
