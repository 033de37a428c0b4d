"""Load benchmark of the web app on loopback, measured the honest way: random entities over the whole
country, every page type, long enough runs, slow requests counted.

Starts `gpcluster serve --workers N` (default 2, one per core) on a free loopback port, on a warehouse
with indicator results (default: the `warehouse` setting; `gpcluster demo --no-serve` builds one), and
for each route runs C concurrent clients (default 50) for D seconds (default 30). Every request picks a
random URL from a list drawn over all clusters, practices and indicators in the warehouse (not the
signed-in user's own cached page), so caches help only as much as they would for real users. A request
that takes longer than the client timeout (default 60 s) or answers anything but 200 is an error (and a
timed-out request enters the percentiles at the timeout).

Routes: every page type (overview, cluster, practice, indicator list and pages, search, the JSON API's
tables, CSV downloads) as a national user (who may see everything), the planner's pages at national
scope (home, comparison over random model pairs and roles, roster, comparison downloads), and the same
page types as scoped roles (cluster lead, practice lead, HSCP planner) over their own areas. Baseline in
the same run: /health, which does no work, shows the load generator's own ceiling.

Also measures start-up: from process start to /health answering, and from process start to the server
being ready to serve pages: signed in as a national user, a round of one request of each page type
(random cluster, practice and indicator pages, API table, CSV download), each a different random entity,
all answering 200 within 300 ms (rounds repeat until one does); and, in a fresh process, the import of the
app and the opening of the warehouse view (WebData).

Pages every national viewer shares are rendered once per warehouse version by `gpcluster serve` itself
(gpcluster.web.prerender, in a low-priority process) and kept beside the version (`<version>.pages.sqlite`):
the benchmark prints whether that store was complete when the server started and how long rendering it
took. `--cold` deletes it first, so the run meets a server with nothing rendered (the prerender then runs
during the benchmark, as it would after a load). The disclosed release is kept beside the version too
(gpcluster.web.persisted_release, built at a version's first start); `--first-start` deletes it so that
the server builds it, as the first start of a new version does. `--prepare` runs the deploy step
`gpcluster prepare` (the release and the shared pages built at full priority) after that and before the
server starts, as a deploy that runs it before `gpcluster serve` does; its time is printed apart (it is
the deploy's, not the server's start-up).

    .venv/bin/python benchmarks/bench_web.py [--warehouse PATH] [--clients 50] [--duration 30]
        [--workers 2] [--timeout 60] [--client process|wrk] [--only SUBSTRING]

`--passes 2` runs each route twice in a row: the first pass meets empty caches (every entity's first
request builds its page), the second shows the route once they are filled.

`--only planner` runs the planner's routes (every planner page at national scope, and the HSCP planner's
comparison) with the /health baseline.

Load generator: by default benchmarks/loadgen.py in its own process (raw asyncio HTTP/1.1 on uvloop, a
small fraction of the server's cost per request), each client finishing (and counting) the request it has
in flight when the time is up, so the slowest requests are never dropped; the /health row shows the
generator's own ceiling. `--client wrk` uses wrk (Debian package `wrk`) with a Lua script that picks a
random URL per request and counts non-200 answers; wrk drops the requests still in flight when the run
ends, so the script counts requests sent against answers received and the difference (the unfinished)
is reported and enters the percentiles at the slowest latency wrk measured, a lower bound of theirs.
Targets: issue 12, every page type p95 < 300 ms with 0 errors; issue 11, every
planner page p95 < 1 s at national scope.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import shutil
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

import duckdb
import httpx

from gpcluster.web.ready import NotServing, wait_until_serving

PASSWORD = "benchmark passphrase 2026"
URLS_PER_ROUTE = 2000
PAGE_TARGET_MS = 300.0  # issue 12: every page type, the planner's included (issue 11's 1 s is superseded)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Entities:
    clusters: list[str]
    practices: list[str]
    indicators: list[str]
    names: list[str]
    own_cluster: str
    own_cluster_practices: list[str]
    own_practice: str
    own_hscp: str
    hscp_clusters: list[str]
    hscp_practices: list[str]
    roster_roles: list[str]
    post_ids: list[str]
    hscps: list[str]
    boards: list[str]
    prescribing: list[str]
    #: (indicator, cluster) pairs with a cluster figure in some quarter (a cluster's trend; others are 404)
    trends: list[tuple[str, str]]
    #: from the demo's operational store when the warehouse has one beside it (else empty: routes skipped)
    evaluations: list[str] = field(default_factory=list)
    packs: list[str] = field(default_factory=list)  # "cluster_id/period/vN"


def read_entities(warehouse: Path, seed: int) -> Entities:
    """Everything a request can name, from the warehouse's latest results, plus scopes for the roles."""
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        latest = con.execute("SELECT max(period) FROM indicator_value").fetchone()[0]
        practice_rows = con.execute(
            "SELECT DISTINCT v.area_code, v.cluster_id, v.hscp_code, p.practice_name FROM indicator_value v "
            "LEFT JOIN practice p ON p.practice_code = v.area_code "
            "WHERE v.level = 'practice' AND v.period = ? AND v.cluster_id IS NOT NULL ORDER BY 1", [latest]).fetchall()
        clusters = [r[0] for r in con.execute(
            "SELECT DISTINCT area_code FROM indicator_value WHERE level = 'cluster' AND period = ? ORDER BY 1",
            [latest]).fetchall()]
        indicators = [r[0] for r in con.execute(
            "SELECT DISTINCT indicator_id FROM indicator_value ORDER BY 1").fetchall()]
        cluster_names = [r[0] for r in con.execute("SELECT cluster_name FROM cluster").fetchall()]
        # practices that were in another cluster in some quarter: a cluster lead may not open their pages
        # (a practice page shows every quarter, each only to a viewer who may name the practice in it)
        moved = {r[0] for r in con.execute(
            "SELECT area_code FROM indicator_value WHERE level = 'practice' AND cluster_id IS NOT NULL "
            "GROUP BY area_code HAVING count(DISTINCT cluster_id) > 1").fetchall()}
        has_roster = con.execute("SELECT count(*) FROM information_schema.tables WHERE table_name = 'mdt_post'"
                                 ).fetchone()[0]
        roster_roles = [r[0] for r in con.execute("SELECT DISTINCT role FROM mdt_post ORDER BY 1").fetchall()
                        ] if has_roster else []
        post_ids = [r[0] for r in con.execute("SELECT post_id FROM mdt_post ORDER BY 1").fetchall()
                    ] if has_roster else []
        trends = [(r[0], r[1]) for r in con.execute(
            "SELECT DISTINCT indicator_id, area_code FROM indicator_value WHERE level = 'cluster' AND area_code IN "
            "(SELECT area_code FROM indicator_value WHERE level = 'cluster' AND period = ?) ORDER BY 1, 2",
            [latest]).fetchall()]
        hscps, boards = ([r[0] for r in con.execute(
            "SELECT DISTINCT area_code FROM indicator_value WHERE level = ? AND period = ? ORDER BY 1",
            [level, latest]).fetchall()] for level in ("hscp", "board"))
    finally:
        con.close()
    prescribing = prescribing_measures(indicators)
    rng = random.Random(seed)
    own = rng.choice(practice_rows)
    words = sorted({w for name in [*(r[3] or "" for r in practice_rows), *cluster_names] for w in name.split()
                    if len(w) >= 4})
    return Entities(
        clusters=clusters, practices=[r[0] for r in practice_rows], indicators=indicators, names=words,
        own_cluster=own[1], own_cluster_practices=[r[0] for r in practice_rows if r[1] == own[1]
                                                   and r[0] not in moved],
        own_practice=own[0], own_hscp=own[2],
        hscp_clusters=sorted({r[1] for r in practice_rows if r[2] == own[2]}),
        hscp_practices=[r[0] for r in practice_rows if r[2] == own[2]], roster_roles=roster_roles,
        post_ids=post_ids, hscps=hscps, boards=boards, prescribing=prescribing, trends=trends)


def prescribing_measures(indicators: list[str]) -> list[str]:
    from gpcluster.errors import UserError
    from gpcluster.indicators.definition import load_definition
    from gpcluster.prescribing.measures import is_prescribing

    found = []
    for indicator_id in indicators:
        try:
            if is_prescribing(load_definition(indicator_id)):
                found.append(indicator_id)
        except UserError:
            continue
    return found


def demo_store(warehouse: Path) -> Path | None:
    """The operational store of the home the warehouse belongs to (its packs and registered evaluations)."""
    for home in (warehouse.parent, warehouse.parent.parent):
        if (home / "store.db").exists() and (home / "warehouse.duckdb").exists():
            return home / "store.db"
    return None


def read_store_entities(store_url: str, e: Entities) -> None:
    """Registered evaluations and published packs, for their routes."""
    from sqlalchemy import select

    from gpcluster.evaluation import registry
    from gpcluster.packs.formatting import period_key
    from gpcluster.store import open_store
    from gpcluster.store.models import Pack

    store = open_store(store_url)
    try:
        with store.session() as session:
            e.evaluations = [r.slug for r in registry.list_registered(session)]
            e.packs = [f"{p.cluster_id}/{period_key(p.period)}/v{p.version}"
                       for p in session.scalars(select(Pack).order_by(Pack.cluster_id, Pack.period, Pack.version))]
    finally:
        store.engine.dispose()


def make_users(store_url: str, e: Entities) -> None:
    from gpcluster.store import open_store
    from gpcluster.store.accounts import add_user

    store = open_store(store_url)
    with store.session() as session:
        add_user(session, "bench-national", PASSWORD, "national", "scotland", None)
        add_user(session, "bench-cql", PASSWORD, "cluster", "cluster", e.own_cluster)
        add_user(session, "bench-pql", PASSWORD, "practice", "practice", e.own_practice)
        add_user(session, "bench-hscp", PASSWORD, "hscp", "hscp", e.own_hscp)
    store.engine.dispose()


def routes(e: Entities, seed: int) -> list[tuple[str, str, list[str]]]:
    """(route label, user, URLs to pick from at random)."""
    from gpcluster.web.planner import DOWNLOADABLE
    from gpcluster.workforce.params import model_names

    rng = random.Random(seed)

    def many(make) -> list[str]:
        return [make() for _ in range(URLS_PER_ROUTE)]

    def pick(items):
        return items[rng.randrange(len(items))]

    tables = ("cluster", "practice", "funnel", "deciles")
    keys = {"cluster": lambda c, p: c, "practice": lambda c, p: p, "funnel": lambda c, p: pick(e.indicators),
            "deciles": lambda c, p: pick(e.indicators)}
    models = model_names()
    # "totals" is the narrow (cluster or practice lead) comparison's table: a national planner gets a 404
    compare_tables = sorted(DOWNLOADABLE - {"roster_summary", "coverage", "roster", "assumptions", "totals"})

    def compare_query() -> str:
        a, b = rng.sample(models, 2)
        role = pick(["", *e.roster_roles])  # all roles, or one the roster has (others are a 422 by design)
        return f"a={a}&b={b}&role={quote(role)}"

    def trend_url(indicator: str, cluster: str) -> str:
        return f"/trends/{indicator}?cluster={quote(cluster, safe='/')}"

    def table_url(prefix: str, clusters: list[str], practices: list[str], suffix: str = "") -> str:
        name = pick(tables)
        key = keys[name](pick(clusters), pick(practices))
        return f"{prefix}{name}{suffix}?key={quote(key, safe='')}"

    found = [
        ("/health (no work: generator ceiling)", "national", ["/health"]),
        ("overview /", "national", ["/"]),
        ("cluster page, random cluster", "national", many(lambda: f"/clusters/{pick(e.clusters)}")),
        ("practice page, random practice", "national", many(lambda: f"/practices/{pick(e.practices)}")),
        ("indicator list /indicators", "national", ["/indicators"]),
        ("indicator page, random indicator", "national", many(lambda: f"/indicators/{pick(e.indicators)}")),
        ("search, random word", "national", many(lambda: f"/search?q={quote(pick(e.names))}")),
        ("API tables, random table and key", "national",
         many(lambda: table_url("/api/tables/", e.clusters, e.practices))),
        ("CSV downloads, random table and key", "national",
         many(lambda: table_url("/download/", e.clusters, e.practices, ".csv"))),
        ("planner home /plan (national)", "national", ["/plan"]),
        ("planner compare, random models and role (national)", "national",
         many(lambda: f"/plan/compare?{compare_query()}")),
        ("planner home, random role, search and page (national)", "national",
         many(lambda: f"/plan?role={pick(['', *e.roster_roles])}&q={quote(pick(['', *e.names]))}"
                      f"&page={rng.randint(1, 3)}")),
        ("planner compare, gains/losses filtered, paged (national)", "national",
         many(lambda: f"/plan/compare?{compare_query()}&outcome={quote(pick(['gains', 'loses', 'no change']))}"
                      f"&q={quote(pick(['', *e.names]))}&page={rng.randint(1, 5)}")),
        ("planner roster /plan/roster (national)", "national", ["/plan/roster"]),
        ("planner roster, random role, search and page (national)", "national",
         many(lambda: f"/plan/roster?role={pick(['', *e.roster_roles])}&q={quote(pick(['', *e.names]))}"
                      f"&page={rng.randint(1, 40)}")),
        ("planner edit form, random post (national)", "national",
         many(lambda: f"/plan/roster/post?post_id={quote(pick(e.post_ids))}" if e.post_ids else "/plan/roster/post")),
        ("planner downloads, random table (national)", "national",
         many(lambda: f"/plan/download/{pick(compare_tables)}.csv?{compare_query()}")),
        ("CQL: own cluster and random practices in it", "cql",
         many(lambda: pick([f"/clusters/{e.own_cluster}", f"/practices/{pick(e.own_cluster_practices)}"]))),
        ("CQL: random indicator pages", "cql", many(lambda: f"/indicators/{pick(e.indicators)}")),
        ("PQL: own practice, random indicator", "pql",
         many(lambda: f"/practices/{e.own_practice}?indicator={pick(e.indicators)}")),
        ("HSCP: random clusters and practices in the HSCP", "hscp",
         many(lambda: pick([f"/clusters/{pick(e.hscp_clusters)}", f"/practices/{pick(e.hscp_practices)}"]))),
        ("HSCP: API tables in the HSCP", "hscp", many(lambda: table_url("/api/tables/", e.hscp_clusters,
                                                                          e.hscp_practices))),
        ("HSCP planner compare, random models and role", "hscp", many(lambda: f"/plan/compare?{compare_query()}")),
        ("HSCP page, random HSCP", "national", many(lambda: f"/hscps/{pick(e.hscps)}")),
        ("board page, random board", "national", many(lambda: f"/boards/{pick(e.boards)}")),
        ("cluster trend, random indicator and cluster", "national",
         many(lambda: trend_url(*pick(e.trends)))),
        ("API indicators and clusters lists", "national", ["/api/indicators", "/api/clusters", "/api/tables"]),
    ]
    if e.prescribing:
        found += [
            ("prescribing measures /prescribing", "national", ["/prescribing"]),
            ("prescribing measure, random measure", "national", many(lambda: f"/prescribing/{pick(e.prescribing)}")),
            ("prescribing measure, random measure and practice", "national",
             many(lambda: f"/prescribing/{pick(e.prescribing)}?practice={pick(e.practices)}")),
            ("PQL: prescribing measure, random measure", "pql", many(lambda: f"/prescribing/{pick(e.prescribing)}")),
        ]
    if e.evaluations:
        found += [("evaluations /evaluations", "national", ["/evaluations"]),
                  ("evaluation page, random intervention", "national",
                   many(lambda: f"/evaluations/{pick(e.evaluations)}"))]
    if e.packs:
        cluster_of = {p.rsplit("/", 2)[0] for p in e.packs}
        latest = {}
        for p in e.packs:  # sorted: the last of each cluster is its latest version
            latest[p.rsplit("/", 2)[0]] = p
        clusters = sorted(cluster_of)
        found += [
            ("packs /packs", "national", ["/packs"]),
            ("cluster's packs, random cluster", "national", many(lambda: f"/packs/{pick(clusters)}")),
            ("pack page, random cluster's latest", "national",
             many(lambda: "/packs/" + latest[pick(clusters)].rsplit("/", 1)[0])),
            ("pack HTML file, random pack", "national", many(lambda: f"/packs/{pick(e.packs)}.html")),
            ("cluster's actions, random cluster", "national", many(lambda: f"/packs/{pick(clusters)}/actions")),
        ]
        if e.own_cluster in latest:
            found.append(("CQL: own cluster's latest pack", "cql",
                          ["/packs/" + latest[e.own_cluster].rsplit("/", 1)[0]]))
    return found


def sign_in(base: str, username: str) -> dict[str, str]:
    with httpx.Client(base_url=base, timeout=60) as client:
        token = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/login").text).group(1)
        client.post("/login", data={"username": username, "password": PASSWORD, "csrf_token": token, "next": "/"})
        if client.get("/indicators").status_code != 200:
            raise SystemExit(f"sign-in failed for {username}")
        return dict(client.cookies)


WRK_SCRIPT = r"""
local paths = {}
local threads = {}
non200 = 0  -- globals: done() reads each thread's counts with thread:get
sent = 0
answered = 0

setup = function(thread)
  thread:set("id", #threads + 1)
  table.insert(threads, thread)
end

init = function(args)
  for line in io.lines(args[1]) do paths[#paths + 1] = line end
  math.randomseed(os.time() * 1000 + id)
end

request = function()
  sent = sent + 1
  return wrk.format("GET", paths[math.random(#paths)])
end

response = function(status, headers, body)
  answered = answered + 1
  if status ~= 200 then non200 = non200 + 1 end
end

done = function(summary, latency, requests)
  local bad, unfinished = 0, 0
  for _, thread in ipairs(threads) do
    bad = bad + thread:get("non200")
    unfinished = unfinished + thread:get("sent") - thread:get("answered")
  end
  local e = summary.errors
  local n = summary.requests
  -- the unfinished enter the percentiles at the slowest latency measured (a lower bound of theirs)
  local function pct(q)
    local rank = math.ceil(q * (n + unfinished))
    if rank > n then return latency.max / 1000 end
    return latency:percentile(100 * rank / n) / 1000
  end
  io.write(string.format("RESULT %d %d %d %d %.3f %.3f %.3f %d %d\n", n, bad, e.timeout,
    e.connect + e.read + e.write, pct(0.50), pct(0.95), pct(0.99), summary.duration, unfinished))
end
"""


def run_wrk(base: str, urls: list[str], cookies: dict[str, str], clients: int, seconds: int, timeout: int) -> dict:
    with tempfile.TemporaryDirectory() as folder:
        script, paths = Path(folder) / "random.lua", Path(folder) / "paths.txt"
        script.write_text(WRK_SCRIPT, encoding="utf-8")
        paths.write_text("\n".join(urls) + "\n", encoding="utf-8")
        header = "Cookie: " + "; ".join(f"{k}={v}" for k, v in cookies.items())
        command = ["wrk", "-t1", f"-c{clients}", f"-d{seconds}s", f"--timeout={timeout}s", "-s", str(script),
                   "-H", header, base, "--", str(paths)]
        run = subprocess.run(command, capture_output=True, text=True, timeout=seconds + timeout + 60)
    if "RESULT" not in run.stdout:
        raise SystemExit(f"wrk failed: {run.stderr.strip() or run.stdout.strip()}")
    n, bad, timeouts, socket_errors, p50, p95, p99, micros, unfinished = run.stdout.split("RESULT", 1)[1].split()
    return {"n": int(n) + int(unfinished), "non200": int(bad), "timeouts": int(timeouts), "socket": int(socket_errors),
            "unfinished": int(unfinished), "p50": float(p50), "p95": float(p95), "p99": float(p99),
            "rps": int(n) / (int(micros) / 1e6)}


def run_process(port: int, urls: list[str], cookies: dict[str, str], clients: int, seconds: int,
                timeout: int, seed: int) -> dict:
    """One route's load from benchmarks/loadgen.py in its own process (see its docstring)."""
    job = {"host": "127.0.0.1", "port": port, "urls": urls, "clients": clients, "seconds": seconds,
           "timeout": timeout, "seed": seed, "cookie": "; ".join(f"{k}={v}" for k, v in cookies.items())}
    run = subprocess.run([sys.executable, str(Path(__file__).with_name("loadgen.py"))], input=json.dumps(job),
                         capture_output=True, text=True, timeout=seconds + timeout + 60)
    if run.returncode != 0:
        raise SystemExit(f"the load generator failed: {run.stderr.strip()}")
    return json.loads(run.stdout.strip().splitlines()[-1])


STARTUP_PARTS = r"""
import json, sys, time
t0, c0 = time.perf_counter(), time.process_time()
import gpcluster.web.app
from gpcluster.web.data import WebData
t1, c1 = time.perf_counter(), time.process_time()
data = WebData(sys.argv[1])
t2, c2 = time.perf_counter(), time.process_time()
from gpcluster.indicators.suppression import settings
from gpcluster.web.persisted_release import release_key
key = release_key(data.file, data._pattern, data.rules, settings())
stored = any(data.file.parent.glob(f"{data.file.name}.release-{key}-*.arrow"))
data.load_release()
t3 = time.perf_counter()
print(json.dumps({"import": t1 - t0, "webdata": t2 - t1, "hold": t3 - t2, "import_cpu": c1 - c0,
                  "webdata_cpu": c2 - c1, "stored": stored}))
"""


PAGE_ROUND_TYPES = ("cluster page", "practice page", "indicator page", "API tables", "CSV downloads")


def ready_for_pages(base: str, cookies: dict[str, str], e: Entities, seed: int, limit: float = 180.0) -> tuple[int, float]:
    """Rounds of one request of each page type (different random entities each time) until a round answers
    every request with 200 within the page target; (rounds taken, seconds). Raises SystemExit after `limit`."""

    rng = random.Random(seed + 99)
    tables = ("cluster", "practice", "funnel", "deciles")
    began = time.monotonic()
    rounds = 0
    with httpx.Client(base_url=base, cookies=cookies, timeout=60) as client:
        while time.monotonic() - began < limit:
            rounds += 1
            name = rng.choice(tables)
            key = {"cluster": rng.choice(e.clusters), "practice": rng.choice(e.practices)}.get(
                name, rng.choice(e.indicators))
            urls = [f"/clusters/{rng.choice(e.clusters)}", f"/practices/{rng.choice(e.practices)}",
                    f"/indicators/{rng.choice(e.indicators)}", f"/api/tables/{name}?key={quote(key, safe='')}",
                    f"/download/{name}.csv?key={quote(key, safe='')}"]
            good = True
            for url in urls:
                start = time.monotonic()
                status = client.get(url).status_code
                good &= status == 200 and (time.monotonic() - start) * 1000 < PAGE_TARGET_MS
            if good:
                return rounds, time.monotonic() - began
    raise SystemExit(f"pages were not answered within {PAGE_TARGET_MS:.0f} ms after {limit:.0f} s")


def page_store_state(warehouse: Path) -> str:
    """What the version's page store holds (gpcluster.web.persisted), in words."""
    from gpcluster.web.persisted import PageStore, store_path
    from gpcluster.web.prerender import DONE

    if not store_path(warehouse).exists():
        return "no page store (nothing rendered yet)"
    store = PageStore(warehouse)
    try:
        done = store.marked(DONE)
        return (f"{len(store)} entries, " + (f"shared pages prerendered (seconds by kind: {done})" if done
                                             else "prerendering not finished"))
    finally:
        store.close()


def startup_parts(warehouse: Path) -> dict:
    out = subprocess.run([sys.executable, "-c", STARTUP_PARTS, str(warehouse)], capture_output=True, text=True,
                         timeout=300, check=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--warehouse", type=Path, default=None)
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--duration", type=int, default=30, help="seconds per route")
    parser.add_argument("--workers", type=int, default=2, help="server processes")
    parser.add_argument("--timeout", type=int, default=60, help="client timeout in seconds (an error)")
    parser.add_argument("--client", choices=["process", "wrk"], default="process",
                        help="process (default): benchmarks/loadgen.py in its own process, finishing and counting the "
                             "requests in flight at the end; wrk: in-flight requests at the end counted as unfinished")
    parser.add_argument("--only", default="", help="run only routes whose label contains this (several: separate with |)")
    parser.add_argument("--seed", type=int, default=12)
    parser.add_argument("--port", type=int, default=0, help="the server's port (default: a free one)")
    parser.add_argument("--cold", action="store_true",
                        help="delete the warehouse version's persisted pages first (the server prerenders them "
                             "again, in the background, during the run)")
    parser.add_argument("--first-start", action="store_true",
                        help="delete the disclosed release kept beside the version before the server starts (as at "
                             "the first start of a new version: the server builds it by querying, then keeps it)")
    parser.add_argument("--prepare", action="store_true",
                        help="run the deploy step `gpcluster prepare` before the server starts (after --cold's "
                             "deletion: as a deploy that runs it), timed and printed apart from start-up")
    parser.add_argument("--passes", type=int, default=1,
                        help="runs of each route in a row (the first meets empty caches; later ones show the "
                             "route once pages are cached)")
    args = parser.parse_args()
    use_wrk = args.client == "wrk"
    if use_wrk and shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed (apt-get install wrk); or use --client process")
    from gpcluster import config

    warehouse = Path(os.path.realpath(args.warehouse or config.warehouse_path()))
    if not warehouse.exists():
        raise SystemExit(f"no warehouse at {warehouse}: run `gpcluster demo --no-serve` first")
    entities = read_entities(warehouse, args.seed)
    if args.cold:
        from gpcluster.web.persisted import store_path

        for extra in ("", "-wal", "-shm"):
            Path(str(store_path(warehouse)) + extra).unlink(missing_ok=True)
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        store_url = f"sqlite:///{Path(tmp) / 'store.db'}"
        # the deploy step and the server read the same settings, as in a deployment (the planner's kept
        # comparisons are keyed by its database, the roster's version: one given in the environment is kept,
        # so that a planner prepared beforehand under it is the one served)
        env = {"GPCLUSTER_PLANNER_DB": str(Path(tmp) / "planner.duckdb"), **os.environ,
               "GPCLUSTER_STORE_URL": store_url, "GPCLUSTER_SECRET_KEY": "benchmark-only-secret"}
        demo = demo_store(warehouse)
        if demo is not None:  # a copy of its packs and evaluations (the run's sign-ins and audit stay apart)
            with sqlite3.connect(demo) as source, sqlite3.connect(Path(tmp) / "store.db") as copy:
                source.backup(copy)
            read_store_entities(store_url, entities)
            if (demo.parent / "packs").is_dir():
                env["GPCLUSTER_PACKS_DIR"] = str(demo.parent / "packs")
        prepared = None
        if args.prepare:  # the deploy step, before the server starts: not part of the server's start-up
            began = time.monotonic()
            subprocess.run([sys.executable, "-m", "gpcluster.cli", "prepare", "--warehouse", str(warehouse)],
                           check=True, stdout=subprocess.DEVNULL, env=env)
            prepared = (time.monotonic() - began, os.getloadavg()[0])
        store_state = page_store_state(warehouse)
        parts = startup_parts(warehouse)
        if args.first_start:
            for stored in warehouse.parent.glob(f"{warehouse.name}.release-*.arrow"):
                stored.unlink()
        make_users(store_url, entities)
        port = args.port or free_port()
        started = time.monotonic()
        server = subprocess.Popen([sys.executable, "-m", "gpcluster.cli", "serve", "--host", "127.0.0.1",
                                   "--port", str(port), "--warehouse", str(warehouse), "--workers",
                                   str(args.workers)], env=env, stdout=subprocess.DEVNULL)
        base = f"http://127.0.0.1:{port}"
        try:
            try:
                wait_until_serving(base, server)
                ready = time.monotonic() - started
            except NotServing as exc:
                raise SystemExit(str(exc)) from exc
            cookies = {"national": sign_in(base, "bench-national")}
            rounds, _ = ready_for_pages(base, cookies["national"], entities, args.seed)
            pages_ready = time.monotonic() - started
            load_at_start = os.getloadavg()[0]
            cookies |= {user: sign_in(base, f"bench-{user}") for user in ("cql", "pql", "hscp")}
            for label, user, urls in routes(entities, args.seed):
                if (args.only and not any(part in label for part in args.only.split("|"))
                        and not label.startswith("/health")):  # keep the baseline
                    continue
                for run in range(1 if label.startswith("/health") else args.passes):
                    if use_wrk:
                        r = run_wrk(base, urls, cookies[user], args.clients, args.duration, args.timeout)
                    else:
                        r = run_process(port, urls, cookies[user], args.clients, args.duration, args.timeout,
                                        args.seed + run)
                    r["load"] = os.getloadavg()[0]  # the machine is shared: its load beside every figure
                    results.append((label if run == 0 else f"{label} (pass {run + 1})", r))
                    print(f"  ran {label}: {r['n']} requests", file=sys.stderr, flush=True)
        finally:
            server.terminate()
            server.wait(timeout=30)
    generator = ("wrk (random URL per request, Lua; requests unfinished at the end counted at wrk's slowest latency)"
                 if use_wrk else "benchmarks/loadgen.py in its own process (in-flight requests at the end finished "
                                 "and counted)")
    print(f"warehouse {warehouse}; {len(entities.clusters)} clusters, {len(entities.practices)} practices, "
          f"{len(entities.indicators)} indicators; {args.clients} clients x {args.duration} s per route; "
          f"client timeout {args.timeout} s (an error); {args.workers} server process(es); {os.cpu_count()} CPU(s); "
          f"load generator {generator}")
    print(f"persisted pages of this warehouse version when the server started: {store_state}; disclosed release "
          + ("not kept (deleted: --first-start)" if args.first_start else "kept beside the version"))
    if prepared:
        print(f"deploy step `gpcluster prepare` (before the server started) took {prepared[0]:.1f} s "
              f"(load average {prepared[1]:.1f} at its end)")
    print(f"start-up (load average {load_at_start:.1f}): ready to serve pages {pages_ready:.2f} s after process start "
          f"(target <= 3 s: signed in, a round of cluster, practice and indicator pages, API table and CSV, random "
          f"entities, each 200 within {PAGE_TARGET_MS:.0f} ms; {rounds} round(s)); /health first answered {ready:.2f} s after start")
    print(f"start-up parts: in a fresh "
          f"process: import of the app {parts['import']:.2f} s (CPU {parts['import_cpu']:.2f} s), opening the warehouse view (WebData: definitions, "
          f"suppression pattern, clusters) {parts['webdata']:.2f} s (CPU {parts['webdata_cpu']:.2f} s); then, in the background after start-up, "
          f"reading the disclosed release into memory {parts['hold']:.2f} s ("
          + ("read from the file kept beside the version" if parts["stored"] else
             "built by querying the warehouse, then kept beside the version: the server read that file")
          + f"); load average {os.getloadavg()[0]:.1f}")
    print(f"{'route':<64} {'requests':>8} {'errors':>6} {'p50 ms':>9} {'p95 ms':>9} {'p99 ms':>9} {'req/s':>8} {'load':>5}")
    misses = []
    for label, r in results:
        errors = r["non200"] + r["timeouts"] + r["socket"]
        print(f"{label[:64]:<64} {r['n']:>8} {errors:>6} {r['p50']:>9.1f} {r['p95']:>9.1f} {r['p99']:>9.1f} "
              f"{r['rps']:>8.1f} {r['load']:>5.1f}")
        if label.startswith("/health"):
            continue
        target = PAGE_TARGET_MS
        if errors:
            kinds = [f"{r['timeouts']} timed out (> {args.timeout} s)" if r["timeouts"] else "",
                     f"{r['socket']} connection errors" if r["socket"] else "",
                     *(f"{n} HTTP {code}" for code, n in sorted(r.get("statuses", {}).items()))]
            print(f"{'':<4}errors: {', '.join(k for k in kinds if k) or str(r['non200']) + ' non-200'}")
        if r.get("unfinished"):
            print(f"{'':<4}{r['unfinished']} request(s) unfinished when wrk stopped (in the percentiles at wrk's slowest)")
        if errors or not r["p95"] < target or r["n"] == 0:
            misses.append(f"{label} (p95 {r['p95']:.0f} ms vs {target:.0f} ms, {errors} errors)")
    health = next((r for label, r in results if label.startswith("/health")), None)
    if health:
        print(f"generator ceiling: /health at {health['rps']:.0f} req/s, p95 {health['p95']:.1f} ms")
    page_p95 = [r["p95"] for label, r in results if not label.startswith("/health")]
    if page_p95:
        print(f"median p95 over routes {statistics.median(page_p95):.0f} ms")
    print("targets (every route p95 < 300 ms, 0 errors): " +
          ("met" if not misses else f"NOT met on {len(misses)} route(s): " + "; ".join(misses)))


if __name__ == "__main__":
    main()
