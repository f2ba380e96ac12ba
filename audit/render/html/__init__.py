"""report.html: one self-contained page to publish as a model's transparency report.

A pure function of the report, like the Markdown formatter: inline CSS and inline SVG, no scripts,
no fonts, images or style sheets from anywhere. Every string taken from the report is escaped — names,
messages and paths come from the release, which is untrusted. Any part of the evidence may be absent
(a broken release): that part says "not available" and the rest of the page still renders.

The modules: ``page`` (the document, its style sheet and table of contents), one per section
(``header``, ``criteria``, ``plots`` with ``mixture``, ``replay`` with ``tensors``, ``findings``), and
the pieces they share (``markup``: escaping and small fragments; ``values``: evidence values).
"""

from __future__ import annotations

from audit.render.html.page import render_html

__all__ = ["render_html"]
