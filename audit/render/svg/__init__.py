"""Small, dependency-free SVG charts for the HTML report.

Every function returns an SVG string: inline-ready (no ``xmlns`` unless ``standalone=True``), with no
scripts, no external fonts and no references to anything outside the string. All text is escaped:
series and category names come from the release, which is untrusted. Non-finite values (NaN, ±inf)
and malformed points are skipped; empty input draws an empty frame with a "no data" note.

The modules: ``numbers`` (number formatting), ``ticks`` (axis ticks and their labels), ``frame``
(the SVG element, title and legend shared by the charts), ``line`` (also scatter plots), ``bar`` and
``heatmap`` (the charts).
"""

from __future__ import annotations

from audit.render.svg.bar import bar_chart
from audit.render.svg.frame import PALETTE
from audit.render.svg.heatmap import heatmap
from audit.render.svg.line import line_chart
from audit.render.svg.numbers import format_number
from audit.render.svg.ticks import log_ticks, nice_ticks

__all__ = ["PALETTE", "bar_chart", "format_number", "heatmap", "line_chart", "nice_ticks", "log_ticks"]
