"""The chart sections: training curves, evaluations and (from ``mixture``) the data mixture."""

from __future__ import annotations

import math
from collections.abc import Mapping

from audit.render.html.markup import esc, figure, human_key, not_available, plural
from audit.render.html.mixture import mixture
from audit.render.html.values import evidence_of
from audit.render.svg import format_number, line_chart
from audit.spec.report import Report

SERIES_ORDER = ("loss", "learning_rate", "grad_norm")
SERIES_TITLES = {"loss": "Training loss", "learning_rate": "Learning rate", "grad_norm": "Gradient norm"}


def _points(raw: object) -> list:
    return list(raw) if isinstance(raw, (list, tuple)) else []


def _finite_values(points: list) -> list[float]:
    """The finite y values of well-formed ``[x, y]`` points."""
    out = []
    for p in points:
        if isinstance(p, (list, tuple)) and len(p) >= 2 and isinstance(p[1], (int, float)) \
                and not isinstance(p[1], bool) and math.isfinite(p[1]):
            out.append(float(p[1]))
    return out


def _series_figure(key: str, raw: object) -> str:
    """One training-log series as a chart; the gradient norm on a log axis when it spans > 100×."""
    pts = _points(raw)
    vals = _finite_values(pts)
    log_y = key == "grad_norm" and len(vals) > 1 and min(vals) > 0 and max(vals) / min(vals) > 100
    title = SERIES_TITLES.get(key, human_key(key))
    svg = line_chart({key: pts}, title=title, x_label="step", y_label=human_key(key), log_y=log_y,
                     width=360, height=250)
    skipped = len(pts) - len(vals)
    cap = f"{len(vals)} logged steps"
    if skipped:
        cap += f", {skipped} non-finite or malformed value(s) not drawn"
    if vals:
        cap += f"; last value {esc(format_number(vals[-1], 5))}"
    return figure(svg, cap)


def _training_charts(report: Report) -> str:
    series = evidence_of(report, "metrics").get("series")
    if not isinstance(series, Mapping) or not series:
        return not_available("Training curves not available: the report holds no training-log series "
                             "(the log is missing, unreadable or not declared).")
    keys = [k for k in SERIES_ORDER if k in series] + sorted(str(k) for k in series if k not in SERIES_ORDER)
    figs = [_series_figure(key, series.get(key)) for key in keys]
    return f'<div class="charts three">{"".join(figs)}</div>'


def _by_metric(evals: Mapping) -> dict[str, dict[str, list]]:
    """``task/metric`` keys grouped by metric: {metric: {task: points}}."""
    by_metric: dict[str, dict[str, list]] = {}
    for key, pts in evals.items():
        task, _, metric = str(key).rpartition("/")
        by_metric.setdefault(metric or "value", {})[task or str(key)] = _points(pts)
    return by_metric


def _evaluation_charts(report: Report) -> str:
    evals = evidence_of(report, "metrics").get("evaluations")
    if not isinstance(evals, Mapping) or not evals:
        return not_available("Evaluation curves not available: the report holds no per-checkpoint evaluation results.")
    by_metric = _by_metric(evals)
    figs = []
    for metric, tasks in sorted(by_metric.items()):
        svg = line_chart(tasks, title=f"Evaluation: {metric}", x_label="checkpoint step", y_label=metric,
                         width=520 if len(by_metric) > 1 else 1040, height=270)
        n_ck = len({p[0] for pts in tasks.values() for p in pts if isinstance(p, (list, tuple)) and p})
        figs.append(figure(svg, f"{plural(len(tasks), 'task')} over {plural(n_ck, 'checkpoint')}"))
    wide = " one" if len(by_metric) == 1 else ""
    return f'<div class="charts{wide}">{"".join(figs)}</div>'


def plots(report: Report) -> str:
    return f"""<section id="training"><h2>Training curves</h2>
<p class="lead">From the released per-step training log.</p>
{_training_charts(report)}</section>
<section id="evaluations"><h2>Evaluations</h2>
<p class="lead">From the released per-checkpoint evaluation results.</p>
{_evaluation_charts(report)}</section>
<section id="data"><h2>Data mixture</h2>
<p class="lead">The mixture the release declares, against the tokens recounted in its data chunks.</p>
{mixture(report)}</section>"""
