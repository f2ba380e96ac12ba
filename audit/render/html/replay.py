"""The training-replay section: settings, one row per segment, the difference chart, the differing
tensors and the environment the replay ran in."""

from __future__ import annotations

import math
from collections.abc import Sequence

from audit.render.html.markup import DASH, TONE, code, esc, figure, meta_item, not_available, pill, plural
from audit.render.html.tensors import tensor_tables, ulp
from audit.render.html.values import duration, is_scalar, scalar
from audit.render.svg import bar_chart, format_number
from audit.spec.report import Replay, ReplaySegment, Report

#: Per-tensor tables shown expanded; later ones start collapsed (a long replay stays readable).
OPEN_TENSOR_TABLES = 3


def _settings(rp: Replay) -> str:
    head = [meta_item("mode", esc(rp.mode))]
    if rp.seed is not None:
        head.append(meta_item("seed", esc(rp.seed)))
    head.append(meta_item("steps per segment", esc(rp.steps) if rp.steps is not None else "all"))
    head.append(meta_item("device", esc(rp.device or "—")))
    cov = rp.coverage
    if cov is not None and cov.segments_total:
        head.append(meta_item("segments replayed", f"{cov.segments_replayed} of {cov.segments_total}"))
    return f'<dl class="meta inline">{"".join(head)}</dl>'


def _segment_row(s: ReplaySegment) -> str:
    compared = " + ".join(s.compared) or "—"
    if s.tensors_compared:
        compared += f'<br><span class="muted">{s.tensors_compared} tensors</span>'
    tol = f'<br><span class="muted">tol {esc(format_number(s.tolerance))}</span>' if s.tolerance is not None else ""
    diffs = ", ".join(code(d) for d in s.environment_differences) or '<span class="muted">none</span>'
    return f"""<tr class="seg-{TONE.get(s.status, 'muted')}">
<td class="nowrap"><b>{s.start_step}→{s.end_step}</b></td><td>{pill(s.status)}{tol}</td>
<td>{esc(s.engine or "—")}</td><td>{compared if s.compared else DASH}</td>
<td class=num>{esc(format_number(s.max_abs_diff))}</td><td class=num>{ulp(s.max_ulp)}</td>
<td class=num>{esc(format_number(s.differing_elements))}</td>
<td class=num>{esc(s.first_divergent_step) if s.first_divergent_step is not None else DASH}</td>
<td class="reason">{esc(s.reason) if s.reason else DASH}</td>
<td>{diffs}</td><td class="num nowrap">{duration(s.wall_s)}</td></tr>"""


def _segments_table(segments: Sequence[ReplaySegment]) -> str:
    return f"""<div class="scroll"><table class="segments">
<thead><tr><th>segment</th><th>status</th><th>engine</th><th>compared</th><th class=num>max abs diff</th>
<th class=num>max ULP</th><th class=num>differing elements</th><th class=num>first divergent step</th>
<th>reason</th><th>environment differences</th><th class=num>wall time</th></tr></thead>
<tbody>{"".join(_segment_row(s) for s in segments)}</tbody></table></div>"""


def _difference_chart(segments: Sequence[ReplaySegment]) -> str:
    """The largest difference per segment on a log scale, or a note that every one was 0 ("" when none
    was compared)."""
    with_diff = [s for s in segments if s.max_abs_diff is not None]
    if not with_diff:
        return ""
    nonzero = [s for s in with_diff if s.max_abs_diff != 0]
    failing = [s for s in segments if s.status in ("mismatch", "error")]
    if not nonzero and failing:  # equal tensors, yet a segment fails (its step log, its state fields): no green here
        return (f'<p class="note bad-text">Every compared tensor is bitwise equal, but {plural(len(failing), "segment")} '
                "failed on something else (the step log or the training state): see the reasons above.</p>")
    if not nonzero:
        return (f'<p class="ok-note">{plural(len(with_diff), "compared segment")}, every one with a max '
                "abs difference of 0: every tensor bitwise equal.</p>")
    svg = bar_chart([f"{s.start_step}→{s.end_step}" for s in segments],
                    {"max abs diff": [s.max_abs_diff for s in segments]},
                    missing_text="not compared",
                    title="Largest absolute difference per segment", value_label="max abs diff",
                    log_x=any(s.max_abs_diff and s.max_abs_diff > 0 and math.isfinite(s.max_abs_diff)
                              for s in nonzero),
                    colors={"max abs diff": "#dc2626"}, width=1040, bar_h=12)
    return figure(svg, "0 means every tensor of the segment is bitwise equal; no bar is drawn for it on the log scale.")


def _differing_tensors(segments: Sequence[ReplaySegment]) -> list[str]:
    """The per-segment tensor tables, the first few expanded."""
    with_tensors = [s for s in segments if s.tensors]
    out = []
    if with_tensors:
        out.append('<h3>Differing tensors</h3><p class="lead">Per segment, grouped into model weights and '
                   "AdamW moments; the largest differences first.</p>")
    for i, s in enumerate(with_tensors):
        out.append(tensor_tables(s, open_=i < OPEN_TENSOR_TABLES))
    if len(with_tensors) > OPEN_TENSOR_TABLES:
        out.append(f'<p class="note">The first {OPEN_TENSOR_TABLES} segments are expanded; '
                   "open the others to see their tensors.</p>")
    return out


def _environment(rp: Replay) -> list[str]:
    """The replay's environment fingerprint, the fields that differ from the release's highlighted."""
    if not rp.environment:
        return [not_available("No replay environment fingerprint recorded.")] if rp.segments else []
    differing = {k for s in rp.segments for k in s.environment_differences}
    cells = []
    for k, v in rp.environment.items():
        hl = ' class="hl" title="differs from the release\'s recorded environment"' if k in differing else ""
        cells.append(f"<div{hl}><dt>{esc(k)}</dt><dd>{scalar(str(k), v) if is_scalar(v) else esc(v)}</dd></div>")
    out = ['<h3>Replay environment</h3><dl class="env">' + "".join(cells) + "</dl>"]
    if differing:
        out.append('<p class="note">Highlighted fields differ from the environment the release recorded.</p>')
    return out


def replay(report: Report) -> str:
    rp = report.replay
    res = report.criteria.get("replay")  # type: ignore[call-overload]
    summary = (f'<p class="lead">{pill(res.status)} {esc(res.summary)}</p>' if res is not None else "")
    out = [f'<section id="replay"><h2>Training replay</h2>{summary}{_settings(rp)}']
    if not rp.segments:
        out.append(not_available(f"No segment was replayed (mode: {rp.mode})."))
    else:
        out.append(_segments_table(rp.segments))
        chart = _difference_chart(rp.segments)
        if chart:
            out.append(chart)
        out += _differing_tensors(rp.segments)
    out += _environment(rp)
    out.append("</section>")
    return "\n".join(out)
