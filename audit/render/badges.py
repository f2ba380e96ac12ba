"""badges/: README badges rendered offline — shields.io "flat" SVGs, shields.io endpoint JSON and a
Markdown snippet for the model card.

``render_badges(report)`` returns ``{relative path: file text}`` for the output directory:

- ``badges/llm360.svg`` — the openness level (``LLM360 | fully-open``, ``LLM360 | reproduced (sampled 2/7)``),
  coloured by its rung; ``badges/verdict.svg`` — pass/fail;
- ``badges/<criterion>.svg`` — one per criterion, its status;
- ``badges/<name>.json`` — the same badge as a shields.io endpoint (``schemaVersion`` 1);
- ``badges/README.md`` — the snippet that embeds them, and how to serve them through shields.io.

Text widths come from a per-character table of Verdana at 11px (what shields.io measures with), so
the badges look like the ones shields.io would draw, without a network or a font.
"""

from __future__ import annotations

import json
import re
import unicodedata
import xml.etree.ElementTree as ET

from audit.spec.names import LEVELS
from audit.spec.report import Report

SVG_NS = "http://www.w3.org/2000/svg"

#: shields.io named colours → hex.
COLORS = {
    "brightgreen": "#4c1",
    "green": "#97ca00",
    "yellowgreen": "#a4a61d",
    "yellow": "#dfb317",
    "orange": "#fe7d37",
    "red": "#e05d44",
    "lightgrey": "#9f9f9f",
    "blue": "#007ec6",
    # Not a shields.io name: endpoint JSON carries it as hex (shields accepts "ffbf00").
    "ffbf00": "#ffbf00",
}
LEVEL_COLOR = {
    "reproduced": "brightgreen",
    "fully-open": "green",
    "open-training": "yellowgreen",
    "open-weights": "yellow",
    "closed": "red",
}
STATUS_COLOR = {"pass": "green", "partial": "ffbf00", "fail": "red", "skipped": "lightgrey"}  # partial: amber
VERDICT_COLOR = {"pass": "brightgreen", "fail": "red"}
LABEL_COLOR = "#555"
FALLBACK_COLOR = "lightgrey"

# Advance widths (px) of Verdana 11px for U+0020…U+007E.
_ASCII_WIDTHS = (
    3.87, 4.33, 5.05, 9.0, 6.99, 11.84, 7.99, 2.95, 4.99, 4.99, 6.99, 9.0, 4.0, 4.99, 4.0, 4.99,  # ' '…'/'
    6.99, 6.99, 6.99, 6.99, 6.99, 6.99, 6.99, 6.99, 6.99, 6.99,  # 0…9
    4.99, 4.99, 9.0, 9.0, 9.0, 6.0, 11.0,  # :;<=>?@
    7.52, 7.54, 7.68, 8.48, 6.96, 6.32, 8.53, 8.27, 4.63, 5.0, 7.62, 6.12, 9.27,  # A…M
    8.23, 8.66, 6.63, 8.66, 7.65, 7.52, 6.78, 8.05, 7.52, 10.88, 7.54, 6.77, 7.54,  # N…Z
    4.99, 4.99, 4.99, 9.0, 6.99, 6.99,  # [\]^_`
    6.61, 6.85, 5.73, 6.85, 6.55, 3.87, 6.85, 6.96, 3.02, 3.79, 6.51, 3.02, 10.75,  # a…m
    6.96, 6.68, 6.85, 6.85, 4.69, 5.73, 4.33, 6.96, 6.51, 9.0, 6.51, 6.51, 5.78,  # n…z
    6.98, 4.99, 6.98, 9.0,  # {|}~
)  # fmt: skip
WIDTHS = {chr(32 + i): w for i, w in enumerate(_ASCII_WIDTHS)}
WIDTHS.update({"→": 9.0, "–": 6.99, "—": 11.0, "…": 11.0, "·": 4.0})
DEFAULT_WIDTH = 7.0  # other characters: about an average lower-case letter
WIDE_WIDTH = 11.0  # East Asian wide / full-width characters

_NOT_XML = re.compile("[^\t\n\r\u0020-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
_HEX = re.compile(r"^#?(?:[0-9a-fA-F]{3}){1,2}$")


def _xml_text(s: str) -> str:
    return _NOT_XML.sub(lambda m: f"\\u{ord(m.group()):04x}", str(s))


def text_width(text: str) -> float:
    """Approximate rendered width of ``text`` in Verdana 11px."""
    total = 0.0
    for ch in text:
        if ch in WIDTHS:
            total += WIDTHS[ch]
        elif unicodedata.combining(ch) or unicodedata.category(ch) in ("Mn", "Me", "Cf"):
            continue
        elif unicodedata.east_asian_width(ch) in ("W", "F"):
            total += WIDE_WIDTH
        else:
            total += DEFAULT_WIDTH
    return total


def _round_up_to_odd(x: float) -> int:
    n = int(-(-x // 1))  # ceil
    return n if n % 2 else n + 1


def hex_color(color: str) -> str:
    """A shields.io colour (name or hex, with or without '#') as SVG hex."""
    if color in COLORS:
        return COLORS[color]
    if _HEX.match(color):
        return color if color.startswith("#") else "#" + color
    return COLORS[FALLBACK_COLOR]


def _text_colors(fill: str) -> tuple[str, str]:
    """Text and shadow colour for a background, as shields.io picks them (dark text on light colours)."""
    h = fill.lstrip("#")
    if len(h) == 3:
        h = "".join(c * 2 for c in h)
    r, g, b = (int(h[i : i + 2], 16) for i in (0, 2, 4))
    brightness = (0.299 * r + 0.587 * g + 0.114 * b) / 255
    return ("#333", "#ccc") if brightness > 0.69 else ("#fff", "#010101")


def render_svg(label: str, message: str, color: str, ident: str = "b") -> str:
    """A flat shields.io-style badge: grey label left, coloured message right, rounded, text shadowed."""
    label, message = _xml_text(label), _xml_text(message)
    ident = re.sub(r"[^A-Za-z0-9_-]", "_", ident) or "b"
    lw = _round_up_to_odd(text_width(label)) + 10  # 5 px padding each side
    mw = _round_up_to_odd(text_width(message)) + 10
    width = lw + mw
    fill = hex_color(color)
    title = f"{label}: {message}"

    def el(parent, tag, **attrs):
        return ET.SubElement(parent, tag, {k.rstrip("_").replace("_", "-"): str(v) for k, v in attrs.items()})

    # Plain tags and an explicit xmlns: ElementTree's default_namespace refuses un-prefixed attributes.
    svg = ET.Element("svg", {"xmlns": SVG_NS, "width": str(width), "height": "20", "role": "img", "aria-label": title})
    el(svg, "title").text = title
    grad = el(svg, "linearGradient", id=f"s-{ident}", x2="0", y2="100%")
    el(grad, "stop", offset="0", stop_color="#bbb", stop_opacity=".1")
    el(grad, "stop", offset="1", stop_opacity=".1")
    clip = el(svg, "clipPath", id=f"r-{ident}")
    el(clip, "rect", width=width, height="20", rx="3", fill="#fff")
    g = el(svg, "g", clip_path=f"url(#r-{ident})")
    el(g, "rect", width=lw, height="20", fill=LABEL_COLOR)
    el(g, "rect", x=lw, width=mw, height="20", fill=fill)
    el(g, "rect", width=width, height="20", fill=f"url(#s-{ident})")
    t = el(svg, "g", fill="#fff", text_anchor="middle", font_family="Verdana,Geneva,DejaVu Sans,sans-serif",
           text_rendering="geometricPrecision", font_size="110")  # fmt: skip
    for text, x0, w, bg in ((label, 0, lw, LABEL_COLOR), (message, lw, mw, fill)):
        fg, shadow = _text_colors(bg)
        x = (x0 + w / 2) * 10
        length = (w - 10) * 10
        xs = f"{x:g}"
        el(t, "text", aria_hidden="true", x=xs, y="150", fill=shadow, fill_opacity=".3", transform="scale(.1)",
           textLength=length).text = text  # fmt: skip
        el(t, "text", x=xs, y="140", transform="scale(.1)", fill=fg, textLength=length).text = text
    return ET.tostring(svg, encoding="unicode") + "\n"


def endpoint_json(label: str, message: str, color: str, attestation: dict | None = None) -> str:
    """A shields.io endpoint: https://img.shields.io/endpoint?url=<URL of this file>; ``attestation``, when
    signed, rides along under ``llm360Attestation`` (shields.io ignores keys it does not know)."""
    doc: dict = {"schemaVersion": 1, "label": label, "message": message, "color": color}
    if attestation:
        doc["llm360Attestation"] = attestation
    return json.dumps(doc, indent=2) + "\n"


def _badges(report: Report) -> list[tuple[str, str, str, str]]:
    """(name, label, message, colour) of every badge: overall first, then verdict, then criteria."""
    out = [
        ("llm360", "LLM360", report.level, LEVEL_COLOR.get(report.rung, FALLBACK_COLOR)),
        ("verdict", "LLM360 audit", report.verdict, VERDICT_COLOR.get(report.verdict, FALLBACK_COLOR)),
    ]
    for cid, res in report.criteria.items():
        out.append((cid, cid, res.status, STATUS_COLOR.get(res.status, FALLBACK_COLOR)))
    return out


def _attestation(report: Report, statement_sha256: str | None) -> dict | None:
    signing = report.signing
    if signing is None or statement_sha256 is None:
        return None
    who = ({"identity": signing.identity, "issuer": signing.issuer} if signing.method == "sigstore" else
           {"key_fingerprint": signing.key_fingerprint})  # fmt: skip
    return {"statement_sha256": statement_sha256, "predicate_type": signing.predicate_type, "method": signing.method,
            **who, "signatures": ["release.sig", "report.sig"], "verify": signing.verify_command}  # fmt: skip


def _signed_readme(report: Report, att: dict | None) -> list[str]:
    if att is None or report.signing is None:
        return []
    who = (f"by key `{att['key_fingerprint'][:16]}` (SHA-256 of its public key's DER)" if report.signing.method == "key"
           else f"keyless through sigstore, by `{att['identity']}` (issuer `{att['issuer']}`)")  # fmt: skip
    with_what = "the public key" if report.signing.method == "key" else "network access to sigstore's trust root"
    return [
        "## Verifying the badge",
        "",
        f"This audit is signed {who}: `release.sig`",
        "signs every file of the release, `report.sig` the verdict (`report.json`, `llm360.yaml`); the report",
        f"statement's SHA-256 is `{att['statement_sha256']}`. With the report directory and {with_what}:",
        "",
        "```text",
        att["verify"],
        "```",
        "",
    ]


def _readme(report: Report, badges: list[tuple[str, str, str, str]], att: dict | None = None) -> str:
    (_, l0, m0, _), (_, l1, m1, _) = badges[:2]
    ladder = " → ".join(["closed"] + [name for name, _ in LEVELS])
    criteria = " ".join(f"![{label}: {msg}](badges/{name}.svg)" for name, label, msg, _ in badges[2:])
    return "\n".join([
        "<!-- llm360-audit badges: paste from here into the model card (its README.md) and copy this",
        "     badges/ folder next to it; the image paths are relative to the model card. -->",
        f"![{l0}: {m0}](badges/llm360.svg) ![{l1}: {m1}](badges/verdict.svg)",
        "",
        criteria,
        "",
        f"*Audited with [llm360-audit](https://github.com/llm360-audit/llm360-audit) {report.tool.version} against "
        f"the [LLM360](https://www.llm360.ai/) fully-open spec {report.spec_version}: the release reaches openness "
        f"level **{report.level}** ({ladder}) with verdict **{report.verdict}**"
        + (f"; {report.sample_note()}" if report.sample_note() else "")
        + "; the smaller badges show each criterion's status.*",
        "<!-- llm360-audit badges: end -->",
        "",
        "## Hosting the badges with shields.io",
        "",
        "Each badge also exists as a [shields.io endpoint](https://shields.io/badges/endpoint-badge) file:",
        "`badges/llm360.json`, `badges/verdict.json` and `badges/<criterion>.json`. Publish them at a public",
        "URL (a raw file in the model repository, GitHub Pages, a gist) and use",
        "",
        "```text",
        "https://img.shields.io/endpoint?url=<where you host badges/llm360.json>",
        "```",
        "",
        "(URL-encoded) as the image address, e.g. "
        "`![LLM360](https://img.shields.io/endpoint?url=<where you host badges/llm360.json>)`.",
        "Re-running the audit rewrites the files, so the hosted badges follow the latest audit.",
        "",
        *_signed_readme(report, att),
    ])  # fmt: skip


def render_badges(report: Report, statement_sha256: str | None = None) -> dict[str, str]:
    """Files for the output directory, keyed by relative path (``badges/…``). ``statement_sha256``: the
    digest of the signed report statement (report.sig), carried by llm360.json and README.md."""
    badges = _badges(report)
    att = _attestation(report, statement_sha256)
    files: dict[str, str] = {}
    for name, label, message, color in badges:
        files[f"badges/{name}.svg"] = render_svg(label, message, color, ident=name)
        files[f"badges/{name}.json"] = endpoint_json(label, message, color, att if name == "llm360" else None)
    files["badges/README.md"] = _readme(report, badges, att)
    return files
