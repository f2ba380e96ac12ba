"""The findings list: most severe first, each with its remediation and any waiver."""

from __future__ import annotations

from audit.render.html.markup import TITLES, TONE, code, esc, pill, plural, prose
from audit.spec.report import Finding, Report

SEVERITY_ORDER = {"error": 0, "warning": 1, "info": 2}


def _waiver(f: Finding) -> str:
    waiver = getattr(f, "waiver", None)
    if waiver is None:
        return ""
    return (f'<p class="waiver">{pill("waived", "muted")} {esc(getattr(waiver, "reason", ""))} '
            f'<span class="muted">(until {esc(getattr(waiver, "expires", "?"))})</span></p>')


def _finding(f: Finding, anchor: str) -> str:
    """One finding; ``anchor`` is the ``id`` attribute (markup) of the first one of its criterion."""
    path = f'<span class="path">{code(f.path)}</span>' if f.path else ""
    todo = (f'<div class="todo"><b>What to do</b><p>{prose(f.remediation)}</p></div>' if f.remediation else "")
    tone = "muted" if getattr(f, "waiver", None) is not None else TONE.get(f.severity, "muted")
    return f"""<li class="finding {tone}"{anchor}>
<div class="fhead">{pill(f.severity)} <code class="fid">{esc(f.id)}</code>
<span class="tag">{esc(TITLES.get(f.criterion, f.criterion))}</span>{path}</div>
<p class="msg">{prose(f.message)}</p>{_cause(f)}{todo}{_waiver(f)}</li>"""


def _cause(f: Finding) -> str:
    if f.cause is None:
        return ""
    return f'<p class="muted">follows from {code(f.cause.id)} at {code(f.cause.path)}</p>'


#: Blocking findings listed at the top of a failing report.
FIX_FIRST = 5


def fix_first(report: Report) -> str:
    """For a failing release: the blocking findings to fix first, before anything else on the page ("" when it passes)."""
    if report.verdict == "pass":
        return ""
    # root causes only: what follows from a missing file goes away with it
    every = report.blocking()
    roots = {(f.id, f.path) for f in every}
    blocking = sorted((f for f in every if f.cause is None or (f.cause.id, f.cause.path) not in roots),
                      key=lambda f: SEVERITY_ORDER.get(f.severity, 9))  # fmt: skip
    items = []
    for f in blocking[:FIX_FIRST]:
        where = f'{code((f.path or "") + (f":{f.line}" if f.line else ""))} ' if f.path else ""
        fix = f'<br><span class="muted">fix: {prose(f.remediation)}</span>' if f.remediation else ""
        items.append(f'<li>{where}<code class="fid">{esc(f.id)}</code>: {prose(f.message)}{fix}</li>')
    more = len(blocking) - FIX_FIRST
    rest = f'<p class="muted">… and {plural(more, "more blocking finding")} below.</p>' if more > 0 else ""
    if not items:  # failing only on the required level
        items.append(f"<li>the release reaches level {code(report.level)}; the gate requires "
                     f"{code(report.gate.require_level)}: the criteria of the rungs above are in the table below</li>")
    return (f'<section id="fix-first" class="card"><h2>What to fix first</h2><ol>{"".join(items)}</ol>{rest}</section>')


def findings(report: Report) -> str:
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
            anchor = f' id="findings-{esc(f.criterion)}"'
        items.append(_finding(f, anchor))
    c = report.counts()
    tally = ", ".join(plural(c.get(k, 0), n) for k, n in (("error", "error"), ("warning", "warning"),
                                                          ("info", "note")))
    return f"""<section id="findings"><h2>Findings</h2><p class="lead">{esc(tally)}, most severe first.</p>
<ol class="findings">{"".join(items)}</ol></section>"""
