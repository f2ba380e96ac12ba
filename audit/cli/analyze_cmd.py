"""``llm360-audit analyze RELEASE --memorization``: the Analysis360 memorization study on its own; writes
memorization.json, memorization.md and the heatmaps (memorization.svg, memorization-full.svg) to --out."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from audit.cli import common
from audit.cli.root import EXIT_PASS, app, err, usage


def _steps(text: str | None) -> list[int] | None:
    if text is None:
        return None
    try:
        return sorted({int(s) for s in text.split(",") if s.strip()})
    except ValueError:
        raise typer.BadParameter("must be checkpoint steps separated by commas, e.g. 0,14000,28000") from None


@app.command("analyze", short_help="Studies of a release's checkpoints: --memorization (Analysis360).")
def analyze_cmd(
    release: Annotated[Path, typer.Argument(metavar="RELEASE", help="Release directory (holds llm360.yaml).")],
    memorization: Annotated[bool, typer.Option(
        "--memorization", help="Analysis360's memorization score: prompt with the first 32 tokens of sampled training "
                               "sequences, greedy-decode 32, per checkpoint × chunk group.")] = False,
    out: common.Out = None,
    sample: Annotated[int, typer.Option(min=1, metavar="M", help="Sequences sampled per chunk group.")] = 32,
    seed: Annotated[int, typer.Option(metavar="S", help="Seed of the sequence sample.")] = 0,
    groups: Annotated[int, typer.Option(min=1, metavar="G", help="Groups of consecutive data chunks.")] = 8,
    steps: Annotated[Optional[str], typer.Option(
        metavar="S1,S2,…", help="Only the checkpoints at these steps (default: every checkpoint).")] = None,
    device: Annotated[str, typer.Option(metavar="cpu|cuda[:N]", help="Device for the forward passes.")] = "cpu",
    quiet: common.Quiet = False,
) -> None:
    """Run a study of RELEASE's checkpoints and write its results to --out."""
    if not memorization:
        raise usage("analyze: choose a study: --memorization")
    if device not in ("cpu", "cuda") and not device.startswith("cuda:"):
        raise usage(f"--device {device}: use cpu or cuda")
    wanted = _steps(steps)
    root, out_dir = common.release_and_out(release, out)
    from audit.forensics.study import StudyError, memorization_study
    from audit.render.memorization import heatmap_svg, study_markdown

    if device.startswith("cuda"):
        import torch

        if not torch.cuda.is_available():
            raise usage(f"--device {device}: no CUDA device is available")
    if not quiet:
        err.print(f"memorization study of {root}: {sample} sequences per chunk group, seed {seed}")
    try:
        study = memorization_study(root, sample=sample, seed=seed, groups=groups, device=device, steps=wanted)
    except StudyError as exc:
        raise usage(f"{root}: {exc}") from None
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "memorization.json").write_text(study.model_dump_json(indent=2) + "\n")
    text = study_markdown(study)
    (out_dir / "memorization.md").write_text(text)
    for name, score, title in (("memorization.svg", "token_match", "Token match"),
                               ("memorization-full.svg", "full_match", "Full match")):  # fmt: skip
        (out_dir / name).write_text(heatmap_svg(study.rows, score, f"{title} (k = {study.k}, l = {study.l})",
                                                standalone=True) + "\n")  # fmt: skip
    if not quiet:
        print(text, end="")
    err.print(f"memorization study written to {out_dir}")
    raise typer.Exit(EXIT_PASS)
