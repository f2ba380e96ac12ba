"""Small pieces of markup the report sections share: escaping, pills, code, notes, figures."""

from __future__ import annotations

import re
from html import escape

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
#: status → pill colour class.
TONE = {
    "pass": "good", "fail": "bad", "partial": "warn", "skipped": "muted",
    "bit-exact": "good", "within-tolerance": "warn", "mismatch": "bad", "error": "bad",
    "warning": "warn", "info": "info", "consistent": "good", "inconsistent": "bad", "inconclusive": "warn",
}  # fmt: skip
#: What an absent value shows.
DASH = '<span class="muted">—</span>'


def esc(value: object) -> str:
    """Any value as escaped text (the release's strings are untrusted)."""
    return escape(str(value), quote=True)


def prose(text: object) -> str:
    """Escaped text, with `backticked` spans (commands, file names) set as code."""
    return re.sub(r"`([^`]+)`", r"<code>\1</code>", esc(text))


def plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def human_key(key: str) -> str:
    return str(key).replace("_", " ")


def pill(text: str, tone: str | None = None) -> str:
    """A status as a coloured pill (its tone from the status unless given)."""
    return f'<span class="pill {TONE.get(text, "muted") if tone is None else tone}">{esc(text)}</span>'


def code(text: object) -> str:
    return f"<code>{esc(text)}</code>"


def not_available(text: str) -> str:
    """The note standing in for a part of the evidence the report does not hold."""
    return f'<p class="na">{esc(text)}</p>'


def figure(svg: str, caption: str = "") -> str:
    """A chart in a card, with its caption (markup) below."""
    cap = f"<figcaption>{caption}</figcaption>" if caption else ""
    return f'<figure class="card chart-card">{svg}{cap}</figure>'


def meta_item(term: str, value: str) -> str:
    """One ``term: value`` pair of a meta line (``value`` is markup)."""
    return f"<div><dt>{term}</dt><dd>{value}</dd></div>"
