"""report.html: one self-contained page to publish as a model's transparency report.

A pure function of the report, like the Markdown formatter: inline CSS and inline SVG, no scripts,
no fonts, images or style sheets from anywhere. Every string taken from the report is escaped — names,
messages and paths come from the release, which is untrusted. Any part of the evidence may be absent
(a broken release): that part says "not available" and the rest of the page still renders.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from html import escape
from typing import Any

from audit.render.svg import bar_chart, format_number, line_chart
from audit.spec.names import LEVELS, MOF_CLASSES
from audit.spec.report import Report

__all__ = ["render_html"]

TITLES = {
    "code": "Training code",
    "config": "Configuration & hyperparameters",
    "model_checkpoints": "Model checkpoints",
    "optimizer_checkpoints": "Optimizer checkpoints",
    "data_mix": "Data mixture",
    "data_order": "Data order",
    "data_availability": "Training data",
    "metrics": "Logs & evaluations",
    "replay": "Training replay",
    "manifest": "Manifest",
}
LEVEL_TEXT = {
    "closed": "No rung reached",
    "open-weights": "Weights and config released",
    "open-training": "Code, logs and evaluations too",
    "fully-open": "Optimizer states, data, mixture and order too",
    "reproduced": "Training replayed bit for bit",
}
MOF_TEXT = {"none": "No class reached", "III": "Open model", "II": "Open tooling", "I": "Open science"}
#: status → pill colour class.
TONE = {
    "pass": "good", "fail": "bad", "partial": "warn", "skipped": "muted",
    "bit-exact": "good", "within-tolerance": "warn", "mismatch": "bad", "error": "bad",
    "warning": "warn", "info": "info",
}  # fmt: skip
SEVERITY_ORDER = {"error": 0, "warning": 1, "info": 2}
#: Evidence keys drawn as charts rather than listed.
PLOTTED = {"series", "evaluations"}
SERIES_ORDER = ("loss", "learning_rate", "grad_norm")
#: Per-tensor tables shown expanded; later ones start collapsed (a long replay stays readable).
OPEN_TENSOR_TABLES = 3
SERIES_TITLES = {"loss": "Training loss", "learning_rate": "Learning rate", "grad_norm": "Gradient norm"}


def e(value: object) -> str:
    return escape(str(value), quote=True)


def _prose(text: object) -> str:
    """Escaped text, with `backticked` spans (commands, file names) set as code."""
    return re.sub(r"`([^`]+)`", r"<code>\1</code>", e(text))


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def _percent(frac: float) -> str:
    if 0 < frac < 0.001:
        return "&lt;0.1%"
    if 0.999 < frac < 1:
        return "&gt;99.9%"
    return f"{frac:.1%}"


def _pill(text: str, tone: str | None = None) -> str:
    return f'<span class="pill {TONE.get(text, "muted") if tone is None else tone}">{e(text)}</span>'


def _code(text: object) -> str:
    return f"<code>{e(text)}</code>"


def _human_key(key: str) -> str:
    return str(key).replace("_", " ")


def _bytes(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if abs(n) < 1000 or unit == "TB":
            return f"{n:,.0f} {unit}" if unit == "B" else f"{n:,.1f} {unit}"
        n /= 1000
    return str(n)


def _seconds(s: float | None) -> str:
    if s is None or not isinstance(s, (int, float)) or not math.isfinite(s):
        return "—"
    if s < 1:
        return f"{s * 1000:.0f} ms"
    if s < 120:
        return f"{s:.2f} s"
    return f"{s / 60:.1f} min"


def _scalar(key: str, v: object) -> str:
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, (int, float)):
        if "bytes" in key and isinstance(v, (int, float)) and math.isfinite(v):
            return f'{_bytes(v)} <span class="muted">({format_number(v)})</span>'
        return e(format_number(v, 6))
    if v is None:
        return '<span class="muted">—</span>'
    s = str(v)
    if len(s) >= 12 and all(c in "0123456789abcdef" for c in s):  # a hash or commit
        return _code(s)
    return e(s)


def _is_scalar(v: object) -> bool:
    return v is None or isinstance(v, (str, int, float, bool))


def _evidence_value(key: str, v: object) -> str:
    """A readable value: scalars as they are, small flat lists and maps inline, big ones summarised."""
    if _is_scalar(v):
        return _scalar(key, v)
    if isinstance(v, Mapping):
        if key in PLOTTED:
            return f'<span class="muted">{len(v)} series, plotted below</span>'
        if len(v) <= 12 and all(_is_scalar(x) for x in v.values()):
            return ", ".join(f"{e(k)}: {_scalar(key, x)}" for k, x in v.items()) or '<span class="muted">none</span>'
        return f'<span class="muted">{len(v)} entries</span>'
    if isinstance(v, (list, tuple)):
        if len(v) <= 12 and all(_is_scalar(x) for x in v):
            return ", ".join(_scalar(key, x) for x in v) or '<span class="muted">none</span>'
        return f'<span class="muted">{len(v)} items</span>'
    return e(v)


def _evidence(ev: object) -> str:
    if not isinstance(ev, Mapping) or not ev:
        return '<span class="muted">—</span>'
    rows = [f"<dt>{e(_human_key(k))}</dt><dd>{_evidence_value(str(k), v)}</dd>" for k, v in ev.items()]
    return f'<dl class="kv">{"".join(rows)}</dl>'


def _evidence_of(report: Report, criterion: str) -> Mapping[str, Any]:
    res = report.criteria.get(criterion)  # type: ignore[call-overload]
    ev = getattr(res, "evidence", None)
    return ev if isinstance(ev, Mapping) else {}


def _na(text: str) -> str:
    return f'<p class="na">{e(text)}</p>'


# ---------------------------------------------------------------------------------------------- header


def _ladder(rungs: Sequence[tuple[str, Sequence[str]]], bottom: str, reached: str, report: Report,
            texts: Mapping[str, str], label: str) -> str:
    names = [bottom] + [n for n, _ in rungs]
    needs = {n: list(c) for n, c in rungs}
    idx = names.index(reached) if reached in names else 0
    items = []
    for i, name in enumerate(names):
        cls = "rung"
        if i == 0 and idx > 0:
            cls += " base"
        elif i < idx:
            cls += " reached"
        elif i == idx:
            cls += " current" + (" low" if i == 0 else "")
        reqs = ""
        if name in needs:
            dots = []
            for cid in needs[name]:
                res = report.criteria.get(cid)  # type: ignore[call-overload]
                st = res.status if res is not None else "skipped"
                dots.append(f'<span class="req {TONE.get(st, "muted")}" title="{e(cid)}: {e(st)}">'
                            f'<i></i>{e(cid)}</span>')
            reqs = f'<span class="reqs">{"".join(dots)}</span>'
        mark = "✓ " if i <= idx and i > 0 else ""
        items.append(f'<li class="{cls}"><span class="rname">{mark}{e(name)}</span>'
                     f'<span class="rtext">{e(texts.get(name, ""))}</span>{reqs}</li>')
    return f'<ol class="ladder" aria-label="{e(label)}">{"".join(items)}</ol>'


def _header(report: Report) -> str:
    c = report.counts()
    name = report.release.name or report.release.path
    verdict = report.verdict
    kinds = (("error", "error", "bad"), ("warning", "warning", "warn"), ("info", "note", "info"))
    counts = [f'<span class="count {tone if c.get(key) else "zero"}"><b>{c.get(key, 0)}</b> '
              f'{word if c.get(key, 0) == 1 else word + "s"}</span>' for key, word, tone in kinds]
    if c.get("waived"):
        counts.append(f'<span class="count muted"><b>{c["waived"]}</b> waived</span>')
    license_text = e(report.release.license) if report.release.license else '<span class="bad-text">none declared</span>'
    meta = [f"<div><dt>release path</dt><dd>{_code(report.release.path)}</dd></div>",
            f"<div><dt>license</dt><dd>{license_text}</dd></div>"]
    if report.release.manifest_sha256:
        meta.append(f"<div><dt>manifest sha256</dt><dd>{_code(report.release.manifest_sha256[:16])}…</dd></div>")
    meta.append(f"<div><dt>auditor</dt><dd>{e(report.tool.name)} {e(report.tool.version)}</dd></div>")
    meta.append(f"<div><dt>spec</dt><dd>LLM360 fully-open spec {e(report.spec_version)}</dd></div>")
    gate = getattr(report, "gate", None)
    if gate is not None:
        bits = [f"fail on {e(getattr(gate, 'fail_on', 'error'))}"]
        if getattr(gate, "require_level", None):
            bits.append(f"require level {e(gate.require_level)}")
        if getattr(gate, "policy", None):
            bits.append(f"policy {_code(gate.policy)}")
        meta.append(f"<div><dt>gate</dt><dd>{', '.join(bits)}</dd></div>")
    license_note = ("" if report.release.license else
                    '<p class="note bad-text">No license is declared: every rung above the bottom needs one.</p>')
    if report.partial_note():
        license_note += f'<p class="note bad-text">{e(report.partial_note())}</p>'
    return f"""<header class="card top">
<div class="top-row">
<div class="title">
<p class="eyebrow">LLM360 transparency report</p>
<h1>{e(name)}</h1>
<dl class="meta">{"".join(meta)}</dl>
</div>
<div class="verdict {"good" if verdict == "pass" else "bad"}">
<span class="vlabel">verdict</span><span class="vvalue">{e(verdict.upper())}</span>
<span class="counts">{"".join(counts)}</span>
</div>
</div>
<div class="ladders">
<div><h2 class="small">Openness level: <b>{e(report.level)}</b></h2>
{_ladder(LEVELS, "closed", report.level, report, LEVEL_TEXT, "openness level")}</div>
<div><h2 class="small">Model Openness Framework class: <b>{e(report.mof_class)}</b></h2>
{_ladder(MOF_CLASSES, "none", report.mof_class, report, MOF_TEXT, "MOF class")}</div>
</div>
{license_note}
</header>"""


# -------------------------------------------------------------------------------------------- criteria


def _criteria(report: Report) -> str:
    by_crit: dict[str, int] = {}
    for f in report.findings:
        by_crit[f.criterion] = by_crit.get(f.criterion, 0) + 1
    rows = []
    for cid, res in report.criteria.items():
        n = by_crit.get(cid, 0)
        link = f'<a class="flink" href="#findings-{e(cid)}">{n} finding{"s" if n != 1 else ""}</a>' if n else ""
        rows.append(f"""<tr id="criterion-{e(cid)}">
<td class="crit"><b>{e(TITLES.get(cid, _human_key(cid)))}</b><br>{_code(cid)}</td>
<td class="status">{_pill(res.status)}{link}</td>
<td class="summary">{e(res.summary)}</td>
<td class="evidence">{_evidence(res.evidence)}</td>
</tr>""")
    return f"""<section id="criteria"><h2>Criteria</h2>
<p class="lead">Each LLM360 criterion is checked against the files themselves, not against what the manifest
declares.</p>
<div class="scroll"><table class="criteria">
<thead><tr><th>criterion</th><th>status</th><th>summary</th><th>evidence</th></tr></thead>
<tbody>{"".join(rows)}</tbody></table></div></section>"""


# ---------------------------------------------------------------------------------------------- charts


def _figure(svg: str, caption: str = "") -> str:
    cap = f"<figcaption>{caption}</figcaption>" if caption else ""
    return f'<figure class="card chart-card">{svg}{cap}</figure>'


def _points(raw: object) -> list:
    return list(raw) if isinstance(raw, (list, tuple)) else []


def _finite_values(points: list) -> list[float]:
    out = []
    for p in points:
        if isinstance(p, (list, tuple)) and len(p) >= 2 and isinstance(p[1], (int, float)) \
                and not isinstance(p[1], bool) and math.isfinite(p[1]):
            out.append(float(p[1]))
    return out


def _training_charts(report: Report) -> str:
    series = _evidence_of(report, "metrics").get("series")
    if not isinstance(series, Mapping) or not series:
        return _na("Training curves not available: the report holds no training-log series "
                   "(the log is missing, unreadable or not declared).")
    keys = [k for k in SERIES_ORDER if k in series] + sorted(str(k) for k in series if k not in SERIES_ORDER)
    figs = []
    for key in keys:
        pts = _points(series.get(key))
        vals = _finite_values(pts)
        log_y = key == "grad_norm" and len(vals) > 1 and min(vals) > 0 and max(vals) / min(vals) > 100
        title = SERIES_TITLES.get(key, _human_key(key))
        svg = line_chart({key: pts}, title=title, x_label="step", y_label=_human_key(key), log_y=log_y,
                         width=360, height=250)
        skipped = len(pts) - len(vals)
        cap = f"{len(vals)} logged steps"
        if skipped:
            cap += f", {skipped} non-finite or malformed value(s) not drawn"
        if vals:
            cap += f"; last value {e(format_number(vals[-1], 5))}"
        figs.append(_figure(svg, cap))
    return f'<div class="charts three">{"".join(figs)}</div>'


def _evaluation_charts(report: Report) -> str:
    evals = _evidence_of(report, "metrics").get("evaluations")
    if not isinstance(evals, Mapping) or not evals:
        return _na("Evaluation curves not available: the report holds no per-checkpoint evaluation results.")
    by_metric: dict[str, dict[str, list]] = {}
    for key, pts in evals.items():
        task, _, metric = str(key).rpartition("/")
        by_metric.setdefault(metric or "value", {})[task or str(key)] = _points(pts)
    figs = []
    for metric, tasks in sorted(by_metric.items()):
        svg = line_chart(tasks, title=f"Evaluation: {metric}", x_label="checkpoint step", y_label=metric,
                         width=520 if len(by_metric) > 1 else 1040, height=270)
        n_ck = len({p[0] for pts in tasks.values() for p in pts if isinstance(p, (list, tuple)) and p})
        figs.append(_figure(svg, f"{_plural(len(tasks), 'task')} over {_plural(n_ck, 'checkpoint')}"))
    wide = " one" if len(by_metric) == 1 else ""
    return f'<div class="charts{wide}">{"".join(figs)}</div>'


def _num(v: object) -> float | None:
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return None
    return float(v)


def _mixture(report: Report) -> str:
    declared = _evidence_of(report, "data_mix").get("declared")
    measured = _evidence_of(report, "data_availability").get("tokens_per_source")
    declared = declared if isinstance(declared, Mapping) else {}
    measured = measured if isinstance(measured, Mapping) else {}
    if not declared and not measured:
        return _na("Data mixture not available: neither a declared mixture nor recounted tokens per source.")
    sources = [str(s) for s in declared] + sorted(str(s) for s in measured if str(s) not in {str(d) for d in declared})
    dec = {str(k): _num(v) for k, v in declared.items()}
    mea = {str(k): _num(v) for k, v in measured.items()}
    groups: dict[str, list] = {}
    if declared:
        groups["declared"] = [dec.get(s) for s in sources]
    if measured:
        groups["measured (recounted)"] = [mea.get(s) for s in sources]
    svg = bar_chart(sources, groups, title="Tokens per source: declared vs recounted", value_label="tokens",
                    colors={"declared": "#94a3b8", "measured (recounted)": "#2563eb"}, width=1040)
    notes = []
    if not declared:
        notes.append("No declared mixture in the report.")
    if not measured:
        notes.append("Tokens per source were not recounted (the data could not be read).")
    tot_d = sum(v for v in dec.values() if v is not None and math.isfinite(v)) or None
    tot_m = sum(v for v in mea.values() if v is not None and math.isfinite(v)) or None
    rows = []
    for s in sources:
        d, m = dec.get(s), mea.get(s)
        if d is not None and m is not None and math.isfinite(d) and math.isfinite(m):
            delta = m - d
            cls = "good-text" if delta == 0 else "bad-text"
            signed = "±0" if delta == 0 else ("+" if delta > 0 else "−") + format_number(abs(delta))
            diff = f'<span class="{cls}">{signed}</span>'
        else:
            diff = '<span class="muted">—</span>'
        share = f"{m / tot_m:.1%}" if m is not None and tot_m else "—"
        rows.append(f"<tr><td>{e(s)}</td><td class=num>{e(format_number(d))}</td>"
                    f"<td class=num>{e(format_number(m))}</td><td class=num>{diff}</td><td class=num>{e(share)}</td></tr>")
    rows.append(f'<tr class="total"><td>total</td><td class=num>{e(format_number(tot_d))}</td>'
                f'<td class=num>{e(format_number(tot_m))}</td><td></td><td class=num>{"100%" if tot_m else "—"}</td></tr>')
    table = ('<table class="compact mix"><thead><tr><th>source</th><th class=num>declared</th>'
             '<th class=num>recounted</th><th class=num>difference</th><th class=num>share</th></tr></thead>'
             f'<tbody>{"".join(rows)}</tbody></table>')
    note = "".join(_na(n) for n in notes)
    return f'<figure class="card chart-card mixture">{svg}{note}{table}</figure>'


def _plots(report: Report) -> str:
    return f"""<section id="training"><h2>Training curves</h2>
<p class="lead">From the released per-step training log.</p>
{_training_charts(report)}</section>
<section id="evaluations"><h2>Evaluations</h2>
<p class="lead">From the released per-checkpoint evaluation results.</p>
{_evaluation_charts(report)}</section>
<section id="data"><h2>Data mixture</h2>
<p class="lead">The mixture the release declares, against the tokens recounted in its data chunks.</p>
{_mixture(report)}</section>"""


# ---------------------------------------------------------------------------------------------- replay


def _tensor_group(name: str) -> tuple[int, str]:
    if name.startswith("exp_avg_sq."):
        return 2, "AdamW second moment (exp_avg_sq)"
    if name.startswith("exp_avg."):
        return 1, "AdamW first moment (exp_avg)"
    prefix = name.split(".", 1)[0] if "." in name else ""
    if prefix and prefix not in ("model", "lm_head", "transformer"):
        return 3, prefix
    return 0, "Model weights"


def _ulp(v: int | None) -> str:
    if v is None:
        return "—"
    if v < 0:
        return '<span class="muted" title="not comparable in ULPs (shape, dtype or non-float)">n/a</span>'
    return e(format_number(v))


def _bar_width(frac: float) -> str:
    frac = min(max(frac, 0.0), 1.0) if math.isfinite(frac) else 0.0
    return "2px" if 0 < frac < 0.03 else f"{frac * 100:.1f}%"


def _tensor_tables(seg, open_: bool = True) -> str:
    groups: dict[tuple[int, str], list] = {}
    for t in seg.tensors:
        groups.setdefault(_tensor_group(t.name), []).append(t)
    parts = []
    for (_, label), items in sorted(groups.items()):
        rows = []
        for t in items:
            frac = t.differing / t.numel if t.numel else 0.0
            rows.append(f'<tr><td title="{e(t.name)}">{_code(t.name)}</td>'
                        f"<td class=num>{e(format_number(t.max_abs_diff))}</td>"
                        f"<td class=num>{_ulp(t.max_ulp)}</td>"
                        f'<td class=num>{e(format_number(t.differing))} / {e(format_number(t.numel))}</td>'
                        f'<td class="frac"><span class="bar"><i style="width:{_bar_width(frac)}"></i>'
                        f"</span> {_percent(frac)}</td></tr>")
        parts.append(f'<h4>{e(label)} <span class="muted">· {_plural(len(items), "tensor")}</span></h4>'
                     '<table class="compact tensors"><thead><tr><th>tensor</th><th class=num>max abs diff</th>'
                     '<th class=num>max ULP</th><th class=num>differing / elements</th><th>differing</th></tr></thead>'
                     f'<tbody>{"".join(rows)}</tbody></table>')
    of = f" of {seg.tensors_compared} compared" if seg.tensors_compared else ""
    listed = _plural(len(seg.tensors), "differing tensor")
    return (f'<details class="card tensors-card"{" open" if open_ else ""}><summary>'
            f"Steps {seg.start_step}→{seg.end_step}: {_pill(seg.status)} {listed} listed{e(of)}, largest difference first"
            f'</summary>{"".join(parts)}</details>')


def _replay(report: Report) -> str:
    rp = report.replay
    res = report.criteria.get("replay")  # type: ignore[call-overload]
    head = [f"<div><dt>mode</dt><dd>{e(rp.mode)}</dd></div>"]
    if rp.seed is not None:
        head.append(f"<div><dt>seed</dt><dd>{e(rp.seed)}</dd></div>")
    head.append(f"<div><dt>steps per segment</dt><dd>{e(rp.steps) if rp.steps is not None else 'all'}</dd></div>")
    head.append(f"<div><dt>device</dt><dd>{e(rp.device or '—')}</dd></div>")
    summary = (f'<p class="lead">{_pill(res.status)} {e(res.summary)}</p>' if res is not None else "")
    out = [f'<section id="replay"><h2>Training replay</h2>{summary}<dl class="meta inline">{"".join(head)}</dl>']
    if not rp.segments:
        out.append(_na(f"No segment was replayed (mode: {rp.mode})."))
    else:
        rows = []
        env_diff_keys: set[str] = set()
        for s in rp.segments:
            env_diff_keys |= set(s.environment_differences)
            compared = " + ".join(s.compared) or "—"
            if s.tensors_compared:
                compared += f'<br><span class="muted">{s.tensors_compared} tensors</span>'
            tol = f'<br><span class="muted">tol {e(format_number(s.tolerance))}</span>' if s.tolerance is not None else ""
            diffs = ", ".join(_code(d) for d in s.environment_differences) or '<span class="muted">none</span>'
            rows.append(f"""<tr class="seg-{TONE.get(s.status, 'muted')}">
<td class="nowrap"><b>{s.start_step}→{s.end_step}</b></td><td>{_pill(s.status)}{tol}</td>
<td>{e(s.engine or "—")}</td><td>{compared if s.compared else '<span class="muted">—</span>'}</td>
<td class=num>{e(format_number(s.max_abs_diff))}</td><td class=num>{_ulp(s.max_ulp)}</td>
<td class=num>{e(format_number(s.differing_elements))}</td>
<td class=num>{e(s.first_divergent_step) if s.first_divergent_step is not None else '<span class="muted">—</span>'}</td>
<td class="reason">{e(s.reason) if s.reason else '<span class="muted">—</span>'}</td>
<td>{diffs}</td><td class="num nowrap">{_seconds(s.wall_s)}</td></tr>""")
        out.append(f"""<div class="scroll"><table class="segments">
<thead><tr><th>segment</th><th>status</th><th>engine</th><th>compared</th><th class=num>max abs diff</th>
<th class=num>max ULP</th><th class=num>differing elements</th><th class=num>first divergent step</th>
<th>reason</th><th>environment differences</th><th class=num>wall time</th></tr></thead>
<tbody>{"".join(rows)}</tbody></table></div>""")
        with_diff = [s for s in rp.segments if s.max_abs_diff is not None]
        if with_diff:
            nonzero = [s for s in with_diff if s.max_abs_diff != 0]
            if nonzero:
                svg = bar_chart([f"{s.start_step}→{s.end_step}" for s in rp.segments],
                                {"max abs diff": [s.max_abs_diff for s in rp.segments]},
                                missing_text="not compared",
                                title="Largest absolute difference per segment", value_label="max abs diff",
                                log_x=any(s.max_abs_diff and s.max_abs_diff > 0 and math.isfinite(s.max_abs_diff)
                                          for s in nonzero),
                                colors={"max abs diff": "#dc2626"}, width=1040, bar_h=12)
                out.append(_figure(svg, "0 means every tensor of the segment is bitwise equal; "
                                        "no bar is drawn for it on the log scale."))
            else:
                out.append(f'<p class="ok-note">{_plural(len(with_diff), "compared segment")}, every one with a max '
                           "abs difference of 0: every tensor bitwise equal.</p>")
        with_tensors = [s for s in rp.segments if s.tensors]
        if with_tensors:
            out.append('<h3>Differing tensors</h3><p class="lead">Per segment, grouped into model weights and '
                       "AdamW moments; the largest differences first.</p>")
        for i, s in enumerate(with_tensors):
            out.append(_tensor_tables(s, open_=i < OPEN_TENSOR_TABLES))
        if len(with_tensors) > OPEN_TENSOR_TABLES:
            out.append(f'<p class="note">The first {OPEN_TENSOR_TABLES} segments are expanded; '
                       "open the others to see their tensors.</p>")
    if rp.environment:
        cells = []
        for k, v in rp.environment.items():
            hl = ' class="hl" title="differs from the release\'s recorded environment"' if k in env_diff_keys else ""
            cells.append(f"<div{hl}><dt>{e(k)}</dt><dd>{_scalar(str(k), v) if _is_scalar(v) else e(v)}</dd></div>")
        out.append('<h3>Replay environment</h3><dl class="env">' + "".join(cells) + "</dl>")
        if env_diff_keys:
            out.append('<p class="note">Highlighted fields differ from the environment the release recorded.</p>')
    elif rp.segments:
        out.append(_na("No replay environment fingerprint recorded."))
    out.append("</section>")
    return "\n".join(out)


# -------------------------------------------------------------------------------------------- findings


def _findings(report: Report) -> str:
    if not report.findings:
        return ('<section id="findings"><h2>Findings</h2>'
                '<p class="ok-note">No findings: every check passed without an error, warning or note.</p></section>')
    ordered = sorted(enumerate(report.findings), key=lambda p: (SEVERITY_ORDER.get(p[1].severity, 9), p[0]))
    seen: set[str] = set()
    items = []
    for _, f in ordered:
        anchor = ""
        if f.criterion not in seen:
            seen.add(f.criterion)
            anchor = f' id="findings-{e(f.criterion)}"'
        waiver = getattr(f, "waiver", None)
        wv = ""
        if waiver is not None:
            wv = (f'<p class="waiver">{_pill("waived", "muted")} {e(getattr(waiver, "reason", ""))} '
                  f'<span class="muted">(until {e(getattr(waiver, "expires", "?"))})</span></p>')
        path = f'<span class="path">{_code(f.path)}</span>' if f.path else ""
        todo = (f'<div class="todo"><b>What to do</b><p>{_prose(f.remediation)}</p></div>' if f.remediation else "")
        tone = "muted" if waiver is not None else TONE.get(f.severity, "muted")
        items.append(f"""<li class="finding {tone}"{anchor}>
<div class="fhead">{_pill(f.severity)} <code class="fid">{e(f.id)}</code>
<span class="tag">{e(TITLES.get(f.criterion, f.criterion))}</span>{path}</div>
<p class="msg">{_prose(f.message)}</p>{todo}{wv}</li>""")
    c = report.counts()
    tally = ", ".join(_plural(c.get(k, 0), n) for k, n in (("error", "error"), ("warning", "warning"),
                                                           ("info", "note")))
    return f"""<section id="findings"><h2>Findings</h2><p class="lead">{e(tally)}, most severe first.</p>
<ol class="findings">{"".join(items)}</ol></section>"""


# ------------------------------------------------------------------------------------------------ page

CSS = """
:root{--ink:#1f2937;--muted:#64748b;--line:#e5e7eb;--bg:#f5f6f8;--card:#fff;
--good:#15803d;--good-bg:#dcfce7;--bad:#b91c1c;--bad-bg:#fee2e2;--warn:#b45309;--warn-bg:#fef3c7;
--info:#0369a1;--info-bg:#e0f2fe;--mute-bg:#f1f5f9}
*{box-sizing:border-box}
html{-webkit-print-color-adjust:exact;print-color-adjust:exact}
body{margin:0;background:var(--bg);color:var(--ink);font:14px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,
"Helvetica Neue",Arial,sans-serif}
main{max-width:1120px;margin:0 auto;padding:24px 24px 48px}
code,.mono{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,"Liberation Mono",monospace;font-size:.88em}
code{background:#f1f5f9;border-radius:4px;padding:0 4px;word-break:break-all}
h1{font-size:26px;line-height:1.2;margin:2px 0 10px;word-break:break-word}
h2{font-size:19px;margin:34px 0 6px;padding-bottom:6px;border-bottom:1px solid var(--line)}
h2.small{font-size:13px;font-weight:500;color:var(--muted);border:0;margin:0 0 6px;padding:0}
h2.small b{color:var(--ink)}
h3{font-size:15px;margin:22px 0 8px}
h4{font-size:13px;margin:14px 0 6px}
a{color:#1d4ed8;text-decoration:none}
.lead{color:var(--muted);margin:4px 0 14px}
.muted{color:var(--muted)}
.good-text{color:var(--good)}.bad-text{color:var(--bad)}
.card{background:var(--card);border:1px solid var(--line);border-radius:10px}
.top{padding:22px 24px}
.top-row{display:flex;gap:24px;justify-content:space-between;align-items:flex-start}
.eyebrow{margin:0;text-transform:uppercase;letter-spacing:.08em;font-size:11px;font-weight:600;color:var(--muted)}
.meta{display:flex;flex-wrap:wrap;gap:4px 22px;margin:0;font-size:12.5px}
.meta div{display:flex;gap:6px}.meta dt{color:var(--muted)}.meta dd{margin:0}
.meta.inline{margin:0 0 14px}
.verdict{min-width:280px;text-align:center;border-radius:10px;padding:12px 16px;color:#fff}
.verdict.good{background:var(--good)}.verdict.bad{background:var(--bad)}
.vlabel{display:block;font-size:11px;text-transform:uppercase;letter-spacing:.1em;opacity:.85}
.vvalue{display:block;font-size:34px;font-weight:700;letter-spacing:.04em;line-height:1.1}
.counts{display:flex;gap:6px;justify-content:center;flex-wrap:wrap;margin-top:8px}
.count{background:rgba(255,255,255,.94);color:var(--ink);border-radius:999px;padding:1px 9px;font-size:12px}
.count.bad b{color:var(--bad)}.count.warn b{color:var(--warn)}.count.info b{color:var(--info)}
.count.zero{color:var(--muted)}
.ladders{display:grid;grid-template-columns:1fr;gap:14px;margin-top:18px}
.ladder{display:flex;list-style:none;margin:0;padding:0;gap:3px}
.rung{flex:1;min-width:0;background:#f8fafc;border:1px dashed #cbd5e1;padding:7px 9px;color:var(--muted);
position:relative}
.rung:first-child{border-radius:8px 0 0 8px}.rung:last-child{border-radius:0 8px 8px 0}
.rung.reached{background:#ecfdf5;border:1px solid #a7f3d0;color:#166534}
.rung.current{background:var(--good);border:1px solid var(--good);color:#fff}
.rung.current.low{background:#475569;border-color:#475569}
.rung.base{background:#f1f5f9;border:1px solid #e2e8f0;color:#64748b}
.rname{display:block;font-weight:650;font-size:13px;white-space:nowrap;overflow:hidden;text-overflow:ellipsis}
.rtext{display:block;font-size:11px;line-height:1.3;opacity:.9}
.reqs{display:flex;flex-wrap:wrap;gap:1px 8px;margin-top:5px}
.req{font-size:10.5px;white-space:nowrap;display:inline-flex;align-items:center;gap:3px}
.req i{display:inline-block;width:7px;height:7px;border-radius:50%;background:#94a3b8}
.req.good i{background:#22c55e}.req.bad i{background:#ef4444}.req.warn i{background:#f59e0b}
.rung.current .req i{box-shadow:0 0 0 1.5px #fff}
.note{font-size:12.5px;margin:10px 0 0}
nav.toc{display:flex;flex-wrap:wrap;gap:6px 18px;margin:14px 2px 0;font-size:13px}
.pill{display:inline-block;border-radius:999px;padding:1px 10px;font-size:12px;font-weight:600;
white-space:nowrap;line-height:1.6}
.pill.good{background:var(--good-bg);color:var(--good)}.pill.bad{background:var(--bad-bg);color:var(--bad)}
.pill.warn{background:var(--warn-bg);color:var(--warn)}.pill.info{background:var(--info-bg);color:var(--info)}
.pill.muted{background:var(--mute-bg);color:#475569}
.scroll{overflow-x:auto}
table{border-collapse:collapse;width:100%;background:var(--card)}
th{text-align:left;font-size:11.5px;text-transform:uppercase;letter-spacing:.04em;color:var(--muted);
font-weight:600;background:#f8fafc}
th,td{padding:8px 10px;border-bottom:1px solid var(--line);vertical-align:top}
table.criteria,table.segments{border:1px solid var(--line);border-radius:10px;overflow:hidden}
table.criteria td.crit{width:190px}table.criteria td.status{width:92px}
table.criteria td.summary{width:30%}
.flink{display:block;font-size:11.5px;margin-top:5px}
td.num,th.num{text-align:right;font-variant-numeric:tabular-nums}
td.num{white-space:nowrap}
.nowrap{white-space:nowrap}
dl.kv{display:grid;grid-template-columns:fit-content(50%) minmax(0,1fr);gap:1px 12px;margin:0;font-size:12.5px}
dl.kv dt{color:var(--muted)}dl.kv dd{margin:0;overflow-wrap:anywhere;font-variant-numeric:tabular-nums}
.charts{display:grid;grid-template-columns:repeat(2,minmax(0,1fr));gap:14px}
.charts.one{grid-template-columns:1fr}
.charts.three{grid-template-columns:repeat(3,minmax(0,1fr))}
figure{margin:0}
.chart-card{padding:10px 12px}
.chart-card svg{display:block;width:100%;height:auto}
figcaption{font-size:12px;color:var(--muted);padding:2px 4px 0}
.na{background:#f8fafc;border:1px dashed #cbd5e1;border-radius:8px;padding:10px 14px;color:var(--muted);
margin:6px 0;font-size:13px}
.ok-note{background:var(--good-bg);color:#14532d;border-radius:8px;padding:10px 14px;margin:12px 0}
table.compact{font-size:12.5px}
table.tensors{table-layout:fixed}table.tensors th:nth-child(1){width:44%}
table.tensors th:nth-child(2),table.tensors th:nth-child(3){width:13%}table.tensors th:nth-child(4){width:15%}
table.tensors td:first-child{overflow:hidden;text-overflow:ellipsis;white-space:nowrap}
table.compact th,table.compact td{padding:4px 8px}
table.mix{margin-top:8px;max-width:640px}
tr.total td{font-weight:600;border-bottom:0}
table.segments{font-size:12px}
table.segments th,table.segments td{padding:7px 7px}
table.segments th{font-size:10.5px}
table.segments td.reason{min-width:170px}
tr.seg-bad td:first-child{box-shadow:inset 3px 0 0 var(--bad)}
tr.seg-warn td:first-child{box-shadow:inset 3px 0 0 #f59e0b}
tr.seg-good td:first-child{box-shadow:inset 3px 0 0 #22c55e}
section > figure{margin-top:14px}
.tensors-card{margin-top:14px;padding:10px 14px}
.tensors-card summary{cursor:pointer;font-weight:600;font-size:13.5px}
.tensors-card table{border:1px solid var(--line)}
td.frac{white-space:nowrap}
.bar{display:inline-block;width:70px;height:7px;background:#e2e8f0;border-radius:4px;vertical-align:middle;
overflow:hidden}
.bar i{display:block;height:100%;background:var(--bad)}
dl.env{display:grid;grid-template-columns:repeat(2,minmax(0,1fr));gap:0 24px;margin:0;font-size:12.5px;
background:var(--card);border:1px solid var(--line);border-radius:10px;padding:6px 14px}
dl.env div{display:flex;justify-content:space-between;gap:12px;padding:4px 0;border-bottom:1px solid #f1f5f9}
dl.env dt{color:var(--muted)}dl.env dd{margin:0;text-align:right;word-break:break-word}
dl.env div.hl{background:var(--warn-bg)}
ol.findings{list-style:none;margin:0;padding:0;display:grid;gap:10px}
.finding{background:var(--card);border:1px solid var(--line);border-left:4px solid #94a3b8;border-radius:8px;
padding:10px 14px}
.finding.bad{border-left-color:var(--bad)}.finding.warn{border-left-color:#f59e0b}
.finding.info{border-left-color:#0ea5e9}
.fhead{display:flex;flex-wrap:wrap;align-items:center;gap:6px 10px}
.fid{font-weight:600;background:none;padding:0;font-size:13px}
.tag{font-size:11.5px;color:#475569;border:1px solid var(--line);border-radius:4px;padding:0 6px}
.path code{font-size:12px}
.msg{margin:6px 0;word-break:break-word}
.todo{background:#f8fafc;border-radius:6px;padding:6px 10px;font-size:13px}
.todo b{font-size:11.5px;text-transform:uppercase;letter-spacing:.05em;color:var(--muted)}
.todo p{margin:2px 0 0}
.waiver{margin:6px 0 0;font-size:12.5px}
footer{margin-top:40px;color:var(--muted);font-size:12px;text-align:center}
@media (max-width:820px){.top-row{flex-direction:column}.ladders,.charts,dl.env{grid-template-columns:1fr}
.ladder{flex-direction:column}.rung{border-radius:6px!important}}
@media print{body{background:#fff;font-size:11.5px}main{max-width:none;padding:0}nav.toc{display:none}
.card,table.criteria,table.segments{break-inside:avoid}.finding,figure,tr{break-inside:avoid}
h2{break-after:avoid}.scroll{overflow:visible}}
@page{margin:14mm}
"""


def render_html(report: Report) -> str:
    """The whole report as one self-contained HTML page (inline CSS and SVG, no scripts, no URLs)."""
    name = report.release.name or report.release.path
    toc = "".join(f'<a href="#{a}">{t}</a>' for a, t in (
        ("criteria", "Criteria"), ("training", "Training curves"), ("evaluations", "Evaluations"),
        ("data", "Data mixture"), ("replay", "Replay"), ("findings", "Findings")))  # fmt: skip
    body = "\n".join([
        _header(report),
        f'<nav class="toc">{toc}</nav>',
        _criteria(report),
        _plots(report),
        _replay(report),
        _findings(report),
        f"<footer>Generated by {e(report.tool.name)} {e(report.tool.version)} against the LLM360 fully-open "
        f"spec {e(report.spec_version)}. This page renders report.json and nothing else; every figure in it "
        "is in that file.</footer>",
    ])  # fmt: skip
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="{e(report.tool.name)} {e(report.tool.version)}">
<title>{e(f"{report.verdict.upper()} · {report.level} · LLM360 audit of {name}")}</title>
<style>{CSS}</style>
</head>
<body>
<main>
{body}
</main>
</body>
</html>
"""
