"""Charts for packs: Vega-Lite specifications drawn without a browser by vl-convert, as inline SVG for the
HTML pack and as JPEG images for the PDF.

Why images in the PDF: WeasyPrint draws SVG itself, element by element, and a page of scatter points took
it over a minute; an image costs it next to nothing. The image is rasterised from Vega's SVG at 1.5 times
the size, so it stays sharp on paper.

Why trend templates: every cluster's pack has a three-year trend per performance indicator, and all of them
share everything but one line (Scotland's practice centiles and Scotland are the same for every cluster).
Drawing each with Vega cost some 60 ms of processor time, 882 charts for Scotland's 147 clusters: more than
the rest of the packs together. So each indicator's chart is drawn once, with a stand-in for the cluster's
line on an explicit scale, and each pack puts its cluster's line into it with the same linear scale Vega
uses (tests/packs/test_pack_charts.py checks the result against Vega drawing the whole chart). The y axis covers
the centiles, Scotland and the cluster, rounded outwards to round numbers, so most clusters share their
indicator's template and a cluster outside the band gets its own.
"""

from __future__ import annotations

import hashlib
import io
import json
import math
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from datetime import UTC, date, datetime, time

from markupsafe import Markup

from gpcluster.errors import UserError

VEGA_LITE_VERSION = "5.20"  # the vendored vega-lite is 5.23; vl-convert's nearest bundled 5.x
IMAGE_SCALE = 1.5
JPEG_QUALITY = 95
# Vega shortens labels longer than labelLimit by measuring them again and again, which was three quarters
# of the drawing time; the pack's labels are known to fit, so no limit.
STATIC_CONFIG = {"axis": {"labelLimit": 0}, "legend": {"labelLimit": 0}}
_XML_DECLARATION = re.compile(r"^<\?xml[^>]*>\s*")

CHART_WIDTH = 620  # points across an A4 page's text block
TREND_HEIGHT = 180
#: the trend chart's series, in the order Vega gives a nominal scale (alphabetical), so colours are the web's
BAND_SERIES = {"p10": "10th centile", "p90": "90th centile", "p50": "Median practice", "scotland": "Scotland"}
CLUSTER_SERIES = "Your cluster"
_CLUSTER_MARK = "yourcluster"
_CLUSTER_PATH = re.compile(r'(class="mark-line role-mark ' + _CLUSTER_MARK + r'_marks"[^>]*>\s*<path d=")([^"]*)(")')
_TRANSLATE = re.compile(r"translate\(\s*([-\d.e]+)[ ,]+([-\d.e]+)\s*\)")
_SVG = "{http://www.w3.org/2000/svg}"
_TEMPLATES: dict[str, TrendTemplate] = {}
_MAX_TEMPLATES = 512


def _converter():
    try:
        import vl_convert
    except ImportError as exc:  # a dependency: only a broken installation lacks it
        raise UserError("vl-convert-python is not installed; reinstall gpcluster's dependencies") from exc
    return vl_convert


def _draw(spec: dict) -> str:
    return _XML_DECLARATION.sub("", _converter().vegalite_to_svg(spec, vl_version=VEGA_LITE_VERSION,
                                                                 config=STATIC_CONFIG))


def _labelled(drawn: str, label: str) -> Markup:
    """An SVG with a text alternative (role=img and a title)."""
    title = Markup("<title>{}</title>").format(label)
    drawn = drawn.replace("<svg ", '<svg role="img" focusable="false" ', 1)
    head, sep, rest = drawn.partition(">")
    return Markup(head + sep + str(title) + rest)


def svg(spec: dict, label: str) -> Markup:
    """An inline SVG of the chart, with a text alternative (role=img and a title)."""
    return _labelled(_draw(spec), label)


def _image(drawn_svg: str) -> bytes:
    """An SVG drawn by Vega as a JPEG for the PDF (resvg rasterises it; Vega does not run again). JPEG
    because WeasyPrint embeds a JPEG as it is, whereas it decodes and compresses a PNG again in every PDF
    (a fifth of writing one); at the highest quality without colour subsampling, lines and labels stay crisp."""
    from PIL import Image

    image = Image.open(io.BytesIO(_converter().svg_to_png(str(drawn_svg), scale=IMAGE_SCALE)))
    flat = Image.new("RGB", image.size, "white")
    flat.paste(image, mask=image.getchannel("A") if image.mode == "RGBA" else None)
    out = io.BytesIO()
    flat.save(out, format="JPEG", quality=JPEG_QUALITY, subsampling=0)
    return out.getvalue()


# Trend charts -----------------------------------------------------------------------------------------------

def _tick_step(lo: float, hi: float, count: int) -> float:
    """d3's tick increment: a round step (1, 2 or 5 times a power of ten) giving about `count` ticks."""
    step = (hi - lo) / count
    power = math.floor(math.log10(step))
    error = step / 10 ** power
    factor = 10 if error >= math.sqrt(50) else 5 if error >= math.sqrt(10) else 2 if error >= math.sqrt(2) else 1
    return factor * 10 ** power


def nice_domain(values, count: int = 5) -> tuple[float, float]:
    """The smallest range holding every value whose ends are multiples of a round step (1, 2 or 5 times a
    power of ten, for about `count` ticks: d3's tick increment, as Vega rounds a linear axis)."""
    finite = [float(v) for v in values if v is not None and math.isfinite(float(v))]
    if not finite:
        return 0.0, 1.0
    lo, hi = min(finite), max(finite)
    if hi == lo:
        pad = abs(lo) * 0.1 or 1.0
        lo, hi = lo - pad, hi + pad
    for _ in range(2):
        step = _tick_step(lo, hi, count)
        lo, hi = math.floor(lo / step) * step, math.ceil(hi / step) * step
    return float(f"{lo:.12g}"), float(f"{hi:.12g}")


def _epoch_ms(period: str) -> float:
    """A period as Vega reads an ISO date (midnight UTC), in milliseconds."""
    day = date.fromisoformat(period[:10])
    return datetime.combine(day, time(), tzinfo=UTC).timestamp() * 1000


def trend_spec(title: str, unit: str, periods: list[str], band: dict[str, list], domain: tuple[float, float],
               cluster: list | None = None) -> dict:
    """The trend chart: Scotland's practice centiles and Scotland as one layer, the cluster as a named line
    on fixed scales. Without `cluster`, the stand-in line that a template carries (corner to corner)."""
    x = {"field": "period", "type": "temporal", "title": "Period",
         "scale": {"domain": [periods[0], periods[-1]], "nice": False},
         "axis": {"format": "%b %Y", "labelAngle": 0, "tickCount": {"interval": "month", "step": 6}}}
    y = {"field": "value", "type": "quantitative", "title": unit,
         "scale": {"domain": list(domain), "nice": False, "zero": False}}
    names = [*BAND_SERIES.values(), CLUSTER_SERIES]
    series = {"color": {"field": "series", "type": "nominal", "title": "Series", "scale": {"domain": names}},
              "strokeDash": {"field": "series", "type": "nominal", "title": "Series", "scale": {"domain": names}}}
    band_rows = [{"period": p, "series": name, "value": values[n]}
                 for key, name in BAND_SERIES.items() for values in [band[key]]
                 for n, p in enumerate(periods) if values[n] is not None]
    if cluster is None:
        own = [{"period": periods[0], "value": domain[0]}, {"period": periods[-1], "value": domain[1]}]
    else:
        own = [{"period": p, "value": v} for p, v in zip(periods, cluster, strict=True) if v is not None]
    return {"width": CHART_WIDTH, "height": TREND_HEIGHT,
            "config": {"font": "Arial, sans-serif", "aria": False,
                       "axis": {"labelFontSize": 12, "titleFontSize": 13},
                       "legend": {"labelFontSize": 12, "titleFontSize": 12}},
            "title": f"{title}: spread of practices over time",
            "description": f"{title}: 10th, 50th and 90th centiles of practices over time",
            "layer": [{"data": {"values": band_rows}, "mark": {"type": "line"},
                       "encoding": {"x": x, "y": y, **series}},
                      {"name": _CLUSTER_MARK, "data": {"values": own}, "mark": {"type": "line"},
                       "encoding": {"x": x, "y": y, "color": {"datum": CLUSTER_SERIES},
                                    "strokeDash": {"datum": CLUSTER_SERIES}}}]}


def _number(value: float) -> str:
    text = f"{value:.2f}".rstrip("0").rstrip(".")
    return "0" if text == "-0" else text


@dataclass
class TrendTemplate:
    """One indicator's trend chart drawn once: the SVG with its stand-in line, where that line sits and how it
    is drawn (for the PDF's overlay), and the chart as an image without the line (drawn when first asked)."""

    svg: str
    periods: list[str]
    domain: tuple[float, float]
    offset: tuple[float, float]  # the plot area's position in the SVG
    size: tuple[float, float]  # the SVG's width and height
    stroke: dict[str, str]
    key: str
    _image: bytes | None = None

    def path(self, cluster: list) -> str:
        """The cluster's line in the plot area's coordinates (Vega's linear scales on the fixed domains;
        a missing quarter is skipped, as Vega joins the quarters either side)."""
        t0, t1 = _epoch_ms(self.periods[0]), _epoch_ms(self.periods[-1])
        lo, hi = self.domain
        points = []
        for period, value in zip(self.periods, cluster, strict=True):
            if value is None:
                continue
            x = CHART_WIDTH * (_epoch_ms(period) - t0) / (t1 - t0) if t1 > t0 else 0.0
            y = TREND_HEIGHT * (hi - float(value)) / (hi - lo)
            points.append(f"{_number(x)},{_number(y)}")
        return ("M" + "L".join(points)) if points else ""

    def with_line(self, cluster: list) -> str:
        return _CLUSTER_PATH.sub(lambda m: m[1] + self.path(cluster) + m[3], self.svg, count=1)

    def image(self) -> bytes:
        if self._image is None:
            self._image = _image(_CLUSTER_PATH.sub(lambda m: m[1] + m[3], self.svg, count=1))
        return self._image

    def overlay(self, cluster: list) -> str:
        """The cluster's line alone, as an SVG the size of the chart, to lay over the image."""
        width, height = self.size
        attributes = " ".join(f'{k}="{v}"' for k, v in self.stroke.items())
        return (f'<svg xmlns="http://www.w3.org/2000/svg" class="overlay" viewBox="0 0 {_number(width)} '
                f'{_number(height)}" aria-hidden="true"><path transform="translate({_number(self.offset[0])},'
                f'{_number(self.offset[1])})" fill="none" {attributes} d="{self.path(cluster)}"/></svg>')


def _template(title: str, unit: str, periods: list[str], band: dict[str, list], domain) -> TrendTemplate:
    spec = trend_spec(title, unit, periods, band, domain)
    key = hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()[:24]
    if key in _TEMPLATES:
        return _TEMPLATES[key]
    drawn = _draw(spec)
    if len(_CLUSTER_PATH.findall(drawn)) != 1:
        raise RuntimeError("the trend chart's cluster line is not where the pack expects it (vl-convert changed?)")
    root = ET.fromstring(drawn)
    width, height = float(root.get("width")), float(root.get("height"))
    offset, stroke = _line_position(root)
    if len(_TEMPLATES) >= _MAX_TEMPLATES:
        _TEMPLATES.clear()
    template = _TEMPLATES[key] = TrendTemplate(drawn, periods, tuple(domain), offset, (width, height), stroke, key)
    return template


def _line_position(root: ET.Element) -> tuple[tuple[float, float], dict[str, str]]:
    """Where the cluster's line is drawn (the sum of its groups' translations) and its stroke attributes."""

    def walk(element, x, y):
        move = _TRANSLATE.search(element.get("transform", ""))
        if move:
            x, y = x + float(move[1]), y + float(move[2])
        if element.tag == f"{_SVG}g" and f"{_CLUSTER_MARK}_marks" in element.get("class", "").split():
            path = element.find(f"{_SVG}path")
            keep = ("stroke", "stroke-width", "stroke-dasharray", "stroke-opacity", "opacity")
            return (x, y), {k: path.get(k) for k in keep if path.get(k) is not None}
        for child in element:
            found = walk(child, x, y)
            if found:
                return found
        return None

    found = walk(root, 0.0, 0.0)
    if found is None:
        raise RuntimeError("the trend chart's cluster line is missing (vl-convert changed?)")
    return found


def trend_template(indicator: dict, trend: dict) -> TrendTemplate:
    """The indicator's trend chart for this cluster's scale, drawn once per process and scale."""
    band = trend["band"]
    values = [v for key in BAND_SERIES for v in band[key]] + list(trend["cluster"])
    return _template(indicator["title"], indicator["unit"], trend["periods"], band, nice_domain(values))


class Drawing:
    """The charts of one pack, each drawn once: as SVG for the HTML, then as images for the PDF. `images`
    holds the images the PDF refers to (served to WeasyPrint by gpcluster.packs.render)."""

    def __init__(self) -> None:
        self._svg: dict[int, Markup] = {}
        self.images: dict[str, bytes] = {}

    def svg(self, spec: dict, label: str) -> Markup:
        key = id(spec)  # the content dict lives as long as the rendering: its specs are stable objects
        if key not in self._svg:
            self._svg[key] = svg(spec, label)
        return self._svg[key]

    def image(self, spec: dict, label: str) -> str:
        """A chart:// address of the chart as an image."""
        image = _image(self.svg(spec, label))
        url = f"chart://{hashlib.sha256(image).hexdigest()[:24]}.jpg"
        self.images[url] = image
        return url

    def trend_svg(self, indicator: dict, trend: dict, label: str) -> Markup:
        return _labelled(trend_template(indicator, trend).with_line(trend["cluster"]), label)

    def trend_pdf(self, indicator: dict, trend: dict) -> tuple[str, Markup]:
        """A chart:// address of the indicator's chart without the cluster's line (the same for every pack
        with the template, so WeasyPrint's image cache keeps it), and the line as an SVG to lay over it."""
        template = trend_template(indicator, trend)
        url = f"chart://trend-{template.key}.jpg"
        self.images[url] = template.image()
        return url, Markup(template.overlay(trend["cluster"]))
