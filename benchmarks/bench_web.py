"""Load benchmark of the web app on loopback: 50 concurrent clients against the cluster page and the API.

Starts `gpcluster serve --workers N` (default 2, one per core) on a free loopback port, on a warehouse with indicator
results (default: the `warehouse` setting; build one with `gpcluster demo && gpcluster indicators compute`),
signs in a CQL and a national user, then runs a bounded number of requests per route and prints p50, p95
and throughput, against a baseline in the same run (the static /health endpoint).

    .venv/bin/python benchmarks/bench_web.py [--warehouse PATH] [--clients 50] [--requests 500] [--workers 2]

Load generator: wrk (Debian package `wrk`) when installed, with a fixed number of requests per
connection; otherwise Python httpx clients in this process (which saturate a core by themselves at about
250 requests a second on this class of machine, so their figures measure the client as much as the server).

Target (issue 5): p95 under 200 ms for the cluster page and the API on the demo data.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import shutil
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

import duckdb
import httpx
from served import served_app

PASSWORD = "benchmark passphrase 2026"


def busiest_cluster(warehouse: Path) -> str:
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        return con.execute(
            "SELECT cluster_id FROM indicator_value WHERE level = 'practice' AND period = "
            "(SELECT max(period) FROM indicator_value) AND cluster_id IS NOT NULL "
            "GROUP BY cluster_id ORDER BY count(DISTINCT area_code) DESC, cluster_id LIMIT 1").fetchone()[0]
    finally:
        con.close()


def make_users(store_url: str, cluster_id: str) -> None:
    from gpcluster.store import open_store
    from gpcluster.store.accounts import add_user

    store = open_store(store_url)
    with store.session() as session:
        add_user(session, "bench-cql", PASSWORD, "cluster", "cluster", cluster_id)
        add_user(session, "bench-national", PASSWORD, "national", "scotland", None)
    store.close()


async def sign_in(base: str, username: str) -> httpx.Cookies:
    async with httpx.AsyncClient(base_url=base) as client:
        page = await client.get("/login")
        token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
        response = await client.post("/login", data={"username": username, "password": PASSWORD,
                                                      "csrf_token": token, "next": "/"})
        if response.status_code not in (200, 303) or "uid" not in str(client.cookies) and not client.cookies:
            raise SystemExit(f"sign-in failed for {username}: {response.status_code}")
        return client.cookies


async def run(base: str, path: str, cookies: httpx.Cookies | None, clients: int, total: int) -> dict:
    latencies: list[float] = []
    errors = 0
    per_client = max(1, total // clients)
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(base_url=base, cookies=cookies, limits=limits, timeout=30) as client:
        # warm up: open every connection and fill the server's caches before timing
        await asyncio.gather(*(client.get(path) for _ in range(clients)))

        async def worker():
            nonlocal errors
            for _ in range(per_client):
                start = time.perf_counter()
                response = await client.get(path)
                latencies.append(time.perf_counter() - start)
                errors += response.status_code != 200

        began = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(clients)))
        elapsed = time.perf_counter() - began
    latencies.sort()
    return {"path": path, "n": len(latencies), "errors": errors, "p50": statistics.median(latencies) * 1000,
            "p95": latencies[int(0.95 * (len(latencies) - 1))] * 1000, "rps": len(latencies) / elapsed}


WRK_SCRIPT = r"""
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("RESULT %d %d %.3f %.3f %d\n", summary.requests,
    e.status + e.timeout + e.connect + e.read + e.write,
    latency:percentile(50) / 1000, latency:percentile(95) / 1000, summary.duration))
end
"""


def run_wrk(base: str, path: str, cookies: httpx.Cookies | None, clients: int, total: int) -> dict:
    """The same measurement with wrk: `clients` connections, about `total` requests, latency percentiles."""
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write(WRK_SCRIPT)
    header = "Cookie: " + "; ".join(f"{k}={v}" for k, v in (cookies or {}).items())
    seconds = max(2, total // 100)
    command = ["wrk", "-t1", f"-c{clients}", f"-d{seconds}s", "-s", script.name, "-H", header, base + path]
    subprocess.run([*command[:3], "-d1s", *command[4:]], capture_output=True, timeout=60)  # warm-up
    output = subprocess.run(command, capture_output=True, text=True, timeout=120).stdout
    os.unlink(script.name)
    n, errors, p50, p95, micros = output.split("RESULT", 1)[1].split()
    return {"path": path, "n": int(n), "errors": int(errors), "p50": float(p50), "p95": float(p95),
            "rps": int(n) / (int(micros) / 1e6)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--warehouse", type=Path, default=None)
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--requests", type=int, default=500,
                        help="requests per route with httpx; with wrk, runs last requests/100 seconds")
    parser.add_argument("--workers", type=int, default=2, help="server processes")
    parser.add_argument("--client", choices=["auto", "wrk", "httpx"], default="auto")
    args = parser.parse_args()
    use_wrk = args.client == "wrk" or (args.client == "auto" and shutil.which("wrk") is not None)
    from gpcluster import config

    warehouse = args.warehouse or config.warehouse_path()
    if not warehouse.exists():
        raise SystemExit(f"no warehouse at {warehouse}: run `gpcluster demo && gpcluster indicators compute`")
    cluster_id = busiest_cluster(warehouse)
    with tempfile.TemporaryDirectory() as tmp:
        store_url = f"sqlite:///{Path(tmp) / 'store.db'}"
        make_users(store_url, cluster_id)
        with served_app(warehouse, {"GPCLUSTER_STORE_URL": store_url}, workers=args.workers) as base:
            cql = asyncio.run(sign_in(base, "bench-cql"))
            national = asyncio.run(sign_in(base, "bench-national"))
            routes = [("/health", None), (f"/clusters/{cluster_id}", cql),
                      (f"/api/tables/cluster?key={cluster_id}", national)]
            if use_wrk:
                results = [run_wrk(base, path, who, args.clients, args.requests) for path, who in routes]
            else:
                results = [asyncio.run(run(base, path, who, args.clients, args.requests)) for path, who in routes]
    baseline = results[0]
    client = "wrk" if use_wrk else "httpx (in-process; may bottleneck before the server)"
    print(f"warehouse {warehouse}; cluster {cluster_id}; {args.clients} concurrent clients; "
          f"{args.workers} server process(es); {os.cpu_count()} CPU(s); load generator {client}")
    print(f"{'route':<60} {'n':>5} {'err':>4} {'p50 ms':>8} {'p95 ms':>8} {'req/s':>8} {'p95 x base':>10}")
    for r in results:
        print(f"{r['path'][:60]:<60} {r['n']:>5} {r['errors']:>4} {r['p50']:>8.1f} {r['p95']:>8.1f} "
              f"{r['rps']:>8.1f} {r['p95'] / baseline['p95']:>10.1f}")
    worst = max(r["p95"] for r in results[1:])
    print(f"target p95 < 200 ms: {'met' if worst < 200 else 'NOT met'} (worst {worst:.0f} ms)")


if __name__ == "__main__":
    main()
