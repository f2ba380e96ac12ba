"""The weights-only section (--order-test): one row per tested segment, the palimpsest correlation and
the memorization table (checkpoint × chunk group)."""

from __future__ import annotations

from audit.render.html.markup import DASH, TONE, esc, not_available, pill
from audit.render.svg import format_number
from audit.spec.report import Forensics, Report


def _num(v: float | None, fmt: str = ".2f") -> str:
    return DASH if v is None else esc(format(v, fmt))


def _segments(f: Forensics) -> str:
    rows = "".join(
        f'<tr class="seg-{TONE.get(s.verdict, "muted")}"><td class="nowrap"><b>{s.start_step}→{s.end_step}</b></td>'
        f"<td>{pill(s.verdict)}</td><td class=num>{_num(s.p_value, '.2g')}</td><td class=num>{_num(s.effect)}</td>"
        f"<td class=num>{_num(s.upper_bound)}</td><td class=num>{_num(s.power)}</td>"
        f"<td class=num>{s.sequences} / {s.controls}</td><td>{esc(s.control or s.reason or '—')}</td>"
        f"<td class=num>{esc(format_number(s.wall_s))}</td></tr>"
        for s in f.segments
    )
    return ("<table><thead><tr><th>segment</th><th>verdict</th><th>p</th><th>effect A</th><th>upper bound</th>"
            "<th>power</th><th>declared / controls</th><th>controls from</th><th>seconds</th></tr></thead>"
            f"<tbody>{rows}</tbody></table>")  # fmt: skip


def _memorization(f: Forensics) -> str:
    mem = f.memorization
    if mem is None or not mem.rows:
        return ""
    groups = sorted({r.chunk_group for r in mem.rows})
    steps = sorted({r.step for r in mem.rows})
    cell = {(r.step, r.chunk_group): r for r in mem.rows}
    head = "".join(f"<th>group {g}</th>" for g in groups)
    body = "".join(
        f"<tr><td class=num>{s}</td>" + "".join(
            f"<td class=num>{_num(cell[s, g].token_match)} / {_num(cell[s, g].full_match)}</td>" if (s, g) in cell
            else f"<td>{DASH}</td>" for g in groups) + "</tr>"
        for s in steps
    )  # fmt: skip
    return (f"<h3>Memorization (k = {mem.k}, l = {mem.l}): token match / full match</h3>"
            f"<table><thead><tr><th>step</th>{head}</tr></thead><tbody>{body}</tbody></table>")  # fmt: skip


def forensics(report: Report) -> str:
    f = report.forensics
    if f is None:
        return ""
    out = ['<section id="forensics"><h2>Weights-only tests</h2>',
           f'<p class="lead">Order test at alpha {esc(f.alpha)}, expected effect {esc(f.min_effect)}, '
           f"sample {f.sample} declared and {f.control_sample} control sequences per segment, seed {f.seed}.</p>"]  # fmt: skip
    out.append(_segments(f) if f.segments else not_available("Every segment can be replayed exactly: none tested."))
    if f.palimpsest is not None:
        p = f.palimpsest
        out.append(f"<p>Palimpsest at step {p.checkpoint_step}: Spearman rho {_num(p.rho, '.3f')} between log-likelihood "
                   f"and declared step, one-sided p {_num(p.p_value, '.2g')}, {p.sequences} sequences.</p>")  # fmt: skip
    out.append(_memorization(f))
    out.append("</section>")
    return "\n".join(out)
