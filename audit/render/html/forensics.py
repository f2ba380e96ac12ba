"""The weights-only section (--order-test): one row per tested segment with the declared vs control loss
drops charted, the palimpsest scatter, the memorization table and heatmaps (checkpoint × chunk group),
and what the tests cost."""

from __future__ import annotations

from audit.render.html.markup import DASH, TONE, esc, figure, not_available, pill
from audit.render.memorization import grid, heatmap_svg
from audit.render.svg import bar_chart, format_number, line_chart
from audit.spec.report import Forensics, Report


def _num(v: float | None, fmt: str = ".2f") -> str:
    return DASH if v is None else esc(format(v, fmt))


def _segments(f: Forensics) -> str:
    rows = "".join(
        f'<tr class="seg-{TONE.get(s.verdict, "muted")}"><td class="nowrap"><b>{s.start_step}→{s.end_step}</b></td>'
        f"<td>{pill(s.verdict)}</td><td>{esc(', '.join(s.fired) or DASH)}</td>"
        f"<td class=num>{_num(s.p_value, '.2g')}</td><td class=num>{_num(s.effect)}</td>"
        f"<td class=num>{_num(s.upper_bound)}</td><td class=num>{_num(s.power)}</td>"
        f"<td class=num>{_num(s.step_bound_ratio)}</td><td class=num>{_num(s.step_bound_share, '.1%')}</td>"
        f"<td class=num>{s.sequences} / {s.controls}</td><td>{esc(s.control or s.reason or '—')}</td>"
        f"<td class=num>{esc(format_number(s.wall_s))}</td></tr>"
        for s in f.segments
    )
    return ("<table><thead><tr><th>segment</th><th>verdict</th><th>fired</th><th>p</th><th>effect A</th>"
            "<th>upper bound</th><th>power</th><th>step bound ratio</th><th>params over it</th>"
            "<th>declared / controls</th><th>controls from</th><th>seconds</th></tr></thead>"
            f"<tbody>{rows}</tbody></table>")  # fmt: skip


def _drops(f: Forensics) -> str:
    tested = [s for s in f.segments if s.declared_drop is not None]
    if not tested:
        return ""
    svg = bar_chart([f"{s.start_step}→{s.end_step}" for s in tested],
                    {"declared": [s.declared_drop for s in tested], "controls": [s.control_drop for s in tested]},
                    title="Loss drop c → c+1: declared vs control sequences",
                    value_label="median per-sequence loss drop (nats per token)", width=520)  # fmt: skip
    return figure(svg, "A segment trained on its declared data drops their loss more than the controls'.")


def _palimpsest(f: Forensics) -> str:
    p = f.palimpsest
    if p is None:
        return ""
    svg = line_chart({"sampled sequences": p.points}, title=f"Palimpsest at step {p.checkpoint_step}",
                     x_label="declared training step", y_label="log-likelihood per token", connect=False,
                     width=520, height=300)  # fmt: skip
    return figure(svg, f"Spearman rho {_num(p.rho, '.3f')}, one-sided p {_num(p.p_value, '.2g')}, "
                       f"{p.sequences} sequences: later-seen sequences are expected higher.")  # fmt: skip


def _memorization(f: Forensics) -> str:
    mem = f.memorization
    if mem is None or not mem.rows:
        return ""
    steps, groups, cells = grid(mem.rows, "token_match")
    full = grid(mem.rows, "full_match")[2]
    head = "".join(f"<th>group {g}</th>" for g in groups)
    body = "".join(
        f"<tr><td class=num>{s}</td>" + "".join(
            f"<td class=num>{_num(cells[i, j])} / {_num(full[i, j])}</td>" if (i, j) in cells
            else f"<td>{DASH}</td>" for j in range(len(groups))) + "</tr>"
        for i, s in enumerate(steps)
    )  # fmt: skip
    maps = [figure(heatmap_svg(mem.rows, score, title)) for score, title in (("token_match", "Token match"),
                                                                              ("full_match", "Full match"))]  # fmt: skip
    return (f"<h3>Memorization (k = {mem.k}, l = {mem.l}): token match / full match</h3>"
            f'<div class="charts">{"".join(maps)}</div>'
            f"<table><thead><tr><th>step</th>{head}</tr></thead><tbody>{body}</tbody></table>")  # fmt: skip


def forensics(report: Report) -> str:
    f = report.forensics
    if f is None:
        return ""
    cost = (f" Cost: {f.forward_passes:,} sequence forward passes, {esc(format_number(f.wall_s))} s."
            if f.wall_s is not None else "")  # fmt: skip
    out = ['<section id="forensics"><h2>Weights-only tests</h2>',
           f'<p class="lead">Order test at alpha {esc(f.alpha)}, expected effect {esc(f.min_effect)}, '
           f"sample {f.sample} declared and {f.control_sample} control sequences per segment, seed {f.seed}; "
           f"each segment also held to the step-size bound of the declared optimizer.{cost}</p>"]  # fmt: skip
    out.append(_segments(f) if f.segments else not_available("Every segment can be replayed exactly: none tested."))
    charts = [c for c in (_drops(f), _palimpsest(f)) if c]
    if charts:
        out.append(f'<div class="charts">{"".join(charts)}</div>')
    out.append(_memorization(f))
    out.append("</section>")
    return "\n".join(out)
