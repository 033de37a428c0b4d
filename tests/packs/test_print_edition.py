"""The PDF's print edition. Practice pages: every indicator outside its expected range or with a live signal
of the practice is given in full (value, 95% interval, cluster, HSCP, Scotland, decile, position), the
others compactly with the practice's and Scotland's figures, and the page says the HTML pack has the full
table. The side-by-side context table keeps the rows of who a practice serves for every practice and gives
the others for the cluster and Scotland. The equity section keeps every figure (other tables, medians as
text). The HTML pack keeps every row of every table."""

from __future__ import annotations

import copy
import io
import re

import pytest
from pack_fixtures import LATEST, OWN_CLUSTER

from gpcluster.packs.render import pdf_unavailable, print_rows

PDF_REASON = pdf_unavailable()
POINTER = "the HTML pack has this practice's full table"


def _row(indicator_id, flag=None):
    return {"indicator_id": indicator_id, "flag": flag, "value": 1.0}


def _signal(code, indicator_id, status="new"):
    return {"area_code": code, "indicator_id": indicator_id, "status": status}


def test_print_rows_keeps_flagged_and_signalled_rows_in_full():
    high = {"symbol": "▲", "words": "above what is expected", "code": "high_95"}
    practice = {"code": "10001", "rows": [_row("a"), _row("b", high), _row("c"), _row("d"), _row("e")]}
    signals = [_signal("10001", "c"), _signal("10002", "d"), _signal("10001", "e", status="resolved")]
    full, others = print_rows(practice, signals)
    assert [r["indicator_id"] for r in full] == ["b", "c"]  # flagged; a live signal of this practice
    assert [r["indicator_id"] for r in others] == ["a", "d", "e"]  # another practice's signal; a resolved one


@pytest.fixture(scope="module")
def pack(loop_warehouse):
    """The fixture cluster's content with one practice's row flagged and another of its indicators
    signalled (the fixture's own figures are all within range), and the loop part to render it with."""
    from gpcluster.packs.content import FLAGS, build_content, content_hash
    from gpcluster.packs.loop import snapshot
    from gpcluster.packs.source import PackSource
    from gpcluster.web.data import WebData

    data = WebData(loop_warehouse)
    try:
        content = copy.deepcopy(build_content(PackSource.open(data, LATEST), OWN_CLUSTER))
    finally:
        data.close()
    practice = content["practices"][0]
    # the fixture has two performance indicators: two more (copies of one with other figures and titles)
    base = next(r for r in practice["rows"] if r["lower95"] is not None and not r["suppressed"])
    for n, scale in ((1, 1.5), (2, 0.5)):
        indicator_id = f"{base['indicator_id']}_copy{n}"
        content["indicators"][indicator_id] = {**content["indicators"][base["indicator_id"]],
                                               "id": indicator_id, "title": f"Copied indicator {n}"}
        practice["rows"].append({**base, "indicator_id": indicator_id, "flag": None,
                                 **{k: base[k] * scale for k in ("value", "lower95", "upper95", "scotland")}})
    flagged = next(r for r in practice["rows"] if r["lower95"] is not None and not r["suppressed"])
    flagged["flag"] = {"symbol": FLAGS["high_998"][0], "words": FLAGS["high_998"][1], "code": "high_998"}
    signalled = next(r for r in practice["rows"] if r is not flagged and not r["flag"])
    content["signals"] = [s for s in content["signals"] if s["area_code"] != practice["code"]] + [{
        "signal_id": "test", "indicator_id": signalled["indicator_id"], "title": "t", "level": "practice",
        "area_code": practice["code"], "area_name": practice["name"], "status": "new", "direction": "high",
        "concern": "worse", "evidence": "level", "persistence": 1, "worth_discussing": False,
        "rank_in_cluster": 1, "sentence": "A test signal's sentence.", "method": "m", "since_words": "",
        "chart": None}]
    # the fixture loads no context indicators: one the PDF keeps side by side, one it gives for the cluster only
    n = len(content["practices"])
    for indicator_id, title, unit, values, cluster, scotland in (
            ("list_size", "Registered list size", "patients", [4711.0 + k for k in range(n)], 30123.0, 5945406.0),
            ("female_patients", "Female patients", "%", [47.3 + k / 10 for k in range(n)], 51.6, 51.3)):
        content["indicators"][indicator_id] = {"id": indicator_id, "title": title, "unit": unit,
                                               "measure_type": "count" if unit == "patients" else "percentage",
                                               "purpose": "context", "polarity": None, "synthetic": True}
        content["context"]["rows"].append({
            "indicator_id": indicator_id, "practices": [{"value": v, "suppressed": False} for v in values],
            "cluster": {"value": cluster, "suppressed": False}, "scotland": {"value": scotland, "suppressed": False}})
    state = snapshot(None, content, as_of=LATEST, content_hash=content_hash(content))
    return content, state, practice, flagged, signalled


def _page_texts(pdf: bytes) -> list[str]:
    from pypdf import PdfReader

    return [re.sub(r"\s+", " ", page.extract_text() or "") for page in PdfReader(io.BytesIO(pdf)).pages]


def _practice_page(pages: list[str], practice: dict) -> str:
    [page] = [p for p in pages if f"{practice['name']} {practice['code']}" in p]
    return page


@pytest.fixture(scope="module")
def pdf_pages(pack):
    if PDF_REASON:
        pytest.skip(f"PDF packs cannot be made here: {PDF_REASON}")
    from gpcluster.packs.render import render_pdf

    content, state, *_ = pack
    return _page_texts(render_pdf(content, state))


def _title(content, row):
    return content["indicators"][row["indicator_id"]]["title"]


def test_a_flagged_indicator_is_in_full_on_its_practice_page(pack, pdf_pages):
    from gpcluster.packs.formatting import figure

    content, _, practice, flagged, signalled = pack
    page = _practice_page(pdf_pages, practice)
    table = page[:page.index("performance indicator")]  # the full table comes before the compact list
    indicator = content["indicators"][flagged["indicator_id"]]
    interval = f"{figure(flagged['lower95'], indicator)} to {figure(flagged['upper95'], indicator)}"
    assert _title(content, flagged) in table and interval in table and "far above what is expected" in table
    assert figure(flagged["scotland"], indicator) in table and figure(flagged["cluster"], indicator) in table
    # the signalled indicator too, and the signal's sentence
    assert _title(content, signalled) in table and "A test signal's sentence." in page


def test_the_other_indicators_are_listed_compactly_with_their_figures(pack, pdf_pages):
    from gpcluster.packs.formatting import figure

    content, _, practice, flagged, signalled = pack
    page = _practice_page(pdf_pages, practice)
    compact = page[page.index("performance indicator"):]
    others = [r for r in practice["rows"] if r is not flagged and r is not signalled]
    assert others
    for row in others:
        indicator = content["indicators"][row["indicator_id"]]
        value = figure(row["value"], indicator, row["suppressed"])
        assert f"{value} ({figure(row['scotland'], indicator)})" in compact, row["indicator_id"]
        assert _title(content, row) in compact
    # no interval of an in-range row in print (the HTML has them)
    row = next(r for r in others if r["lower95"] is not None and not r["suppressed"])
    indicator = content["indicators"][row["indicator_id"]]
    assert f"{figure(row['lower95'], indicator)} to {figure(row['upper95'], indicator)}" not in page


def test_every_practice_page_points_to_the_full_html_table(pack, pdf_pages):
    content = pack[0]
    for practice in content["practices"]:
        assert POINTER in _practice_page(pdf_pages, practice), practice["code"]


def test_the_html_pack_keeps_every_row_in_full(pack):
    from gpcluster.packs.formatting import figure
    from gpcluster.packs.render import render_html

    content, state, practice, *_ = pack
    html = render_html(content, state)
    page = html[html.index(f'id="practice-{practice["code"]}"'):]
    page = page[:page.index("</section>")]
    assert POINTER not in html and 'class="compact"' not in page
    assert page.count('<th scope="row">') == len(practice["rows"])
    for row in practice["rows"]:
        if row["lower95"] is not None and not row["suppressed"]:
            indicator = content["indicators"][row["indicator_id"]]
            assert f"{figure(row['lower95'], indicator)} to {figure(row['upper95'], indicator)}" in page


def _pdf_text(pdf_pages):
    return " ".join(pdf_pages)


def test_the_context_table_keeps_the_practices_rows_and_lists_the_others(pack, pdf_pages):
    content = pack[0]
    text = _pdf_text(pdf_pages)
    section = text[text.index("Who each practice serves"):text.index(f"{content['practices'][0]['name']} "
                                                                       f"{content['practices'][0]['code']}")]
    rows = {r["indicator_id"]: r for r in content["context"]["rows"]}
    assert all(f"{4711 + k:,}" in section for k in range(len(content["practices"])))  # list size, each practice
    assert "30,123" in section and "5,945,406" in section
    assert all(f"{47.3 + k / 10:.1f}" not in section for k in range(len(content["practices"])))
    assert "Female patients (%) 51.6 (51.3)" in section and "Registered list size (patients)" not in section
    assert "the HTML pack has every context figure of every practice side by side" in section
    assert rows["female_patients"]["cluster"]["value"] == 51.6  # the figures the checks above look for


def test_the_html_context_table_has_every_practice_figure(pack):
    from gpcluster.packs.render import render_html

    content, state, *_ = pack
    html = render_html(content, state)
    assert all(f">{47.3 + k / 10:.1f}<" in html for k in range(len(content["practices"])))
    assert "every context figure of every practice" not in html


def test_the_equity_section_keeps_every_figure(pack, pdf_pages):
    from gpcluster.packs.formatting import figure

    content = pack[0]
    text = _pdf_text(pdf_pages)
    start = text.index("Each practice against practices like it")
    section = text[start:text.index("Data quality", start)]
    for practice in content["equity"]["practices"]:
        for x in practice["cells"]:
            indicator = content["indicators"][x["indicator_id"]]
            triple = " / ".join(figure(v, indicator, s) for v, s in (
                (x["value"], x["suppressed"]), (x["simd_median"], False), (x["rural_median"], False)))
            assert triple in section, (practice["code"], x["indicator_id"])
    for r in content["equity"]["reference"]:
        indicator = content["indicators"][r["indicator_id"]]
        for medians in (r["simd"], r["rural"]):
            assert "; ".join(figure(v, indicator) for v in medians) in section, r["indicator_id"]
