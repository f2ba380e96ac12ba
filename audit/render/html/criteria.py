"""The criteria table: each criterion's status, summary, evidence and a link to its findings."""

from __future__ import annotations

from collections import Counter

from audit.render.html.markup import TITLES, code, esc, human_key, pill
from audit.render.html.values import evidence
from audit.spec.report import CriterionResult, Report


def _row(cid: str, res: CriterionResult, n_findings: int) -> str:
    n = n_findings
    link = f'<a class="flink" href="#findings-{esc(cid)}">{n} finding{"s" if n != 1 else ""}</a>' if n else ""
    return f"""<tr id="criterion-{esc(cid)}">
<td class="crit"><b>{esc(TITLES.get(cid, human_key(cid)))}</b><br>{code(cid)}</td>
<td class="status">{pill(res.status)}{link}</td>
<td class="summary">{esc(res.summary)}</td>
<td class="evidence">{evidence(res.evidence)}</td>
</tr>"""


def criteria(report: Report) -> str:
    by_crit = Counter(f.criterion for f in report.findings)
    rows = [_row(cid, res, by_crit.get(cid, 0)) for cid, res in report.criteria.items()]
    return f"""<section id="criteria"><h2>Criteria</h2>
<p class="lead">Each LLM360 criterion is checked against the files themselves, not against what the manifest
declares.</p>
<div class="scroll"><table class="criteria">
<thead><tr><th>criterion</th><th>status</th><th>summary</th><th>evidence</th></tr></thead>
<tbody>{"".join(rows)}</tbody></table></div></section>"""
