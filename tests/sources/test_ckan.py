"""The CKAN client and `sync`, against recorded portal responses served by httpx.MockTransport."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import httpx
import pytest

from gpcluster.errors import UserError
from gpcluster.sources.ckan import USER_AGENT, CkanClient, CkanError
from gpcluster.sources.sync import MANIFEST, sync
from gpcluster.warehouse import load_paths, open_warehouse

RECORDED = Path(__file__).parent / "recorded"
BASE = "https://portal.test"
POPULATIONS = "e3300e98-cdd2-4f4e-a24e-06ee14fcc66c"


class Portal:
    """A recorded CKAN portal. `failures` makes the next N requests answer 503; `ranges` honours Range."""

    def __init__(self, failures: int = 0, ranges: bool = True):
        self.requests: list[httpx.Request] = []
        self.failures = failures
        self.ranges = ranges
        package = json.loads((RECORDED / "package_show_gp-practice-populations.json").read_text())
        for resource in package["result"]["resources"]:
            resource["url"] = resource["url"].replace("https://www.opendata.nhs.scot", BASE)
        self.package = package

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if self.failures:
            self.failures -= 1
            return httpx.Response(503)
        if request.url.path == "/api/3/action/package_show":
            if request.url.params["id"] == POPULATIONS:
                return httpx.Response(200, json=self.package)
            return httpx.Response(404, content=(RECORDED / "package_show_not_found.json").read_bytes())
        body = (RECORDED / request.url.path.rsplit("/", 1)[-1]).read_bytes()
        start = request.headers.get("Range", "bytes=0-")[6:-1]
        if self.ranges and int(start or 0):
            return httpx.Response(206, content=body[int(start):])
        return httpx.Response(200, content=body)

    def client(self) -> CkanClient:
        return CkanClient(BASE, timeout=5, retries=3, transport=httpx.MockTransport(self), sleep=lambda s: None)


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_sync_downloads_every_csv_release_into_the_cache(tmp_path):
    portal = Portal()
    report = sync(["gp_practice_populations"], client=portal.client(), cache=tmp_path)
    got = sorted(str(f.path.relative_to(tmp_path)) for f in report.downloaded)
    assert got == ["ce967fa9-0f7f-4389-9f19-4958c45e43c2/practice_listsizes_jan2025-open-data.csv",
                   "cec9341e-ccba-4c71-afe4-a614f5e97b9f/practice_listsizes_oct2024-open-data.csv"]
    manifest = json.loads((tmp_path / MANIFEST).read_text())
    for item in report.files:
        assert item.path.read_bytes() == (RECORDED / item.path.name).read_bytes()
        assert manifest[item.resource_id]["sha256"] == sha(RECORDED / item.path.name)
    assert all(r.headers["User-Agent"] == USER_AGENT for r in portal.requests)
    assert not any("dictionary.pdf" in str(r.url) for r in portal.requests)


def test_second_run_fetches_nothing_but_the_metadata(tmp_path):
    sync(["gp_practice_populations"], client=Portal().client(), cache=tmp_path)
    portal = Portal()
    report = sync(["gp_practice_populations"], client=portal.client(), cache=tmp_path)
    assert report.downloaded == [] and len(report.files) == 2
    assert [r.url.path for r in portal.requests] == ["/api/3/action/package_show"]


def test_corrupted_cache_file_is_fetched_again(tmp_path):
    first = sync(["gp_practice_populations"], client=Portal().client(), cache=tmp_path)
    first.files[0].path.write_text("garbage")
    again = sync(["gp_practice_populations"], client=Portal().client(), cache=tmp_path)
    assert [f.path for f in again.downloaded] == [first.files[0].path]
    assert first.files[0].path.read_bytes() == (RECORDED / first.files[0].path.name).read_bytes()


def test_part_file_is_resumed_with_a_range_request(tmp_path):
    name = "practice_listsizes_oct2024-open-data.csv"
    whole = (RECORDED / name).read_bytes()
    dest = tmp_path / "cec9341e-ccba-4c71-afe4-a614f5e97b9f" / name
    dest.parent.mkdir()
    dest.with_name(name + ".part").write_bytes(whole[:100])
    portal = Portal()
    sync(["gp_practice_populations"], client=portal.client(), cache=tmp_path)
    ranged = [r for r in portal.requests if r.url.path.endswith(name)]
    assert ranged[0].headers["Range"] == "bytes=100-"
    assert dest.read_bytes() == whole and not dest.with_name(name + ".part").exists()


def test_server_without_range_support_restarts_the_download(tmp_path):
    name = "practice_listsizes_oct2024-open-data.csv"
    dest = tmp_path / "cec9341e-ccba-4c71-afe4-a614f5e97b9f" / name
    dest.parent.mkdir()
    dest.with_name(name + ".part").write_bytes(b"stale partial bytes")
    sync(["gp_practice_populations"], client=Portal(ranges=False).client(), cache=tmp_path)
    assert dest.read_bytes() == (RECORDED / name).read_bytes()


def test_transient_errors_are_retried_with_backoff(tmp_path):
    portal = Portal(failures=2)
    waits: list[float] = []
    client = CkanClient(BASE, retries=3, transport=httpx.MockTransport(portal), sleep=waits.append)
    assert client.package_show(POPULATIONS)["name"] == "gp-practice-populations"
    assert waits == [1, 2] and len(portal.requests) == 3


def test_gives_up_after_the_configured_attempts():
    portal = Portal(failures=10)
    client = CkanClient(BASE, retries=3, transport=httpx.MockTransport(portal), sleep=lambda s: None)
    with pytest.raises(CkanError, match="gave up after 3 attempt"):
        client.package_show(POPULATIONS)


def test_ckan_failure_is_reported():
    client = Portal().client()
    with pytest.raises(CkanError, match="HTTP 404"):
        client.package_show("gp-practice-contact-details-and-list-sizes")


@pytest.mark.parametrize("bad", ["../../etc/passwd", "not a uuid", "", "cec9341e-ccba-4c71-afe4"])
def test_resource_ids_are_validated_before_any_request(bad):
    portal = Portal()
    with pytest.raises(UserError, match="not a CKAN resource id"):
        portal.client().resource_show(bad)
    assert portal.requests == []


@pytest.mark.parametrize("bad", ["../../etc/passwd", "Not A Name", "", "x" * 101])
def test_dataset_ids_are_validated_before_any_request(bad):
    portal = Portal()
    with pytest.raises(UserError, match="not a CKAN dataset id"):
        portal.client().package_show(bad)
    assert portal.requests == []


def test_synced_files_load(tmp_path):
    report = sync(["gp_practice_populations"], client=Portal().client(), cache=tmp_path / "cache")
    load_paths([f.path for f in report.files], source="gp_practice_populations")
    con = open_warehouse()
    got = con.execute("SELECT release_date, population FROM list_population WHERE sex = 'All' "
                      "AND age_band = 'All' ORDER BY 1").fetchall()
    con.close()
    assert [p for _, p in got] == [185 + 195, 193 + 195]


def test_unknown_source_cannot_be_synced(tmp_path):
    with pytest.raises(UserError, match="cannot sync practice_activity"):
        sync(["practice_activity"], client=Portal().client(), cache=tmp_path)
