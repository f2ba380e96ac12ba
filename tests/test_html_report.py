"""report.html: one self-contained page (inline CSS and SVG, no scripts, no URLs) rendered from the
report alone — for the passing example, a broken variant, an empty directory and hostile strings —
and, where Chromium is installed, actually drawn by a browser."""

from __future__ import annotations

import html
import math
import re
import shutil
import struct
import subprocess
import zlib

import pytest

from audit.render.html import render_html
from audit.render.svg import bar_chart, format_number, line_chart, log_ticks, nice_ticks
from audit.spec.report import CRITERIA, Finding
from conftest import audit, flip_tensor_byte

#: A reference to anything outside the page: src=/href= to a URL (or protocol-relative), @import, url(.
EXTERNAL = re.compile(r"""(?:src|href|xlink:href)\s*=\s*["']?\s*(?:[a-z][a-z0-9+.-]*:|//)|@import|url\(""", re.I)


def assert_self_contained(page: str, *, trusted_text: bool = True) -> None:
    """No script, no event handler, no reference outside the page. With ``trusted_text`` the whole
    page is searched; else (hostile strings shown as text) only its tags and its style sheet."""
    assert page.startswith("<!DOCTYPE html>")
    tags = re.findall(r"<[a-zA-Z!/][^>]*>", page)
    styles = re.findall(r"<style>(.*?)</style>", page, re.S)
    where = [page] if trusted_text else tags + styles
    assert not any("<script" in w.lower() for w in where)
    for w in where:
        assert not EXTERNAL.search(w), EXTERNAL.search(w).group(0)
    for tag in tags:
        assert not re.search(r"\son[a-z]+\s*=", tag, re.I), tag  # no inline event handlers
        for attr in re.findall(r"""(?:src|href)\s*=\s*["']([^"']*)""", tag):
            assert attr.startswith("#"), tag  # only in-page anchors


def text_of(page: str) -> str:
    """The page's visible text, roughly: tags removed, entities decoded."""
    return html.unescape(re.sub(r"<[^>]+>", "", page))


@pytest.fixture(scope="module")
def passing(built_release):
    report = audit(built_release, replay="all")
    return report, render_html(report)


@pytest.fixture
def failing(release):
    (release / "data" / "train_004.jsonl").unlink()
    path = release / "checkpoints" / "step_000012" / "model.safetensors"
    flip_tensor_byte(path, at=100)  # one bit of one weight, inside the tensor data
    report = audit(release, replay="all")
    return report, render_html(report)


def test_passing_example(passing):
    report, page = passing
    assert report.verdict == "pass" and report.level == "reproduced"
    assert_self_contained(page)
    for cid in CRITERIA:
        assert f"<code>{cid}</code>" in page
    assert "reproduced" in page and ">PASS<" in page
    assert f"Model Openness Framework class: <b>{report.mof_class}</b>" in page
    assert page.count("<svg") >= 5  # loss, learning rate, grad norm, evaluations, mixture
    for title in ("Training loss", "Learning rate", "Gradient norm", "Evaluation: loss", "Tokens per source"):
        assert f">{title}" in page, title
    assert page.count("bit-exact</span>") >= len(report.replay.segments)
    assert "not available" not in page
    text = text_of(page)
    assert "Replay environment" in text and report.replay.environment["torch_version"] in text
    assert "No findings" in text
    # Large evidence lists are summarised, not dumped into the criteria table.
    assert "3 series, plotted below" in text
    assert str(report.criteria["metrics"].evidence["series"]["loss"][0][1]) not in text


def test_failing_variant_lists_every_finding_with_what_to_do(failing):
    report, page = failing
    assert report.verdict == "fail"
    assert_self_contained(page)
    assert ">FAIL<" in page
    text = text_of(page)
    assert report.findings
    for f in report.findings:
        assert f.id in text
        assert f.message.replace("`", "") in text
        assert f.remediation and f.remediation.replace("`", "") in text
        if f.path:
            assert f.path in text
    ids = {f.id for f in report.findings}
    assert {"data.file-missing", "checkpoints.sha256-mismatch"} <= ids
    assert "What to do" in text
    statuses = {s.status for s in report.replay.segments}
    assert "error" in statuses and "mismatch" in statuses
    for status in statuses:
        assert f">{status}</span>" in page
    assert "Largest absolute difference per segment" in page
    differing = [s for s in report.replay.segments if s.tensors]
    assert differing and "Differing tensors" in text
    for t in differing[0].tensors:
        assert t.name in text
    assert "Model weights" in text
    assert page.count("<svg") >= 5  # the charts do not depend on the data being complete


def test_empty_directory_renders(tmp_path):
    (tmp_path / "empty").mkdir()
    report = audit(tmp_path / "empty")
    page = render_html(report)
    assert_self_contained(page)
    text = text_of(page)
    assert "manifest.missing" in text and "closed" in text and "FAIL" in text
    assert text.count("not available") >= 3  # training curves, evaluations, mixture
    assert "No segment was replayed" in text


def test_hostile_strings_are_escaped(passing):
    report = passing[0].model_copy(deep=True)
    evil = "<script>alert(1)</script>"
    report.release.name = evil
    report.findings.append(Finding(id="x.<b>bold</b>", severity="warning", criterion="metrics", message=evil,
                                   path='"><img src=x onerror=alert(1)>', remediation=f"`{evil}` & friends"))
    report.criteria["code"].summary = evil
    report.criteria["code"].evidence[evil] = evil
    report.criteria["data_availability"].evidence["tokens_per_source"] = {evil: 10, "ok": 5}
    report.criteria["data_mix"].evidence["declared"] = {evil: 12}
    report.criteria["metrics"].evidence["evaluations"] = {f"{evil}/acc": [[0, 0.5], [4, 0.7]]}
    report.replay.environment[evil] = evil
    page = render_html(report)
    assert "<script" not in page.lower() and "<img" not in page.lower() and "<b>bold" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert_self_contained(page, trusted_text=False)
    assert evil in text_of(page)


def test_broken_and_odd_evidence_never_crashes(passing):
    report = passing[0].model_copy(deep=True)
    nan, inf = math.nan, math.inf
    report.criteria["metrics"].evidence["series"] = {
        "loss": [], "learning_rate": [[1, 3e-4]], "grad_norm": [[1, nan], [2, inf], [3, 2.0], "junk", [4], None],
        "tokens_per_second": [[1, 5.0], [2, 5.0], [3, 5.0]]}  # fmt: skip
    report.criteria["metrics"].evidence["evaluations"] = {"a/acc": [[0, 0.5], [4, None]], "b/loss": "garbage"}
    report.criteria["data_mix"].evidence["declared"] = {"x": None, "y": "lots"}
    report.criteria["data_availability"].evidence = {"tokens_per_source": 17}
    report.replay.segments[0].max_abs_diff = inf
    report.replay.segments[1].max_abs_diff = 1e-7
    page = render_html(report)
    assert_self_contained(page)
    for d in re.findall(r'\s(?:d|x|y|cx|cy|width|x1|x2|y1|y2)="([^"]*)"', page):
        assert not re.search(r"nan|inf", d, re.I), d
    assert "no data" in page  # the empty loss series
    del report.criteria["metrics"].evidence["series"], report.criteria["data_mix"].evidence["declared"]
    report.replay.environment = {}
    assert "not available" in render_html(report)


def test_svg_helpers():
    values = (0, 1e-3, 3e-4, 2.5e-5, 0.25, 4.321, 14560, 1e9 + 0.5, None, math.inf, math.nan)
    assert [format_number(v) for v in values] == ["0", "0.001", "3e-4", "2.5e-5", "0.25", "4.32", "14,560", "1e9",
                                                  "—", "∞", "NaN"]
    ticks, step = nice_ticks(0, 28, 6)
    assert ticks[0] <= 0 and ticks[-1] >= 28 and step == 5
    assert nice_ticks(5, 5)[0][0] < 5 < nice_ticks(5, 5)[0][-1]  # constant values: a padded axis
    assert log_ticks(3e-9, 5e-5)[0] <= 3e-9 and log_ticks(3e-9, 5e-5)[-1] >= 5e-5
    empty = line_chart({}, title="nothing")
    assert empty.startswith("<svg") and "no data" in empty and empty.endswith("</svg>")
    one = line_chart({"s": [(3, 1.5)]}, title="one point")
    assert "<circle" in one and "<path" not in one
    lr = line_chart({"lr": [(i, 3e-4 * i / 10) for i in range(11)]}, y_label="lr")
    assert ">3e-4<" in lr and ">1e-4<" in lr  # readable ticks, not 0.00030000000000000003
    log = line_chart({"g": [(1, 0.0), (2, 1e-6), (3, 1e-2), (4, -1.0)]}, log_y=True, y_label="g")
    assert "(log)" in log and ">1e-6<" in log
    bars = bar_chart(["<a>", "b"], {"declared": [1, None], "measured": [2, math.nan]}, title="<t>")
    assert "&lt;a&gt;" in bars and "&lt;t&gt;" in bars and "<a>" not in bars and "missing" in bars
    assert 'xmlns="http://www.w3.org/2000/svg"' in line_chart({}, standalone=True)
    assert "xmlns" not in bars


def decode_png(data: bytes) -> tuple[int, int, list[bytes], int]:
    """Width, height, unfiltered rows and bytes per pixel of an 8-bit PNG, with the standard library."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, width = 8, b"", 0
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        chunk = data[pos + 8:pos + 8 + length]
        pos += 12 + length
        if kind == b"IHDR":
            width, height, depth, color, _, _, interlace = struct.unpack(">IIBBBBB", chunk)
            assert depth == 8 and interlace == 0 and color in (0, 2, 4, 6)
            bpp = {0: 1, 2: 3, 4: 2, 6: 4}[color]
        elif kind == b"IDAT":
            idat += chunk
    raw, stride, rows = zlib.decompress(idat), width * bpp, []
    prev = bytearray(stride)
    for y in range(height):
        kind, line = raw[y * (stride + 1)], bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        if kind == 1:
            for x in range(bpp, stride):
                line[x] = (line[x] + line[x - bpp]) & 255
        elif kind == 2:
            line = bytearray((a + b) & 255 for a, b in zip(line, prev))
        elif kind == 3:
            for x in range(stride):
                line[x] = (line[x] + ((line[x - bpp] if x >= bpp else 0) + prev[x]) // 2) & 255
        elif kind == 4:
            for x in range(stride):
                a, b, c = (line[x - bpp], prev[x], prev[x - bpp]) if x >= bpp else (0, prev[x], 0)
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[x] = (line[x] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        rows.append(bytes(line))
        prev = line
    return width, height, rows, bpp


def test_chromium_draws_the_page(passing, tmp_path):
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        pytest.skip("neither chromium nor chromium-browser on PATH")
    page_file, png = tmp_path / "report.html", tmp_path / "report.png"
    page_file.write_text(passing[1], encoding="utf-8")
    subprocess.run([browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                    "--disable-component-update", "--disable-sync", "--no-first-run",
                    f"--user-data-dir={tmp_path / 'profile'}", "--window-size=1280,2400", f"--screenshot={png}",
                    page_file.resolve().as_uri()], capture_output=True, timeout=60, check=False)  # fmt: skip
    assert png.is_file() and png.stat().st_size > 10_000
    width, height, rows, bpp = decode_png(png.read_bytes())
    assert (width, height) == (1280, 2400)
    colours = {row[x:x + bpp] for row in rows[::3] for x in range(0, len(row), bpp * 3)}
    assert len(colours) >= 50, len(colours)
    # Not blank anywhere that matters: the header, the charts further down, and the bottom both have ink.
    background = rows[0][:bpp]
    for band in (range(0, 400), range(1000, 1800), range(1800, 2400)):
        assert any(row != background * width for row in (rows[y] for y in band)), band


def test_a_failing_release_opens_with_what_to_fix_and_no_banner_contradicts_it(release, passing):
    from conftest import read_jsonl, refresh, write_jsonl

    log = release / "logs" / "train_log.jsonl"
    rows = read_jsonl(log)
    rows[5]["loss"] += 1e-3  # the tensors still replay bitwise equal; the step log does not
    write_jsonl(log, rows)
    refresh(release)
    report = audit(release, replay="all")
    assert report.verdict == "fail" and all(s.max_abs_diff == 0 for s in report.replay.segments)
    page = render_html(report)
    assert_self_contained(page)
    text = text_of(page)
    assert text.index("What to fix first") < text.index("Criteria")
    fix = page[page.index('id="fix-first"'):page.index("</section>", page.index('id="fix-first"'))]
    assert "replay.mismatch" in fix and "logs/train_log.jsonl:6" in fix and "fix:" in fix
    assert "every tensor bitwise equal." not in text
    assert "Every compared tensor is bitwise equal, but 1 segment failed" in text
    assert 'id="fix-first"' not in passing[1]
