"""Trend charts drawn from a template: the cluster's line put into an indicator's chart drawn once must lie
exactly where Vega draws it when it draws the whole chart itself; the axis covers every value."""

from __future__ import annotations

import math
import re

import pytest

from gpcluster.packs import charts

PERIODS = ["2022-04-01", "2022-07-01", "2022-10-01", "2023-01-01", "2023-04-01", "2023-07-01", "2023-10-01",
           "2024-01-01", "2024-04-01", "2024-07-01", "2024-10-01", "2025-01-01"]
BAND = {"p10": [21.7, 21.3, 22.4, 24.2, 21.4, 21.1, 22.2, 24.3, 21.5, 21.1, 22.6, 24.2],
        "p50": [27.9, 27.2, 28.6, 30.6, 27.6, 27.4, 28.7, 30.8, 28.0, 27.4, 29.2, 31.3],
        "p90": [36.2, 35.6, 36.8, 40.7, 36.0, 36.1, 37.4, 40.5, 35.5, 35.6, 37.6, 40.5],
        "scotland": [28.4, 27.9, 29.2, 31.6, 28.3, 28.1, 29.3, 31.7, 28.5, 28.0, 29.4, 31.8]}
INDICATOR = {"title": "Emergency admissions per 1,000 patients", "unit": "per 1,000 patients per quarter"}
_PATH = re.compile(r'class="mark-line role-mark yourcluster_marks"[^>]*>\s*<path d="([^"]*)"')


def _points(d: str) -> list[tuple[float, float]]:
    return [(float(x), float(y)) for x, y in re.findall(r"([-\d.e]+),([-\d.e]+)", d)]


@pytest.mark.parametrize("cluster", [
    [35.1, 32.9, 35.0, 38.3, 36.0, 36.0, 36.6, 41.3, 35.4, 35.6, 36.0, 40.8],  # inside the band
    [35.1, None, 35.0, 38.3, None, 36.0, 36.6, 41.3, 35.4, 35.6, 36.0, 52.4],  # gaps, and above the band
    [12.5, 14.0, 15.5, 17.0, 18.5, 20.0, 21.5, 23.0, 24.5, 26.0, 27.5, 29.0],  # below it
])
def test_the_line_lies_where_vega_draws_it(cluster):
    trend = {"indicator_id": "emergency_admission_rate", "periods": PERIODS, "band": BAND, "cluster": cluster}
    template = charts.trend_template(INDICATOR, trend)
    ours = _points(_PATH.search(template.with_line(cluster))[1])
    # Vega drawing the same chart with the cluster's own values
    spec = charts.trend_spec(INDICATOR["title"], INDICATOR["unit"], PERIODS, BAND, template.domain, cluster)
    vega = _points(_PATH.search(charts._draw(spec))[1])
    assert len(ours) == len(vega) == sum(v is not None for v in cluster)
    for (x1, y1), (x2, y2) in zip(ours, vega, strict=True):
        assert abs(x1 - x2) < 0.02 and abs(y1 - y2) < 0.02
    # the line's own values are on the axis, so nothing is drawn outside the plot
    lo, hi = template.domain
    assert lo <= min(v for v in cluster if v is not None) and hi >= max(v for v in cluster if v is not None)
    assert all(0 <= y <= charts.TREND_HEIGHT for _, y in ours)


def test_clusters_inside_the_band_share_one_drawing():
    inside = {"indicator_id": "x", "periods": PERIODS, "band": BAND, "cluster": [30.0] * 12}
    also_inside = {**inside, "cluster": [25.0] * 12}
    outside = {**inside, "cluster": [30.0] * 11 + [60.0]}
    first, second = charts.trend_template(INDICATOR, inside), charts.trend_template(INDICATOR, also_inside)
    assert first is second
    assert charts.trend_template(INDICATOR, outside) is not first
    svg = first.with_line(inside["cluster"])
    assert svg.count("<path") == first.svg.count("<path")  # the line replaced the stand-in, nothing added


def test_the_pdf_overlay_sits_on_the_plot():
    trend = {"indicator_id": "x", "periods": PERIODS, "band": BAND, "cluster": [30.0] * 12}
    template = charts.trend_template(INDICATOR, trend)
    overlay = template.overlay(trend["cluster"])
    # the plot area's offset is the translation of Vega's root group (its padding and axis width)
    root = re.search(r'<g[^>]*transform="translate\(([-\d.]+),([-\d.]+)\)"', template.svg)
    assert f'translate({float(root[1]):g},{float(root[2]):g})' in overlay
    width, height = template.size
    assert f'viewBox="0 0 {width:g} {height:g}"' in overlay
    assert 'stroke-dasharray="' in overlay and "<text" not in overlay


@pytest.mark.parametrize(("values", "expected"), [
    ([21.3, 44.8], (20.0, 45.0)),  # step 5
    ([903.0, 1497.0], (900.0, 1500.0)),  # step 100
    ([0.123, 0.871], (0.0, 1.0)),  # step 0.2
    ([-3.2, 7.9], (-4.0, 8.0)),  # step 2
    ([5.0, 5.0], (4.4, 5.6)),  # one value: a tenth either side (4.5 to 5.5), then round steps of 0.2
    ([None, math.nan], (0.0, 1.0)),  # nothing to show
])
def test_nice_domain(values, expected):
    assert charts.nice_domain(values) == pytest.approx(expected)
