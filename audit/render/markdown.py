"""report.md: the level and verdict first, then criteria with their evidence, then every finding."""

from __future__ import annotations

from audit.render.memorization import markdown_table
from audit.spec.report import Report

ICON = {"pass": "✅", "fail": "❌", "partial": "⚠️", "skipped": "⏭️"}


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _evidence(ev: dict) -> str:
    shown = [f"{k}: {v}" for k, v in ev.items() if isinstance(v, (int, float, str)) and not isinstance(v, bool)]
    return _cell(", ".join(shown)) or "—"


def render_markdown(report: Report) -> str:
    c = report.counts()
    name = report.release.name or report.release.path
    lines = [
        f"# LLM360 audit: {name}",
        "",
        f"**Verdict: {report.verdict.upper()}** · level **{report.level}** · "
        f"{c['error']} error(s), {c['warning']} warning(s), {c['info']} note(s)",
        "",
        *([f"*Sampled:* {report.sample_note()}.", ""] if report.sample_note() else []),
        f"llm360-audit {report.tool.version}, spec {report.spec_version}",
        "",
        *([f"> **{report.partial_note()}**", ""] if report.partial_note() else []),
        "## Criteria",
        "",
        "| criterion | status | summary | evidence |",
        "|---|---|---|---|",
    ]
    for cid, res in report.criteria.items():
        lines.append(f"| `{cid}` | {ICON[res.status]} {res.status} | {_cell(res.summary)} | {_evidence(res.evidence)} |")
    lines += ["", "## Findings", ""]
    if not report.findings:
        lines.append("None.")
    for f in report.findings:
        where = f" (`{f.path}`)" if f.path else ""
        lines.append(f"- **{f.severity}** `{f.id}` [{f.criterion}]{where}: {f.message}"
                     + (f" *(follows from `{f.cause.id}` at `{f.cause.path}`)*" if f.cause else ""))
        if f.remediation:
            lines.append(f"  - *What to do:* {f.remediation}")
    lines += ["", "## Replay", ""]
    cov = report.replay.coverage
    if cov is not None and cov.segments_total:
        lines += [f"{cov.segments_replayed} of {cov.segments_total} segments replayed (mode: {report.replay.mode}).", ""]
    if not report.replay.segments:
        lines.append(f"No segment replayed (mode: {report.replay.mode}); {report.criteria['replay'].summary}.")
    for s in report.replay.segments:
        lines.append(f"- steps {s.start_step}→{s.end_step}: {s.status}"
                     + (f", max abs diff {s.max_abs_diff:g}" if s.max_abs_diff is not None else ""))
    return "\n".join(lines + _forensics(report)) + "\n"


def _forensics(report: Report) -> list[str]:
    f = report.forensics
    if f is None:
        return []
    cost = f" Cost: {f.forward_passes:,} sequence forward passes, {f.wall_s:.1f} s." if f.wall_s is not None else ""
    lines = ["", "## Weights-only tests", "",
             f"Order test at alpha {f.alpha}, expected effect {f.min_effect}, {f.sample} declared and "
             f"{f.control_sample} control sequences per segment (seed {f.seed}); each segment also held to the "
             f"step-size bound of the declared optimizer.{cost}", ""]  # fmt: skip
    if f.segments:
        lines += ["| segment | verdict | fired | p | effect A | upper bound | power | loss drop declared / controls "
                  "| step bound ratio | declared / controls |", "|---|---|---|---|---|---|---|---|---|---|"]  # fmt: skip
    for s in f.segments:
        num = [("—" if v is None else f"{v:{fmt}}") for v, fmt in
               ((s.p_value, ".2g"), (s.effect, ".2f"), (s.upper_bound, ".2f"), (s.power, ".2f"))]  # fmt: skip
        drops = "—" if s.declared_drop is None else f"{s.declared_drop:.3f} / {s.control_drop:.3f}"
        ratio = "—" if s.step_bound_ratio is None else f"{s.step_bound_ratio:.2f}"
        lines.append(f"| {s.start_step}→{s.end_step} | {s.verdict} | {', '.join(s.fired) or '—'} | {' | '.join(num)} "
                     f"| {drops} | {ratio} | {s.sequences} / {s.controls} |")  # fmt: skip
    if f.palimpsest is not None:
        p = f.palimpsest
        lines += ["", f"Palimpsest at step {p.checkpoint_step}: Spearman rho {p.rho:.3f}, one-sided p {p.p_value:.2g} "
                      f"({p.sequences} sequences)."]  # fmt: skip
    mem = f.memorization
    return lines + (["", *markdown_table(mem.k, mem.l, mem.rows)] if mem and mem.rows else [])
