"""Render the pages every national viewer shares, once per warehouse version, into the version's page
store (gpcluster.web.persisted), so that no user's request pays for a first render.

`gpcluster serve` starts this in a separate process at low CPU priority when it opens a warehouse version
(at start-up and after a load) unless the `web_prerender` setting is off; one process per version does
the work (a file lock), the others find it done or running. It renders, for the national role and
scope (role `national`, scope Scotland), in this order: every indicator page, every cluster page as it
opens (all but its actions due, which come from the store), the overview, every HSCP and board page,
every practice page as it opens (the default indicator), every prescribing measure's page as it opens
(no practice chosen), then every table of the API and of the CSV downloads (cluster, practice, funnel,
deciles): the pages people open before the tables programs fetch. Then, for the viewers of each HSCP
(role and scope `hscp`, `hscp_work`): the HSCP's cluster and practice pages and the API's tables of its
clusters and practices and of every indicator's funnel and deciles. Last, the planner's comparisons with
the shipped assumptions, for the national scope and each HSCP's (`planner_work`).
The entries are written under exactly the keys the
requests use (`gpcluster.web.cache.full_key`), so every other role and scope still gets pages built for
its own scope, on first request, and kept the same way.
"""

from __future__ import annotations

import argparse
import fcntl
import itertools
import json
import logging
import os
import subprocess
import sys
import time
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path

log = logging.getLogger(__name__)

#: the store's mark saying the shared pages of its version are all rendered (value: JSON, seconds taken by kind)
DONE = "prerendered"
NATIONAL = ("national", "scotland", None)
#: role and scope level of an HSCP's viewers (an HSCP planner); the scope's code is the HSCP's
HSCP = ("hscp", "hscp")


def lock_path(version_file: Path) -> Path:
    return Path(str(version_file) + ".prerender.lock")


def start_in_background(version_file: Path) -> subprocess.Popen | None:
    """Start prerendering `version_file` in a separate low-priority process, unless it is already done;
    returns the process (None when done). A process that finds another already at work exits at once."""
    from gpcluster.web.persisted import PageStore

    store = PageStore(version_file)
    try:
        if not store.enabled or store.marked(DONE) is not None:
            return None
    finally:
        store.close()
    return subprocess.Popen([sys.executable, "-m", "gpcluster.web.prerender", str(version_file),
                             "--parent", str(os.getpid())],
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, start_new_session=True)


def shared_work(data, viewer) -> Iterator[tuple[str, Callable[[object], object]]]:
    """(what, render) for every shared page and table; each render takes the cache to fill."""
    from gpcluster.web import pages, prescribing
    from gpcluster.web.api import table_body
    from gpcluster.web.downloads import download_body

    for indicator_id in data.indicators:
        yield f"indicator {indicator_id}", lambda c, i=indicator_id: pages.indicator_blocks(c, data, viewer, i)
    for cluster_id in data.clusters:
        yield f"cluster {cluster_id}", lambda c, i=cluster_id: pages.cluster_blocks(c, data, viewer, i, [], False)
    yield "overview", lambda c: pages.overview_blocks(c, data, viewer)
    for level, codes in (("hscp", {c.hscp_code for c in data.clusters.values()}),
                         ("board", {c.board_code for c in data.clusters.values()})):
        for code in sorted(codes):
            yield f"{level} page {code}", lambda c, lv=level, a=code: pages.area_model(c, data, viewer, lv, a)
    practices = sorted(set(data.values(levels=["practice"], period=data.latest_period)["area_code"]))
    # the pages people open before the tables programs fetch: right after a deploy, practice pages were
    # first renders for the 100 s the API and CSV tables took before them
    for code in practices:
        yield f"practice {code}", lambda c, p=code: pages.practice_blocks(c, data, viewer, p, None)
    for indicator_id, (_, definition) in prescribing.prescribing_measures(data).items():
        yield (f"prescribing {indicator_id}",
               lambda c, i=indicator_id, d=definition: prescribing.measure_model(c, data, viewer, i, d))
    keys = {"cluster": list(data.clusters), "practice": practices, "funnel": list(data.indicators),
            "deciles": list(data.indicators)}
    for name, names in keys.items():
        for key in names:
            yield f"api {name} {key}", lambda c, n=name, k=key: table_body(c, data, viewer, n, k)
            yield f"csv {name} {key}", lambda c, n=name, k=key: download_body(c, data, viewer, n, k, "csv")


def hscp_work(data) -> Iterator[tuple[str, Callable[[object], object]]]:
    """(what, render) for what the viewers of each HSCP share (role and scope `hscp`, as an HSCP planner
    signs in): the cluster and practice pages of the HSCP as they open, and the API's tables an HSCP's
    programs fetch (its clusters' and practices', and every indicator's funnel and deciles, which name
    only the HSCP's practices). Each under exactly the key the HSCP viewer's request uses, so an HSCP's
    first requests read them instead of building them in every server process."""
    from gpcluster.web import pages
    from gpcluster.web.access import Viewer
    from gpcluster.web.api import table_body

    latest = data.values(levels=["practice"], period=data.latest_period)[["area_code", "hscp_code"]]
    practices: dict[str, list[str]] = {}
    for code, hscp in sorted(set(zip(latest["area_code"], latest["hscp_code"], strict=True)), key=str):
        practices.setdefault(hscp, []).append(code)
    for hscp in sorted({c.hscp_code for c in data.clusters.values()}):
        viewer = Viewer(0, "prerender", "prerender", *HSCP, hscp)
        clusters = [c.cluster_id for c in data.clusters.values() if c.hscp_code == hscp]
        for cluster_id in clusters:
            yield (f"hscp cluster {hscp}/{cluster_id}",
                   lambda c, i=cluster_id, v=viewer: pages.cluster_blocks(c, data, v, i, [], False))
        for code in practices.get(hscp, []):
            yield (f"hscp practice {hscp}/{code}",
                   lambda c, p=code, v=viewer: pages.practice_blocks(c, data, v, p, None))
        keys = {"cluster": clusters, "practice": practices.get(hscp, []), "funnel": list(data.indicators),
                "deciles": list(data.indicators)}
        for name, names in keys.items():
            for key in names:
                yield (f"hscp api {name} {hscp}/{key}",
                       lambda c, n=name, k=key, v=viewer: table_body(c, data, v, n, k))


def planner_work(data) -> Iterator[tuple[str, Callable[[object], object]]]:
    """(what, render) for the planner's comparisons with the shipped assumptions, as a national viewer
    and as each HSCP's viewers see them (gpcluster.web.planner.prepare_planner: the allocations, every
    comparison of two models and a role, and its page). Kept in the planner's own caches under the keys
    its requests use, not in the cache given."""
    from gpcluster.web.access import Viewer
    from gpcluster.web.planner import prepare_planner, source_of

    source = source_of(data)
    yield "planner scotland", lambda c: prepare_planner(source, Viewer(0, "prerender", "prerender", *NATIONAL))
    for hscp in sorted({c.hscp_code for c in data.clusters.values()}):
        yield (f"planner hscp {hscp}",
               lambda c, v=Viewer(0, "prerender", "prerender", *HSCP, hscp): prepare_planner(source, v))


def prerender(version_file: Path, parent: int | None = None, wait: bool = False, processes: int = 1) -> int | None:
    """Render the shared pages of one warehouse version into its page store; the number rendered, or None
    when another process holds the work or it was done already. `wait` (the deploy step, `prepare`):
    wait for a process already at work instead of leaving, and share the release's build with servers
    starting meanwhile. `processes`: render in that many processes at once, each a share of the pages
    (the deploy step, with the machine to itself); the store is marked done when every share is."""
    from gpcluster.web.data import WebData

    version_file = Path(os.path.realpath(version_file))
    with open(lock_path(version_file), "a") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX if wait else fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return None
        began = time.monotonic()
        data = WebData(version_file)
        try:
            if data.pages.marked(DONE) is not None:
                return None
            # niced in the background: the servers must not wait for its build
            data.load_release(wait_for_others=wait)
            seconds = {"release": time.monotonic() - began}
            shares = [subprocess.Popen([sys.executable, "-m", "gpcluster.web.prerender", str(version_file),
                                        "--share", f"{index}/{processes}"], stdin=subprocess.DEVNULL)
                      for index in range(1, processes)]
            try:
                done = render_share(data, 0, processes, seconds, parent)
            finally:
                failed = [share.args[-1] for share in shares if share.wait() != 0]
            if done is None or failed:
                if failed:
                    log.warning("prerendering: share(s) %s failed; left unfinished", ", ".join(failed))
                return done
            # by kind: this process's share (the others' ran alongside); total: from start to the end of every share
            seconds["total"] = time.monotonic() - began
            if processes > 1:
                seconds["processes"] = processes
            data.pages.mark(DONE, json.dumps({k: round(v, 1) for k, v in seconds.items()}))
            return done
        finally:
            data.close()


def render_share(data, index: int, count: int, seconds: dict[str, float], parent: int | None = None) -> int | None:
    """Render the `index`-th of `count` shares of the shared pages (by a checksum of each page's name)
    into the store; the number rendered (None
    when the server `parent` stopped first), adding the seconds taken by kind to `seconds`."""
    from gpcluster.web import tables
    from gpcluster.web.access import Viewer
    from gpcluster.web.cache import ReleasedCache
    from gpcluster.web.data import pinned

    viewer = Viewer(0, "prerender", "prerender", *NATIONAL)
    cache = ReleasedCache(size=64, max_bytes=64 * 1024 * 1024)  # the store keeps them; memory need not
    done = 0
    with pinned(data):
        for what, render in itertools.chain(shared_work(data, viewer), hscp_work(data), planner_work(data)):
            if count > 1 and zlib.crc32(what.encode()) % count != index:  # the same share in every process
                continue
            if parent is not None and os.getppid() != parent:
                log.info("the server stopped; prerendering left unfinished")
                return None
            start = time.monotonic()
            try:
                render(cache)
                done += 1
            except tables.NotFound:
                log.info("nothing to render for %s", what)
            kind = what.rsplit(" ", 1)[0]
            seconds[kind] = seconds.get(kind, 0.0) + time.monotonic() - start
    return done


def prepare(version_file: Path, processes: int | None = None) -> dict[str, float]:
    """The deploy step: the disclosed release and every shared page of a warehouse version, built now at
    full priority (in one process per core unless `processes` says otherwise) and kept beside the
    version, so that a server started afterwards only opens and reads them (`gpcluster prepare`).
    Returns the seconds taken by kind, as marked in the page store. Both are keyed by the code's
    fingerprint: run it after every deploy of new code, as well as after every load."""
    from gpcluster.errors import UserError
    from gpcluster.web.persisted import PageStore

    version_file = Path(os.path.realpath(version_file))
    store = PageStore(version_file)
    try:
        if not store.enabled:
            raise UserError(f"the pages of {version_file} cannot be kept beside it (is its folder writable?)")
    finally:
        store.close()
    prerender(version_file, wait=True, processes=processes or os.cpu_count() or 1)
    store = PageStore(version_file)
    try:
        done = store.marked(DONE)
    finally:
        store.close()
    if done is None:
        raise UserError(f"preparing {version_file} did not finish (see the log above)")
    return json.loads(done)


def main() -> None:
    parser = argparse.ArgumentParser(description="Render the shared pages of a warehouse version.")
    parser.add_argument("version_file", type=Path)
    parser.add_argument("--parent", type=int, default=None, help="stop when this process is gone")
    parser.add_argument("--share", default=None,
                        help="INDEX/COUNT: render only that share, at full priority, for a deploy step holding the lock")
    args = parser.parse_args()
    if args.share:
        from gpcluster.web.data import WebData

        index, count = (int(part) for part in args.share.split("/"))
        data = WebData(Path(os.path.realpath(args.version_file)))
        try:
            data.load_release()  # built by the deploy step before it started the shares: read from the file
            render_share(data, index, count, {})
        finally:
            data.close()
        return
    os.nice(10)  # the server's requests come first
    prerender(args.version_file, args.parent)

if __name__ == "__main__":
    main()
