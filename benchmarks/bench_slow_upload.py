"""Load benchmark: does a slow roster upload stall other users? (issue 13, F6)

Starts `gpcluster serve` on loopback on a warehouse with indicator results (default: the `warehouse`
setting; build one with `gpcluster demo && gpcluster indicators compute`) and measures cluster pages read by
50 concurrent clients (random clusters across Scotland, as a national user) in three phases of the same
run:

1. without uploads (baseline);
2. while a planner uploads a large, valid national roster (just under the 5 MB upload limit, tens of
   thousands of posts) back to back for the whole phase: each upload is checked and loaded in a worker
   process (gpcluster.web.jobs);
3. without uploads again (to show drift over the run).

It prints page p50/p95/throughput/errors for each phase, the p95 ratio of phase 2 to the baselines, the
number and durations of uploads, and how fast the 2-million-empty-row workbook of the red-team finding is
refused. Before issue 13 such an upload ran on the server's event loop (the finding: /health did not answer
for 183 s).

    .venv/bin/python benchmarks/bench_slow_upload.py [--warehouse PATH] [--clients 50] [--seconds 20]

Load generator: httpx in this process (client timeouts count as errors).
"""

from __future__ import annotations

import argparse
import asyncio
import io
import os
import random
import re
import statistics
import tempfile
import threading
import time
import zipfile
from pathlib import Path

import duckdb
import httpx
from served import served_app

PASSWORD = "benchmark passphrase 2026"
HEADER = ("post_id,role,wte,employer,base,practice_sessions,start_date,end_date,line_manager,"
          "gp_supervision_hours_per_week")
MAX_UPLOAD_BYTES = 5_000_000
MAX_POSTS = 10_000  # three times the demo's national roster (3,407 posts)
TIMEOUT = 30.0


def clusters_and_practices(warehouse: Path) -> tuple[list[str], list[tuple[str, str]]]:
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        clusters = [r[0] for r in con.execute(
            "SELECT DISTINCT cluster_id FROM indicator_value WHERE level = 'cluster' ORDER BY 1").fetchall()]
        practices = con.execute(
            "SELECT practice_code, hscp_code FROM practice_release WHERE release_date = "
            "(SELECT max(release_date) FROM practice_release) ORDER BY 1").fetchall()
    finally:
        con.close()
    return clusters, practices


def big_roster(practices: list[tuple[str, str]]) -> tuple[bytes, int]:
    """A valid national roster in the template format, of MAX_POSTS posts."""
    rng = random.Random(13)
    from gpcluster.workforce.roles import ROLES

    roles = list(ROLES)
    lines, size, n = [HEADER], len(HEADER) + 1, 0
    while True:
        code_a, hscp = practices[rng.randrange(len(practices))]
        code_b = practices[rng.randrange(len(practices))][0]
        sessions = f"{code_a}:2; {code_b}:2" if code_b != code_a else f"{code_a}:4"
        line = (f"BENCH-{n:06d},{roles[n % len(roles)]},1.0,{hscp},{code_a},{sessions},2024-04-01,,"
                f"team lead {n % 97},0.5")
        if size + len(line) + 1 > MAX_UPLOAD_BYTES - 1000 or n >= MAX_POSTS:
            return ("\n".join(lines) + "\n").encode(), n
        lines.append(line)
        size += len(line) + 1
        n += 1


def empty_rows_workbook() -> bytes:
    """The red-team file: a header, then a row numbered 2,000,001 (readers fill in 2 million empty rows)."""
    import openpyxl

    book = openpyxl.Workbook()
    book.active.title = "roster"
    book.active.append(HEADER.split(","))
    plain = io.BytesIO()
    book.save(plain)
    with zipfile.ZipFile(plain) as source:
        parts = {i.filename: source.read(i.filename) for i in source.infolist()}
    far = b'<row r="2000001"><c r="A2000001" t="inlineStr"><is><t>x</t></is></c></row></sheetData>'
    parts["xl/worksheets/sheet1.xml"] = parts["xl/worksheets/sheet1.xml"].replace(b"</sheetData>", far)
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as bomb:
        for name, data in parts.items():
            bomb.writestr(name, data)
    return out.getvalue()


def make_users(store_url: str, cluster_id: str) -> None:
    from gpcluster.store import open_store
    from gpcluster.store.accounts import add_user

    store = open_store(store_url)
    with store.session() as session:
        add_user(session, "bench-national", PASSWORD, "national", "scotland", None)
        add_user(session, "bench-planner", PASSWORD, "national", "scotland", None)
    store.close()


def sign_in(base: str, username: str) -> httpx.Client:
    client = httpx.Client(base_url=base, timeout=120)
    token = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/login").text).group(1)
    response = client.post("/login", data={"username": username, "password": PASSWORD, "csrf_token": token})
    if response.status_code not in (200, 303):
        raise SystemExit(f"sign-in failed for {username}: {response.status_code}")
    return client


def upload(client: httpx.Client, token: str, name: str, body: bytes, media: str) -> tuple[int, float, str]:
    """Upload a file; (status, seconds, outcome). A good file answers with a redirect to the roster page,
    whose summary line is read with a GET that is not timed here (a page read like any other)."""
    began = time.perf_counter()
    response = client.post("/plan/roster", data={"csrf_token": token}, files={"roster": (name, body, media)})
    elapsed = time.perf_counter() - began
    if response.status_code == 303:
        response = client.get(response.headers["location"])
    text = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", response.text))
    found = re.search(r"(Loaded .*? WTE|nothing changed|\d+ problems? in [^:]+: nothing was loaded[^.]*\.?.{0,160})",
                      text)
    return response.status_code, elapsed, found.group(0)[:200] if found else text[:200]


async def read_pages(base: str, cookies, clusters: list[str], clients: int, seconds: float, seed: int) -> dict:
    rng = random.Random(seed)
    latencies: list[float] = []
    errors = 0
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(base_url=base, cookies=cookies, limits=limits, timeout=TIMEOUT) as client:
        await asyncio.gather(*(client.get(f"/clusters/{rng.choice(clusters)}") for _ in range(clients)))  # warm-up
        deadline = time.perf_counter() + seconds

        async def worker():
            nonlocal errors
            while time.perf_counter() < deadline:
                began = time.perf_counter()
                try:
                    response = await client.get(f"/clusters/{rng.choice(clusters)}")
                    errors += response.status_code != 200
                except httpx.TransportError:
                    errors += 1
                latencies.append(time.perf_counter() - began)

        began = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(clients)))
        elapsed = time.perf_counter() - began
    latencies.sort()
    return {"n": len(latencies), "errors": errors, "p50": statistics.median(latencies) * 1000,
            "p95": latencies[int(0.95 * (len(latencies) - 1))] * 1000, "rps": len(latencies) / elapsed}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--warehouse", type=Path, default=None)
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=20.0, help="length of each phase")
    args = parser.parse_args()
    from gpcluster import config

    warehouse = args.warehouse or config.warehouse_path()
    if not warehouse.exists():
        raise SystemExit(f"no warehouse at {warehouse}: run `gpcluster demo && gpcluster indicators compute`")
    clusters, practices = clusters_and_practices(warehouse)
    roster, posts = big_roster(practices)
    bomb = empty_rows_workbook()
    with tempfile.TemporaryDirectory() as tmp:
        store_url = f"sqlite:///{Path(tmp) / 'store.db'}"
        make_users(store_url, clusters[0])
        with served_app(warehouse, {"GPCLUSTER_STORE_URL": store_url, "GPCLUSTER_HOME": tmp}) as base:
            reader, planner = sign_in(base, "bench-national"), sign_in(base, "bench-planner")
            for cluster_id in clusters:  # every page built once, so each phase reads the same warm server
                reader.get(f"/clusters/{cluster_id}")
            xlsx = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
            token = re.search(r'name="csrf_token" value="([^"]+)"', planner.get("/plan/roster").text).group(1)
            bomb_result = upload(planner, token, "empty-rows.xlsx", bomb, xlsx)
            first = upload(planner, token, "national-roster.csv", roster, "text/csv")  # also warms the worker

            def run_phase(seed: int) -> dict:
                return asyncio.run(read_pages(base, reader.cookies, clusters, args.clients, args.seconds, seed))

            before = run_phase(1)
            uploads: list[tuple[int, float, str]] = []
            stop = threading.Event()

            def keep_uploading():
                flip = 0
                while not stop.is_set():  # alternate two rosters so every upload really loads
                    body = roster if flip % 2 == 0 else roster.replace(b"team lead", b"team head")
                    began = time.perf_counter()
                    response = planner.post("/plan/roster", data={"csrf_token": token},
                                            files={"roster": ("national-roster.csv", body, "text/csv")})
                    uploads.append((response.status_code, time.perf_counter() - began, ""))
                    flip += 1

            began = time.perf_counter()
            roster_page = planner.get("/plan/roster")
            roster_page_seconds = time.perf_counter() - began
            uploader = threading.Thread(target=keep_uploading)
            uploader.start()
            time.sleep(1.0)  # the first upload is under way before the pages are timed
            during = run_phase(2)
            stop.set()
            uploader.join()
            after = run_phase(3)
    print(f"warehouse {warehouse}; {len(clusters)} clusters read at random; {args.clients} concurrent clients; "
          f"{args.seconds:g} s per phase; 1 server process + 1 job worker; {os.cpu_count()} CPU(s); httpx client")
    print(f"roster uploaded: {posts:,} posts, {len(roster) / 1e6:.2f} MB CSV (valid; checked and loaded in a worker)")
    print(f"first upload: HTTP {first[0]} in {first[1]:.1f} s: {first[2]}")
    print(f"2-million-empty-row workbook ({len(bomb):,} bytes): HTTP {bomb_result[0]} in {bomb_result[1]:.2f} s: "
          f"{bomb_result[2]}")
    print(f"roster page listing the {posts:,} posts (read after an upload; not timed as part of it): HTTP "
          f"{roster_page.status_code} in {roster_page_seconds:.1f} s")
    print(f"{'cluster pages':<36} {'n':>6} {'err':>4} {'p50 ms':>8} {'p95 ms':>8} {'req/s':>7}")
    for label, r in (("without upload (before)", before), ("during back-to-back uploads", during),
                     ("without upload (after)", after)):
        print(f"{label:<36} {r['n']:>6} {r['errors']:>4} {r['p50']:>8.1f} {r['p95']:>8.1f} {r['rps']:>7.1f}")
    done = [u for u in uploads if u[0] == 303]
    print(f"uploads during the timed phase: {len(uploads)} ({len(done)} loaded), "
          f"{', '.join(f'{u[1]:.1f}' for u in uploads)} s each")
    baseline = (before["p95"] + after["p95"]) / 2
    ratio = during["p95"] / baseline
    print(f"page p95 during uploads / mean p95 without: {ratio:.2f} "
          f"(vs before {during['p95'] / before['p95']:.2f}, vs after {during['p95'] / after['p95']:.2f}); "
          f"target within 20%: {'met' if ratio <= 1.2 else 'NOT met'}")


if __name__ == "__main__":
    main()
