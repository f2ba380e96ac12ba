"""The data-mixture figure: tokens per source as declared against as recounted, chart and table."""

from __future__ import annotations

import math
from collections.abc import Mapping

from audit.render.html.markup import DASH, esc, not_available
from audit.render.html.values import evidence_of
from audit.render.svg import bar_chart, format_number
from audit.spec.report import Report

DECLARED, MEASURED = "declared", "measured (recounted)"
Counts = dict[str, float | None]


def _num(v: object) -> float | None:
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return None
    return float(v)


def _mapping(raw: object) -> Mapping:
    return raw if isinstance(raw, Mapping) else {}


def _total(counts: Counts) -> float | None:
    return sum(v for v in counts.values() if v is not None and math.isfinite(v)) or None


def _chart(sources: list[str], dec: Counts, mea: Counts) -> str:
    groups: dict[str, list] = {}
    if dec:
        groups[DECLARED] = [dec.get(s) for s in sources]
    if mea:
        groups[MEASURED] = [mea.get(s) for s in sources]
    return bar_chart(sources, groups, title="Tokens per source: declared vs recounted", value_label="tokens",
                     colors={DECLARED: "#94a3b8", MEASURED: "#2563eb"}, width=1040)


def _difference(d: float | None, m: float | None) -> str:
    """Recounted minus declared, signed; green when they agree."""
    if d is None or m is None or not math.isfinite(d) or not math.isfinite(m):
        return DASH
    delta = m - d
    cls = "good-text" if delta == 0 else "bad-text"
    signed = "±0" if delta == 0 else ("+" if delta > 0 else "−") + format_number(abs(delta))
    return f'<span class="{cls}">{signed}</span>'


def _table(sources: list[str], dec: Counts, mea: Counts) -> str:
    tot_d, tot_m = _total(dec), _total(mea)
    rows = []
    for s in sources:
        d, m = dec.get(s), mea.get(s)
        share = f"{m / tot_m:.1%}" if m is not None and tot_m else "—"
        rows.append(f"<tr><td>{esc(s)}</td><td class=num>{esc(format_number(d))}</td>"
                    f"<td class=num>{esc(format_number(m))}</td><td class=num>{_difference(d, m)}</td>"
                    f"<td class=num>{esc(share)}</td></tr>")
    rows.append(f'<tr class="total"><td>total</td><td class=num>{esc(format_number(tot_d))}</td>'
                f'<td class=num>{esc(format_number(tot_m))}</td><td></td>'
                f'<td class=num>{"100%" if tot_m else "—"}</td></tr>')
    return ('<table class="compact mix"><thead><tr><th>source</th><th class=num>declared</th>'
            '<th class=num>recounted</th><th class=num>difference</th><th class=num>share</th></tr></thead>'
            f'<tbody>{"".join(rows)}</tbody></table>')


def _notes(dec: Counts, mea: Counts) -> str:
    notes = []
    if not dec:
        notes.append("No declared mixture in the report.")
    if not mea:
        notes.append("Tokens per source were not recounted (the data could not be read).")
    return "".join(not_available(n) for n in notes)


def mixture(report: Report) -> str:
    declared = _mapping(evidence_of(report, "data_mix").get("declared"))
    measured = _mapping(evidence_of(report, "data_availability").get("tokens_per_source"))
    if not declared and not measured:
        return not_available("Data mixture not available: neither a declared mixture nor recounted tokens per source.")
    named = {str(d) for d in declared}
    sources = [str(s) for s in declared] + sorted(str(s) for s in measured if str(s) not in named)
    dec = {str(k): _num(v) for k, v in declared.items()}
    mea = {str(k): _num(v) for k, v in measured.items()}
    return (f'<figure class="card chart-card mixture">{_chart(sources, dec, mea)}{_notes(dec, mea)}'
            f"{_table(sources, dec, mea)}</figure>")
