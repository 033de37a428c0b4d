"""`gpcluster sync --dataset prescriptions`: only the prescriber-location months are downloaded (the
dataset also holds dispenser-location and board files), against recorded portal responses."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import httpx

from gpcluster.sources.ckan import CkanClient
from gpcluster.sources.sync import sync
from gpcluster.warehouse import load_paths, open_warehouse

RECORDED = Path(__file__).parents[1] / "sources" / "recorded"
BASE = "https://portal.test"
DATASET = "84393984-14e9-4b0d-a797-b288db64d088"


def portal(requests: list):
    package = json.loads((RECORDED / "package_show_prescriptions-in-the-community.json").read_text())
    for resource in package["result"]["resources"]:
        resource["url"] = resource["url"].replace("https://www.opendata.nhs.scot", BASE)

    def handle(request: httpx.Request) -> httpx.Response:
        requests.append(request)
        if request.url.path == "/api/3/action/package_show":
            assert request.url.params["id"] == DATASET
            return httpx.Response(200, json=package)
        return httpx.Response(200, content=(RECORDED / request.url.path.rsplit("/", 1)[-1]).read_bytes())

    return CkanClient(BASE, timeout=5, retries=1, transport=httpx.MockTransport(handle), sleep=lambda s: None)


def test_only_prescriber_location_months_are_synced_and_they_load(tmp_path):
    requests: list = []
    report = sync(["prescriptions"], client=portal(requests), cache=tmp_path / "cache")
    assert sorted(f.path.name for f in report.downloaded) == ["pitc202404.csv", "pitc202405.csv"]
    assert not any("disp_" in str(r.url) or "hb_pitc" in str(r.url) for r in requests)
    loaded = load_paths([f.path for f in report.files], source="prescriptions", warehouse=tmp_path / "w.duckdb")
    assert sorted((f.source, f.release_date) for f in loaded.loaded) == [
        ("prescriptions", date(2024, 4, 1)), ("prescriptions", date(2024, 5, 1))]
    con = open_warehouse(tmp_path / "w.duckdb")
    counts = con.execute("SELECT prescriber_type, count(*) FROM prescribing_other GROUP BY 1 ORDER BY 1").fetchall()
    assert counts == [("dental", 2), ("hospital", 2)]
    assert con.execute("SELECT count(*) FROM prescribing").fetchone()[0] == 6
    con.close()
