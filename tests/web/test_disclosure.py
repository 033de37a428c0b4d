"""Suppressed small numbers never appear: not as numerator, value or interval, on any output path."""

from __future__ import annotations

import json
import re

from test_access import collect
from warehouse_fixture import PERIODS, PRACTICES

from conftest import login, make_store

# 10003: 3 emergency admissions over 4,321 patients; 70002: 4 over 3,777 (threshold 5 suppresses both)
SMALL_VALUES = {"10003": 3 / 4321 * 1000, "70002": 4 / 3777 * 1000}


def _traces(value: float) -> list[re.Pattern]:
    """How a value could be written: full precision, or rounded to 1-4 decimals, as a whole number."""
    forms = {repr(value), *(f"{value:.{d}f}" for d in (1, 2, 3, 4))}
    return [re.compile(r"(?<![\d.])" + re.escape(f) + r"(?!\d)") for f in forms]


def test_small_counts_never_appear_in_any_output(app, client_for):
    bodies = collect(client_for("national"), app, "national")
    for code, value in SMALL_VALUES.items():
        for trace in _traces(value):
            hits = [url for url, text in bodies.items() if trace.search(text)]
            assert not hits, (code, trace.pattern, hits[:5])


def test_the_same_sweep_finds_them_when_the_threshold_allows(warehouse_file, tmp_path, monkeypatch):
    """An app started with the threshold lowered to 2 releases the values: the sweep above can fail."""
    from fastapi.testclient import TestClient

    from gpcluster import config
    from gpcluster.web import create_app

    monkeypatch.setenv("GPCLUSTER_DISCLOSURE_THRESHOLD", "2")
    config.clear_cache()
    with TestClient(create_app(warehouse_file, store=make_store(tmp_path)), base_url="http://testserver") as client:
        assert login(client, "national").status_code == 303
        body = client.get("/api/tables/practice?key=10003").text
    assert repr(SMALL_VALUES["10003"]) in body


def test_api_marks_suppressed_rows_with_nulls(client_for):
    rows = json.loads(client_for("national").get("/api/tables/practice?key=10003").text)["rows"]
    latest = [r for r in rows if r["indicator_id"] == "emergency_admission_rate"
              and r["period"] == PERIODS[-1].isoformat()]
    assert len(latest) == 1
    row = latest[0]
    assert row["suppressed"] is True
    for column in ("numerator", "value", "lower95", "upper95", "lower998", "upper998", "national_rank"):
        assert row[column] is None, column
    assert row["denominator"] == 4321  # the list size is not a small count and stays


def test_cluster_page_shows_marker_for_suppressed_cell(client_for):
    page = client_for("cql").get("/clusters/S37000007/dundee-east").text
    acorn_row = page.split(PRACTICES["10003"][0])[1].split("</tr>")[0]
    cells = [c.split("<")[0].strip() for c in acorn_row.split('<td class="num')[1:]]
    assert cells[0].endswith("*"), cells  # emergency admissions: suppressed
    assert cells[1] != "*"  # high-risk prescribing: a normal figure


def test_csv_download_blanks_suppressed_values(client_for):
    import csv
    import io

    text = client_for("cql").get("/download/practice.csv?key=10003").text
    rows = list(csv.DictReader(io.StringIO(text)))
    latest = [r for r in rows if r["indicator_id"] == "emergency_admission_rate" and r["period"] == "2024-10-01"][0]
    assert latest["numerator"] == latest["value"] == latest["upper95"] == ""
    assert latest["suppressed"] == "True" and latest["synthetic"] == "True"


def test_suppressed_count_cannot_be_recovered_from_the_cluster_total(client_for):
    """Dundee East, Oct 2024: Acorn's 3 admissions are suppressed. Without a complement, the cluster's
    372 minus Alpha's 186 and Amber's 183 would give 3 back; the smallest visible practice (Amber, 183)
    is suppressed too, so only the sum 186 of two unknowns can be derived."""
    import csv
    import io

    text = client_for("cql").get("/download/cluster.csv?key=S37000007/dundee-east").text
    rows = [r for r in csv.DictReader(io.StringIO(text)) if r["indicator_id"] == "emergency_admission_rate"]
    by_area = {r["area_code"]: r for r in rows}
    assert by_area["S37000007/dundee-east"]["numerator"] == "372.0"
    assert by_area["10001"]["numerator"] == "186.0"
    assert by_area["10003"]["numerator"] == "" and by_area["10003"]["suppressed"] == "True"
    assert by_area["10002"]["numerator"] == "" and by_area["10002"]["suppressed"] == "True"
    assert by_area["10002"]["value"] == ""  # a crude rate would give the count back
