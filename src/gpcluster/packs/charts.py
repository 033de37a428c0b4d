"""Charts for packs: the web app's Vega-Lite specifications (gpcluster.web.charts) drawn without a browser
by vl-convert, as inline SVG for the HTML pack and as PNG images for the PDF.

Why PNG in the PDF: WeasyPrint draws SVG itself, element by element, and a page of scatter points took it
over a minute; an image costs it nothing. The PNG is drawn by the same renderer at twice the size, so it
stays sharp on paper.
"""

from __future__ import annotations

import base64
import re

from markupsafe import Markup

from gpcluster.errors import UserError

VEGA_LITE_VERSION = "5.20"  # the vendored vega-lite is 5.23; vl-convert's nearest bundled 5.x
PNG_SCALE = 1.5
# Vega shortens labels longer than labelLimit by measuring them again and again, which was three quarters
# of the drawing time; the pack's labels are known to fit, so no limit.
STATIC_CONFIG = {"axis": {"labelLimit": 0}, "legend": {"labelLimit": 0}}
_XML_DECLARATION = re.compile(r"^<\?xml[^>]*>\s*")


def _converter():
    try:
        import vl_convert
    except ImportError as exc:  # a dependency: only a broken installation lacks it
        raise UserError("vl-convert-python is not installed; reinstall gpcluster's dependencies") from exc
    return vl_convert


def svg(spec: dict, label: str) -> Markup:
    """An inline SVG of the chart, with a text alternative (role=img and a title)."""
    drawn = _converter().vegalite_to_svg(spec, vl_version=VEGA_LITE_VERSION, config=STATIC_CONFIG)
    drawn = _XML_DECLARATION.sub("", drawn)
    title = Markup("<title>{}</title>").format(label)
    drawn = drawn.replace("<svg ", '<svg role="img" focusable="false" ', 1)
    head, sep, rest = drawn.partition(">")
    return Markup(head + sep + str(title) + rest)


def png_data_uri(drawn_svg: str) -> str:
    """An SVG drawn by `svg` as a PNG data: URI, for the PDF (resvg rasterises it; Vega does not run again)."""
    image = _converter().svg_to_png(str(drawn_svg), scale=PNG_SCALE)
    return "data:image/png;base64," + base64.b64encode(image).decode("ascii")


class Drawing:
    """The charts of one pack, each drawn once: as SVG for the HTML, then rasterised for the PDF."""

    def __init__(self) -> None:
        self._svg: dict[int, Markup] = {}

    def svg(self, spec: dict, label: str) -> Markup:
        key = id(spec)  # the content dict lives as long as the rendering: its specs are stable objects
        if key not in self._svg:
            self._svg[key] = svg(spec, label)
        return self._svg[key]

    def png(self, spec: dict, label: str) -> str:
        return png_data_uri(self.svg(spec, label))
