"""The Analysis360 memorization scores drawn and tabulated, for the report's weights-only section and for
``llm360-audit analyze --memorization`` (memorization.md, memorization.svg)."""

from __future__ import annotations

from collections.abc import Sequence

from audit.render.svg import heatmap
from audit.spec.analysis import MemorizationStudy
from audit.spec.report import MemorizationRow


def grid(rows: Sequence[MemorizationRow], score: str) -> tuple[list[int], list[int], dict[tuple[int, int], float]]:
    """(checkpoint steps, chunk groups, {(step index, group index): the score})."""
    steps, groups = sorted({r.step for r in rows}), sorted({r.chunk_group for r in rows})
    return steps, groups, {(steps.index(r.step), groups.index(r.chunk_group)): getattr(r, score) for r in rows}


def heatmap_svg(rows: Sequence[MemorizationRow], score: str, title: str, standalone: bool = False) -> str:
    steps, groups, cells = grid(rows, score)
    return heatmap([str(s) for s in steps], [str(g) for g in groups], cells, title=title, row_label="checkpoint step",
                   column_label="chunk group (training order)", value_label=title.lower(), lo=0.0,
                   standalone=standalone)  # fmt: skip


def markdown_table(k: int, l: int, rows: Sequence[MemorizationRow]) -> list[str]:  # noqa: E741
    """Token match / full match per checkpoint × chunk group, as Markdown lines."""
    if not rows:
        return []
    steps, groups, tokens = grid(rows, "token_match")
    full = grid(rows, "full_match")[2]
    lines = [f"Memorization (k = {k}, l = {l}), token match / full match per checkpoint × chunk group "
             "(0 = trained first):", "",
             "| step | " + " | ".join(f"group {g}" for g in groups) + " |", "|---" * (len(groups) + 1) + "|"]  # fmt: skip
    for i, step in enumerate(steps):
        lines.append(f"| {step} | " + " | ".join(
            f"{tokens[i, j]:.3f} / {full[i, j]:.3f}" if (i, j) in tokens else "—" for j in range(len(groups))) + " |")  # fmt: skip
    return lines


def study_markdown(s: MemorizationStudy) -> str:
    """memorization.md: what was studied, the table, the trend at the final checkpoint, the problems."""
    lines = [f"# Memorization study{f': {s.name}' if s.name else ''}", "",
             f"{s.release}; {s.tool.name} {s.tool.version}. Prompt: the first {s.k} tokens of each sampled training "
             f"sequence, {s.l} tokens greedily decoded; {s.sample} sequences per chunk group (seed {s.seed}), "
             f"{s.skipped_short} shorter than {s.k + s.l} tokens skipped; {s.forward_passes:,} forward passes, "
             f"{s.wall_s:.1f} s on {s.device}.", "", "| group | steps |", "|---|---|"]  # fmt: skip
    lines += [f"| {g.group} | {g.first_step}–{g.last_step} |" for g in s.groups]
    lines += ["", *markdown_table(s.k, s.l, s.rows)]
    if s.trend_rho is not None:
        more = "are" if s.trend_rho > 0 and s.trend_p <= 0.05 else "are not shown to be"
        lines += ["", f"At the final checkpoint (step {s.final_step}), later chunks {more} memorized more: Spearman rho "
                      f"{s.trend_rho:.3f} between a sequence's chunk group and its correct tokens, one-sided p "
                      f"{s.trend_p:.2g}."]  # fmt: skip
    if s.problems:
        lines += ["", "Not studied:", *(f"- {p}" for p in s.problems)]
    return "\n".join(lines) + "\n"
