"""Per-segment tables of the tensors a replay found different, grouped by kind."""

from __future__ import annotations

import math

from audit.render.html.markup import code, esc, pill, plural
from audit.render.html.values import percent
from audit.render.svg import format_number
from audit.spec.report import ReplaySegment, TensorDiff

GroupKey = tuple[int, str]


def ulp(v: int | None) -> str:
    """A distance in ULPs; negative means not comparable."""
    if v is None:
        return "—"
    if v < 0:
        return '<span class="muted" title="not comparable in ULPs (shape, dtype or non-float)">n/a</span>'
    return esc(format_number(v))


def _tensor_group(name: str) -> GroupKey:
    """(order, heading) of the group a tensor belongs to: model weights, AdamW moments, or its prefix."""
    if name.startswith("exp_avg_sq."):
        return 2, "AdamW second moment (exp_avg_sq)"
    if name.startswith("exp_avg."):
        return 1, "AdamW first moment (exp_avg)"
    prefix = name.split(".", 1)[0] if "." in name else ""
    if prefix and prefix not in ("model", "lm_head", "transformer"):
        return 3, prefix
    return 0, "Model weights"


def _bar_width(frac: float) -> str:
    frac = min(max(frac, 0.0), 1.0) if math.isfinite(frac) else 0.0
    return "2px" if 0 < frac < 0.03 else f"{frac * 100:.1f}%"


def _tensor_row(t: TensorDiff) -> str:
    frac = t.differing / t.numel if t.numel else 0.0
    return (f'<tr><td title="{esc(t.name)}">{code(t.name)}</td>'
            f"<td class=num>{esc(format_number(t.max_abs_diff))}</td>"
            f"<td class=num>{ulp(t.max_ulp)}</td>"
            f'<td class=num>{esc(format_number(t.differing))} / {esc(format_number(t.numel))}</td>'
            f'<td class="frac"><span class="bar"><i style="width:{_bar_width(frac)}"></i>'
            f"</span> {percent(frac)}</td></tr>")


def _group_table(label: str, items: list[TensorDiff]) -> str:
    rows = "".join(_tensor_row(t) for t in items)
    return (f'<h4>{esc(label)} <span class="muted">· {plural(len(items), "tensor")}</span></h4>'
            '<table class="compact tensors"><thead><tr><th>tensor</th><th class=num>max abs diff</th>'
            '<th class=num>max ULP</th><th class=num>differing / elements</th><th>differing</th></tr></thead>'
            f"<tbody>{rows}</tbody></table>")


def tensor_tables(seg: ReplaySegment, open_: bool = True) -> str:
    """A collapsible card of the segment's differing tensors, one table per group."""
    groups: dict[GroupKey, list[TensorDiff]] = {}
    for t in seg.tensors:
        groups.setdefault(_tensor_group(t.name), []).append(t)
    parts = [_group_table(label, items) for (_, label), items in sorted(groups.items())]
    of = f" of {seg.tensors_compared} compared" if seg.tensors_compared else ""
    listed = plural(len(seg.tensors), "differing tensor")
    return (f'<details class="card tensors-card"{" open" if open_ else ""}><summary>'
            f"Steps {seg.start_step}→{seg.end_step}: {pill(seg.status)} {listed} listed{esc(of)}, "
            "largest difference first"
            f'</summary>{"".join(parts)}</details>')
