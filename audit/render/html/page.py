"""The document around the sections: head, style sheet, table of contents and footer."""

from __future__ import annotations

from audit.render.html.criteria import criteria
from audit.render.html.findings import findings, fix_first
from audit.render.html.forensics import forensics
from audit.render.html.header import header
from audit.render.html.markup import esc
from audit.render.html.plots import plots
from audit.render.html.replay import replay
from audit.spec.report import Report

#: The sections the table of contents links to: (anchor, title).
CONTENTS = (("criteria", "Criteria"), ("training", "Training curves"), ("evaluations", "Evaluations"),
            ("data", "Data mixture"), ("replay", "Replay"), ("findings", "Findings"))  # fmt: skip

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


def _footer(report: Report) -> str:
    return (f"<footer>Generated by {esc(report.tool.name)} {esc(report.tool.version)} against the LLM360 fully-open "
            f"spec {esc(report.spec_version)}. This page renders report.json and nothing else; every figure in it "
            "is in that file.</footer>")


def _body(report: Report) -> str:
    contents = CONTENTS[:-1] + ((("forensics", "Weights-only tests"),) if report.forensics else ()) + CONTENTS[-1:]
    toc = "".join(f'<a href="#{a}">{t}</a>' for a, t in contents)
    return "\n".join([
        header(report),
        fix_first(report),
        f'<nav class="toc">{toc}</nav>',
        criteria(report),
        plots(report),
        replay(report),
        forensics(report),
        findings(report),
        _footer(report),
    ])  # fmt: skip


def render_html(report: Report) -> str:
    """The whole report as one self-contained HTML page (inline CSS and SVG, no scripts, no URLs)."""
    name = report.release.name or report.release.path
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="{esc(report.tool.name)} {esc(report.tool.version)}">
<title>{esc(f"{report.verdict.upper()} · {report.level} · LLM360 audit of {name}")}</title>
<style>{CSS}</style>
</head>
<body>
<main>
{_body(report)}
</main>
</body>
</html>
"""
