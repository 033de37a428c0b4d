"""The PDF's print edition. Practice pages: every indicator outside its expected range or with a live signal
of the practice is given in full (value, 95% interval, cluster, HSCP, Scotland, decile, position), the
others compactly with the practice's and Scotland's figures, and the page says the HTML pack has the full
table. The cluster's comparison with its HSCP, board and Scotland likewise (in full where the cluster is
outside its expected range or signalled, the others with the cluster's and Scotland's figures); what changed
since the last pack lists every change as text. The side-by-side context table keeps the rows of who a practice serves for every practice and gives
the others for the cluster and Scotland. The equity section keeps every figure (other tables, medians as
text). The HTML pack keeps every row of every table."""

from __future__ import annotations

import copy
import io
import re

import pytest
from pack_fixtures import LATEST, OWN_CLUSTER

from gpcluster.packs.render import pdf_unavailable, print_comparison, print_rows

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
    # the comparison: one indicator flagged for the cluster, one (a copy) with a live signal of the cluster, one
    # within range and a context row; HSCP and board figures unlike any other figure in the pack
    rows = {r["indicator_id"]: r for r in content["comparison"]["rows"]}
    flag = {"symbol": FLAGS["low_95"][0], "words": FLAGS["low_95"][1], "code": "low_95"}
    rows["emergency_admission_rate"]["flag"] = flag
    copied = f"{base['indicator_id']}_copy1"
    for indicator_id, figures in ((copied, (11.11, 22.22, 33.33, 44.44)), ("high_risk_prescribing", (8.46, 17.77, 18.88, 8.42)),
                                  ("female_patients", (51.6, 52.22, 53.33, 51.3))):
        row = rows.setdefault(indicator_id, {"indicator_id": indicator_id, "flag": None})
        if row not in content["comparison"]["rows"]:
            content["comparison"]["rows"].append(row)
        for level, value in zip(("cluster", "hscp", "board", "scotland"), figures, strict=True):
            row[level] = {"value": value, "suppressed": False}
    cluster = content["cluster"]
    content["signals"].append({**content["signals"][-1], "signal_id": "cluster-test", "indicator_id": copied,
                               "level": "cluster", "area_code": cluster["id"], "area_name": cluster["name"],
                               "sentence": "A test signal of the cluster."})
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


def test_print_comparison_keeps_the_clusters_flagged_and_signalled_rows_in_full():
    low = {"symbol": "▼", "words": "below what is expected", "code": "low_95"}
    content = {"cluster": {"id": "S1/east"}, "comparison": {"rows": [_row("a"), _row("b", low), _row("c"), _row("d"),
                                                                     _row("e")]},
               "signals": [_signal("S1/east", "c"), _signal("10001", "d"), _signal("S1/east", "e", status="resolved")]}
    full, others = print_comparison(content)
    assert [r["indicator_id"] for r in full] == ["b", "c"]  # flagged; a live signal of the cluster
    assert [r["indicator_id"] for r in others] == ["a", "d", "e"]  # a practice's signal; a resolved one


def _section(text, start, end, after=""):
    """The text from `start` to `end`, both after `after` (in a PDF: the contents list, which names them too)."""
    begin = text.index(start, text.index(after) + len(after))
    return text[begin:text.index(end, begin)]


CONTENTS_END = "Where the figures come from"


def test_the_comparison_gives_flagged_and_signalled_rows_in_full_and_the_others_compactly(pack, pdf_pages):
    from gpcluster.packs.formatting import figure

    content = pack[0]
    section = _section(_pdf_text(pdf_pages), f"The cluster against {content['cluster']['hscp_name']}",
                       "Performance over the last three years" if content["comparison"]["trends"] else "Equity",
                       CONTENTS_END).replace("- ", "-")  # a hyphen at a line's end
    full, others = print_comparison(content)
    assert {r["indicator_id"] for r in full} == {"emergency_admission_rate", f"{pack[3]['indicator_id']}_copy1"}
    table, compact = section[:section.index("none flagged")], section[section.index("none flagged"):]
    for row in full:
        indicator = content["indicators"][row["indicator_id"]]
        assert _title(content, row) in table
        for level in ("cluster", "hscp", "board", "scotland"):
            assert figure(row[level]["value"], indicator) in table, (row["indicator_id"], level)
    assert "below what is expected" in table and "A test signal of the cluster." in _pdf_text(pdf_pages)
    assert f"The other {len(others)} indicators" in section
    for row in others:
        indicator = content["indicators"][row["indicator_id"]]
        assert _title(content, row) in compact, row["indicator_id"]
        assert f"{figure(row['cluster']['value'], indicator)} ({figure(row['scotland']['value'], indicator)})" \
            in compact, row["indicator_id"]
        for level in ("hscp", "board"):  # in the HTML only
            assert figure(row[level]["value"], indicator) not in section, (row["indicator_id"], level)
    assert "the HTML pack has the full table, every indicator for the cluster" in section


def test_the_html_keeps_the_comparison_and_what_changed_as_full_tables(pack):
    from gpcluster.packs.formatting import figure
    from gpcluster.packs.render import render_html

    content, state, *_ = pack
    html = render_html(content, state)
    section = _section(html, 'id="comparison"', "</table>")
    assert section.count('<th scope="row">') == len(content["comparison"]["rows"])
    for row in content["comparison"]["rows"]:
        indicator = content["indicators"][row["indicator_id"]]
        assert all(f">{figure(row[level]['value'], indicator)}<" in section for level in ("hscp", "board"))
    assert "every indicator for the cluster" not in html
    moves = _section(html, "The cluster's figures, this period and last", "</table>")
    assert moves.count('<th scope="row">') == len(content["changes"]["moves"])
    assert "these figures as a table" not in html


def test_what_changed_lists_every_move_of_the_clusters_figures(pack, pdf_pages):
    from gpcluster.packs.formatting import figure, percent_change

    content = pack[0]
    moves = content["changes"]["moves"]
    assert len(moves) >= 2
    section = _section(_pdf_text(pdf_pages), "What changed since the last pack", "Worth discussing",
                       CONTENTS_END).replace("- ", "-")
    for m in moves:
        indicator = content["indicators"][m["indicator_id"]]
        change = f"{figure(m['now'], indicator)}, {figure(m['before'], indicator)}, {percent_change(m['now'], m['before'])}"
        assert change in section and indicator["title"] in section, m["indicator_id"]
    assert "the HTML pack has these figures as a table" in section


def test_the_pdf_keeps_every_provenance_fact(pack, pdf_pages):
    content, state, *_ = pack
    text = _pdf_text(pdf_pages)
    section = text[text.index("Where the figures come from", text.index("Data quality")):]
    prov = content["provenance"]
    assert prov["software"] in section and state["content_hash"][:16] in section.replace(" ", "")
    for d in prov["definitions"]:
        assert f"{d['title']} ({d['indicator_id']}, {d['purpose']}" in section and d["version"] in section
    for f in prov["files"]:
        assert f["source"] in section and f["file_name"] in section and f["sha256"][:12] in section


def test_a_missing_or_suppressed_figure_is_never_called_as_expected(pack):
    """'as expected' only beside a figure the funnel found in range: a missing figure reads '–', a suppressed
    one '*', in the practice's table and in the cluster's comparison."""
    from gpcluster.packs.render import render_html

    content, state, practice, *_ = copy.deepcopy(pack)
    plain = [r for r in practice["rows"] if not r["flag"] and not r["suppressed"] and r["value"] is not None]
    performance = [r for r in content["comparison"]["rows"] if not r["flag"]
                   and content["indicators"][r["indicator_id"]]["purpose"] == "performance"]
    missing, gone, hidden = plain[0], performance[0], performance[1]

    def position(html: str, section: str, indicator_id: str) -> str:
        part = html[html.index(section):]
        title = re.escape(content["indicators"][indicator_id]["title"])
        row = re.search(rf'<th scope="row">{title}.*?</tr>', part, re.S).group(0)
        return re.findall(r"<td[^>]*>([^<]*)</td>", row)[-1]

    own, comparison = f'id="practice-{practice["code"]}"', 'id="comparison"'
    before = render_html(content, state)
    assert position(before, own, missing["indicator_id"]) == "as expected"
    assert position(before, comparison, gone["indicator_id"]) == position(before, comparison,
                                                                          hidden["indicator_id"]) == "as expected"
    missing["value"] = missing["lower95"] = missing["upper95"] = None
    gone["cluster"] = {"value": None, "suppressed": False}
    hidden["cluster"] = {"value": 1.0, "suppressed": True}
    after = render_html(content, state)
    assert position(after, own, missing["indicator_id"]) == "–"
    assert position(after, comparison, gone["indicator_id"]) == "–"
    assert position(after, comparison, hidden["indicator_id"]) == "*"
