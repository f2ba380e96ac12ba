"""The page's header card: release, verdict, finding counts and the two openness ladders."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from audit.render.html.markup import TONE, code, esc, meta_item
from audit.spec.names import LEVELS, MOF_CLASSES
from audit.spec.report import Report

LEVEL_TEXT = {
    "closed": "No rung reached",
    "open-weights": "Weights and config released",
    "open-training": "Code, logs and evaluations too",
    "fully-open": "Optimizer states, data, mixture and order too",
    "reproduced": "Training replayed bit for bit",
}
MOF_TEXT = {"none": "No class reached", "III": "Open model", "II": "Open tooling", "I": "Open science"}


def _rung_class(i: int, reached: int) -> str:
    cls = "rung"
    if i == 0 and reached > 0:
        cls += " base"
    elif i < reached:
        cls += " reached"
    elif i == reached:
        cls += " current" + (" low" if i == 0 else "")
    return cls


def _requirements(criteria: Sequence[str], report: Report) -> str:
    """A dot per criterion the rung needs, coloured by its status."""
    dots = []
    for cid in criteria:
        res = report.criteria.get(cid)  # type: ignore[call-overload]
        st = res.status if res is not None else "skipped"
        dots.append(f'<span class="req {TONE.get(st, "muted")}" title="{esc(cid)}: {esc(st)}">'
                    f'<i></i>{esc(cid)}</span>')
    return f'<span class="reqs">{"".join(dots)}</span>'


def _ladder(rungs: Sequence[tuple[str, Sequence[str]]], bottom: str, reached: str, report: Report,
            texts: Mapping[str, str], label: str) -> str:
    names = [bottom] + [n for n, _ in rungs]
    needs = {n: list(c) for n, c in rungs}
    idx = names.index(reached) if reached in names else 0
    items = []
    for i, name in enumerate(names):
        reqs = _requirements(needs[name], report) if name in needs else ""
        mark = "✓ " if i <= idx and i > 0 else ""
        items.append(f'<li class="{_rung_class(i, idx)}"><span class="rname">{mark}{esc(name)}</span>'
                     f'<span class="rtext">{esc(texts.get(name, ""))}</span>{reqs}</li>')
    return f'<ol class="ladder" aria-label="{esc(label)}">{"".join(items)}</ol>'


def _counts(report: Report) -> str:
    c = report.counts()
    kinds = (("error", "error", "bad"), ("warning", "warning", "warn"), ("info", "note", "info"))
    counts = [f'<span class="count {tone if c.get(key) else "zero"}"><b>{c.get(key, 0)}</b> '
              f'{word if c.get(key, 0) == 1 else word + "s"}</span>' for key, word, tone in kinds]
    if c.get("waived"):
        counts.append(f'<span class="count muted"><b>{c["waived"]}</b> waived</span>')
    return "".join(counts)


def _gate(gate: object) -> str:
    bits = [f"fail on {esc(getattr(gate, 'fail_on', 'error'))}"]
    if getattr(gate, "require_level", None):
        bits.append(f"require level {esc(gate.require_level)}")  # type: ignore[attr-defined]
    if getattr(gate, "policy", None):
        bits.append(f"policy {code(gate.policy)}")  # type: ignore[attr-defined]
    return meta_item("gate", ", ".join(bits))


def _meta(report: Report) -> str:
    rel = report.release
    license_text = esc(rel.license) if rel.license else '<span class="bad-text">none declared</span>'
    meta = [meta_item("release path", code(rel.path)), meta_item("license", license_text)]
    if rel.manifest_sha256:
        meta.append(meta_item("manifest sha256", f"{code(rel.manifest_sha256[:16])}…"))
    meta.append(meta_item("auditor", f"{esc(report.tool.name)} {esc(report.tool.version)}"))
    meta.append(meta_item("spec", f"LLM360 fully-open spec {esc(report.spec_version)}"))
    gate = getattr(report, "gate", None)
    if gate is not None:
        meta.append(_gate(gate))
    if report.signing is not None:
        sg = report.signing
        who = (f'signed by key <code title="{esc(sg.key_fingerprint)}">{esc(sg.short_fingerprint)}</code>'
               if sg.method == "key" else
               f"signed keyless by <code>{esc(sg.identity)}</code> (sigstore, issuer {esc(sg.issuer)})")  # fmt: skip
        meta.append(meta_item("signature", f"{who} ({esc(sg.algorithm)}; release.sig, report.sig)"))
    return "".join(meta)


def _notes(report: Report) -> str:
    """Warnings under the ladders: no license, or only one shard of a split audit."""
    out = ("" if report.release.license else
           '<p class="note bad-text">No license is declared: every rung above the bottom needs one.</p>')
    if report.partial_note():
        out += f'<p class="note bad-text">{esc(report.partial_note())}</p>'
    return out


def _sample(report: Report) -> str:
    """Under a sampled reproduction's level: the chance a tampered segment escaped the sample."""
    note = report.sample_note()
    return f'<p class="note sample">Sampled: {esc(note)}.</p>' if note else ""


def header(report: Report) -> str:
    name = report.release.name or report.release.path
    verdict = report.verdict
    return f"""<header class="card top">
<div class="top-row">
<div class="title">
<p class="eyebrow">LLM360 transparency report</p>
<h1>{esc(name)}</h1>
<dl class="meta">{_meta(report)}</dl>
</div>
<div class="verdict {"good" if verdict == "pass" else "bad"}">
<span class="vlabel">verdict</span><span class="vvalue">{esc(verdict.upper())}</span>
<span class="counts">{_counts(report)}</span>
</div>
</div>
<div class="ladders">
<div><h2 class="small">Openness level: <b>{esc(report.level)}</b></h2>{_sample(report)}
{_ladder(LEVELS, "closed", report.rung, report, LEVEL_TEXT, "openness level")}</div>
<div><h2 class="small">Model Openness Framework class: <b>{esc(report.mof_class)}</b></h2>
{_ladder(MOF_CLASSES, "none", report.mof_class, report, MOF_TEXT, "MOF class")}</div>
</div>
{_notes(report)}
</header>"""
