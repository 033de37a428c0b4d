"""Refresh without downtime: new data is loaded while the app serves requests continuously; no request
fails, and the app serves the new data afterwards (issue 11, item 8). Also: rollback reaches the app,
and a version the app cannot serve leaves it serving the one it has."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest
from warehouse_fixture import OWN_CLUSTER, build_warehouse

from gpcluster.warehouse import load_paths
from gpcluster.warehouse.versions import new_version, rollback
from gpcluster.web.ready import wait_until_serving

PASSWORD = "refresh test passphrase"
NEW_CLUSTER = "Dundee Riverside"
CONTACT_HEADER = "PracticeCode,GPPracticeName,PracticeListSize,Postcode,HB,HSCP,DataZone,GPCluster"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def new_release(folder: Path) -> Path:
    """A real-format contact-details release: the fixture's practices plus one in a new cluster."""
    rows = [CONTACT_HEADER,
            "10001,Alpha Surgery,5200,DD1 1AA,S08000030,S37000007,S01007129,Dundee East",
            "10002,Amber Health Centre,8100,DD1 2AB,S08000030,S37000007,S01007129,Dundee East",
            "70001,Bravo Medical Centre,6600,DD2 7QX,S08000030,S37000007,S01007130,Dundee West",
            f"10009,Riverside Practice,4100,DD1 9ZZ,S08000030,S37000007,S01007131,{NEW_CLUSTER}"]
    path = folder / "practice_contactdetails_jan2025-open-data.csv"
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return path


@pytest.fixture
def server(tmp_path):
    """`gpcluster serve` in its own process on a copy of the fixture warehouse, a national user signed in."""
    from gpcluster.store import open_store
    from gpcluster.store.accounts import add_user

    warehouse = build_warehouse(tmp_path / "warehouse.duckdb", synthetic=False)
    store_url = f"sqlite:///{tmp_path / 'store.db'}"
    store = open_store(store_url)
    with store.session() as session:
        add_user(session, "national", PASSWORD, "national", "scotland", None)
    store.engine.dispose()
    port = free_port()
    env = {**os.environ, "GPCLUSTER_STORE_URL": store_url, "GPCLUSTER_SECRET_KEY": "refresh-test-secret",
           "GPCLUSTER_WAREHOUSE": str(warehouse), "GPCLUSTER_WAREHOUSE_POLL_SECONDS": "0.2"}
    process = subprocess.Popen([sys.executable, "-m", "gpcluster.cli", "serve", "--host", "127.0.0.1",
                                "--port", str(port)], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until_serving(base, process, timeout=60)
        client = httpx.Client(base_url=base, timeout=30)
        token = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/login").text).group(1)
        client.post("/login", data={"username": "national", "password": PASSWORD, "csrf_token": token, "next": "/"})
        assert client.get("/api/clusters").status_code == 200
        yield client, warehouse
        client.close()
    finally:
        process.terminate()
        process.wait(timeout=10)


def cluster_names(client: httpx.Client) -> set[str]:
    return {row["cluster_name"] for row in client.get("/api/clusters").json()["rows"]}


def wait_for(condition, seconds: float = 20.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.1)
    return False


def test_load_while_serving_fails_no_request_and_the_new_data_is_served(server, tmp_path):
    client, warehouse = server
    assert NEW_CLUSTER not in cluster_names(client)
    routes = ["/", "/api/clusters", f"/clusters/{OWN_CLUSTER}", "/indicators/emergency_admission_rate",
              "/practices/10001", "/health"]
    failures: list[str] = []
    served = [0]
    stop = threading.Event()

    def traffic(offset: int) -> None:
        with httpx.Client(base_url=str(client.base_url), cookies=client.cookies, timeout=60) as own:
            i = offset
            while not stop.is_set():
                route = routes[i % len(routes)]
                i += 1
                try:
                    response = own.get(route)
                    if response.status_code != 200:
                        failures.append(f"{route}: HTTP {response.status_code}")
                except httpx.HTTPError as exc:
                    failures.append(f"{route}: {exc!r}")
                served[0] += 1

    threads = [threading.Thread(target=traffic, args=(k,)) for k in range(4)]
    for thread in threads:
        thread.start()
    try:
        time.sleep(1.0)
        before = served[0]
        report = load_paths([new_release(tmp_path)], warehouse=warehouse)  # a separate process from the app
        assert len(report.loaded) == 1
        assert wait_for(lambda: NEW_CLUSTER in cluster_names(client)), "the app never served the new data"
        time.sleep(1.0)
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=60)
    assert failures == []
    assert served[0] > before + 20  # requests kept flowing through the load and the switch

    rollback(warehouse)
    assert wait_for(lambda: NEW_CLUSTER not in cluster_names(client)), "rollback did not reach the app"


def test_a_version_the_app_cannot_serve_leaves_it_serving(server):
    client, warehouse = server
    with new_version(warehouse, note="results dropped") as draft:
        draft.con.execute("DROP TABLE indicator_value")
    time.sleep(1.0)  # several polls of the watcher
    assert client.get("/api/clusters").status_code == 200
    assert client.get(f"/clusters/{OWN_CLUSTER}").status_code == 200
