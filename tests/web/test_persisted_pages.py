"""Pages and tables kept on disk beside the warehouse version (gpcluster.web.persisted) and the shared
pages rendered once per version (gpcluster.web.prerender): served only under exactly the key they were
written for (page, entity, role, scope, disclosure settings, version), dropped when the version file or
the code changes, and never served to another scope."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3

import pytest
from fastapi.testclient import TestClient
from warehouse_fixture import FORBIDDEN, OWN_CLUSTER

from conftest import login, make_store
from gpcluster.web import pages
from gpcluster.web.persisted import MISSING, PageStore, _digest, key_text, store_path


@pytest.fixture
def version_file(warehouse_file, tmp_path):
    """A private copy of the test warehouse (each test gets its own page store)."""
    folder = tmp_path / "warehouse.versions"
    folder.mkdir()
    copy = folder / "000001.duckdb"
    shutil.copyfile(warehouse_file, copy)
    return copy


def test_an_entry_is_returned_only_for_exactly_its_key(version_file):
    store = PageStore(version_file)
    national = (("page", "practice.html", ("practice", "10001", None), "national"), ("scotland", None, ()), 5)
    cluster = (("page", "practice.html", ("practice", "10001", None), "cluster"), ("cluster", OWN_CLUSTER, ()), 5)
    store.put(national, {"content": "every practice named"})
    assert store.get(national) == {"content": "every practice named"}
    assert store.get(cluster) is MISSING
    # a row whose digest matches but whose key text does not (a collision, or a tampered row) is not served
    con = sqlite3.connect(store.path)
    con.execute("UPDATE entry SET digest = ? WHERE key = ?", [_digest(key_text(cluster)), key_text(national)])
    con.commit()
    con.close()
    assert store.get(cluster) is MISSING
    assert oct(os.stat(store.path).st_mode & 0o777) == "0o600"


def test_the_store_is_emptied_when_the_version_file_or_the_code_changes(version_file, monkeypatch):
    store = PageStore(version_file)
    store.put(("k",), "v")
    store.close()
    assert PageStore(version_file).get(("k",)) == "v"
    with open(version_file, "ab") as f:  # a plain warehouse file rewritten in place
        f.write(b"\0")
    assert PageStore(version_file).get(("k",)) is MISSING
    again = PageStore(version_file)
    again.put(("k",), "v")
    from gpcluster.web import persisted

    monkeypatch.setattr(persisted, "code_fingerprint", lambda: "another release of gpcluster")
    assert PageStore(version_file).get(("k",)) is MISSING


def test_a_new_version_starts_empty_and_a_removed_one_loses_its_store(version_file):
    PageStore(version_file).put(("k",), "v")
    newer = version_file.with_name("000002.duckdb")
    shutil.copyfile(version_file, newer)
    assert PageStore(newer).get(("k",)) is MISSING
    version_file.unlink()  # pruned
    PageStore(newer)
    assert not store_path(version_file).exists() and store_path(newer).exists()


def _app(version_file, tmp_path, name):
    from gpcluster.web import create_app

    return create_app(version_file, store=make_store(tmp_path / name))


def _client(app, username):
    client = TestClient(app, base_url="http://testserver")
    assert login(client, username).status_code == 303
    return client


def test_a_page_persisted_for_one_scope_is_never_served_to_another(version_file, tmp_path, monkeypatch):
    """A second app (another server process, or a restart) serves the national viewer's indicator page
    from disk without building it, and builds the CQL's own, which names only their cluster's practices."""
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    first = _app(version_file, tmp_path, "a")
    with _client(first, "national") as national:
        wide = national.get("/indicators/high_risk_prescribing")
    assert wide.status_code == 200 and "Bravo Medical Centre" in wide.text
    built = []
    original = pages._indicator_context
    monkeypatch.setattr(pages, "_indicator_context", lambda *args: built.append(args[1].scope_level) or original(*args))
    second = _app(version_file, tmp_path, "b")
    with _client(second, "national") as national, _client(second, "cql") as cql:
        again = national.get("/indicators/high_risk_prescribing")
        narrow = cql.get("/indicators/high_risk_prescribing")
    assert again.status_code == narrow.status_code == 200
    assert built == ["cluster"]  # the national page came from disk; the CQL's was built for their scope
    assert again.text.split("<footer>")[0].count("Bravo Medical Centre") == wide.text.split("<footer>")[0].count(
        "Bravo Medical Centre")
    body = narrow.text.split("<footer>")[0]
    assert "Practice A" in body
    assert not [s for s in FORBIDDEN if s in body]


def test_a_page_persisted_under_other_disclosure_settings_is_not_served(version_file, tmp_path, monkeypatch):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    with _client(_app(version_file, tmp_path, "a"), "national") as national:
        assert national.get("/download/practice.csv?key=10003").status_code == 200
    built = []
    from gpcluster.web import downloads

    original = downloads.csv_bytes
    monkeypatch.setattr(downloads, "csv_bytes", lambda *a: built.append(1) or original(*a))
    monkeypatch.setenv("GPCLUSTER_DISCLOSURE_THRESHOLD", "10")
    from gpcluster import config

    config.clear_cache()
    with _client(_app(version_file, tmp_path, "b"), "national") as national:
        assert national.get("/download/practice.csv?key=10003").status_code == 200
    assert built == [1]


def _assert_same_answer(got, expected, url: str) -> None:
    """The same answer: a table's bytes, or a page's content (its layout carries each response's own CSRF token)."""
    assert got.status_code == expected.status_code == 200, url
    if url.startswith(("/api", "/download")):
        assert got.content == expected.content, url
    else:
        assert got.text.split("<main")[1].split("</main>")[0] == expected.text.split("<main")[1].split("</main>")[0], url


def test_prerendered_pages_are_the_pages_the_requests_build(version_file, tmp_path, monkeypatch):
    """After `prerender`, every shared page is served from disk (no build at all), byte for byte what a
    server without the store renders; a new version file is not prerendered by the old one's work."""
    from gpcluster.web import api, downloads, prerender

    (tmp_path / "plain").mkdir()
    (tmp_path / "served").mkdir()
    urls = ["/practices/10001", "/practices/70001", "/clusters/" + OWN_CLUSTER, "/indicators/high_risk_prescribing",
            "/api/tables/practice?key=10002", "/download/funnel.csv?key=high_risk_prescribing"]
    with _client(_app(version_file, tmp_path, "plain"), "national") as national:
        expected = {url: national.get(url) for url in urls}
    for extra in ("", "-wal", "-shm"):
        (store_path(version_file).parent / (store_path(version_file).name + extra)).unlink(missing_ok=True)
    assert prerender.prerender(version_file) > 0
    assert prerender.prerender(version_file) is None  # done already
    assert PageStore(version_file).marked(prerender.DONE) is not None

    def never(*args, **kwargs):
        raise AssertionError("built although prerendered")

    for module, name in ((pages, "_practice_context"), (pages, "_indicator_context"), (pages, "_cluster_model"),
                         (downloads, "build_table")):
        monkeypatch.setattr(module, name, never)
    monkeypatch.setattr(api, "build_table", never)
    with _client(_app(version_file, tmp_path, "served"), "national") as national:
        for url in urls:
            _assert_same_answer(national.get(url), expected[url], url)


def test_the_release_is_read_into_memory_in_the_background_from_the_start(version_file):
    """Without waiting for a page: a cluster lead's first pages (never prerendered) then read it."""
    from gpcluster.web.data import WebData

    data = WebData(version_file, hold_release=True)
    queried = WebData(version_file, hold_release=False)
    try:
        assert data._holder is not None and queried._holder is None
        data._holder.join(timeout=60)
        assert data.release_held and not queried.release_held
    finally:
        data.close()
        queried.close()


def test_a_cached_cluster_page_shows_the_actions_due_of_the_moment(version_file, tmp_path, monkeypatch):
    """The cluster page's content is kept, its actions due (from the store) are read for every request."""
    (tmp_path / "a").mkdir()
    due = []
    monkeypatch.setattr(pages.loop, "actions_due_for", lambda request, viewer, cluster_id: list(due))
    with _client(_app(version_file, tmp_path, "a"), "cql") as cql:
        before = cql.get(f"/clusters/{OWN_CLUSTER}")
        due.append({"description": "Review <repeat> prescribing", "practice": "Practice A", "owner": "Dr Lead",
                    "due_on": "2025-01-31", "status_words": "open", "overdue": True, "signal": None})
        after = cql.get(f"/clusters/{OWN_CLUSTER}")
    assert before.status_code == after.status_code == 200
    assert "Actions due" not in before.text
    assert "Review &lt;repeat&gt; prescribing" in after.text and 'id="heat-h"' in after.text
    assert after.text.index('id="signals-h"') < after.text.index("actions-due-h") < after.text.index('id="heat-h"')


def test_two_viewers_of_one_role_never_share_a_persisted_page(version_file, tmp_path):
    """Two cluster leads (same role, different clusters): each app process (here: two apps) serves each its
    own indicator page, whichever was persisted first; only the scope tells them apart."""
    from warehouse_fixture import OTHER_CLUSTER

    from conftest import PASSWORD
    from gpcluster.store.accounts import add_user

    for name in ("a", "b"):
        (tmp_path / name).mkdir()
    apps = [_app(version_file, tmp_path, name) for name in ("a", "b")]
    for app in apps:
        with app.state.services.store.session() as session:
            add_user(session, "cql_west", PASSWORD, "cluster", "cluster", OTHER_CLUSTER, display_name="WEST")
    with _client(apps[0], "cql_west") as west:
        first = west.get("/indicators/high_risk_prescribing").text.split("<footer>")[0]
    with _client(apps[1], "cql") as east, _client(apps[1], "cql_west") as west:
        own = east.get("/indicators/high_risk_prescribing").text.split("<footer>")[0]
        again = west.get("/indicators/high_risk_prescribing").text.split("<footer>")[0]
    assert "Bravo Medical Centre" in first and "Alpha Surgery" not in first
    assert "Alpha Surgery" in own and not [s for s in FORBIDDEN if s in own]
    assert "Bravo Medical Centre" in again and "Alpha Surgery" not in again



def test_prerender_renders_every_page_people_open_before_any_table_programs_fetch(version_file):
    """Right after a deploy the store fills while users arrive: indicator, cluster, overview, HSCP, board,
    practice (and prescribing measure) pages first, then the API and CSV tables (which took 100 s for
    Scotland before the practice pages)."""
    from gpcluster.web import prerender
    from gpcluster.web.access import Viewer
    from gpcluster.web.data import WebData

    data = WebData(version_file)
    try:
        work = [what for what, _ in prerender.shared_work(data, Viewer(0, "p", "p", *prerender.NATIONAL))]
        practices = set(data.values(levels=["practice"], period=data.latest_period)["area_code"])
        clusters = list(data.clusters.values())
    finally:
        data.close()
    kinds = [what.split(" ")[0] for what in work]
    first_table = min(kinds.index("api"), kinds.index("csv"))
    page_kinds = {"indicator", "cluster", "overview", "hscp", "board", "practice"}
    assert page_kinds <= set(kinds[:first_table]) <= page_kinds | {"prescribing"}
    assert not (page_kinds | {"prescribing"}) & set(kinds[first_table:])
    assert {what.split(" ")[1] for what in work if what.startswith("practice ")} == practices
    assert {what.split(" ")[2] for what in work if what.startswith("hscp page ")} == {c.hscp_code for c in clusters}
    assert {what.split(" ")[2] for what in work if what.startswith("board page ")} == {c.board_code for c in clusters}


def test_the_code_fingerprint_covers_every_module_pages_depend_on_not_only_the_web_package(tmp_path, monkeypatch):
    """Kept pages show what the disclosure, statistics, formatting and planner modules make: a release
    that changes any of them (a disclosure fix above all) must empty the page store, as one that changes
    a template does. The web's static files (linked, not rendered) and byte code do not count."""
    from importlib.resources import files

    from gpcluster.web import persisted

    package = tmp_path / "gpcluster"
    shutil.copytree(str(files("gpcluster")), package, ignore=shutil.ignore_patterns("__pycache__"))
    monkeypatch.setattr(persisted, "files", lambda name: package.joinpath(*name.split(".")[1:]))

    def fingerprint() -> str:
        return persisted.code_fingerprint.__wrapped__()

    before = fingerprint()
    assert fingerprint() == before
    for changed in ("stats/disclosure.py", "workforce/compare.py", "formatting.py", "web/templates/base.html"):
        path = package / changed
        original = path.read_bytes()
        path.write_bytes(original + b"\n")
        assert fingerprint() != before, changed
        path.write_bytes(original)
    assert fingerprint() == before
    static = next((package / "web" / "static").rglob("*.css"))
    static.write_bytes(static.read_bytes() + b"\n")
    (package / "stats" / "__pycache__").mkdir(exist_ok=True)
    (package / "stats" / "__pycache__" / "x.pyc").write_bytes(b"byte code")
    assert fingerprint() == before


def test_the_deploy_step_prepares_the_release_and_every_shared_page_once_and_for_this_code_only(
        version_file, monkeypatch):
    """`gpcluster prepare`: the disclosed release and the shared pages kept beside the version before any
    server starts; a second run finds them done; pages kept by other code are never served (the store is
    emptied when the code's fingerprint differs, so a deploy of new code must prepare again)."""
    from typer.testing import CliRunner

    from gpcluster.cli import app
    from gpcluster.web import persisted, prerender

    result = CliRunner().invoke(app, ["prepare", "--warehouse", str(version_file)])
    assert result.exit_code == 0, result.output
    assert "Prepared" in result.output
    assert list(version_file.parent.glob(version_file.name + ".release-*.arrow"))
    store = PageStore(version_file)
    done = store.marked(prerender.DONE)
    assert done is not None and len(store) > 0
    store.close()
    assert prerender.prepare(version_file) == json.loads(done)  # done already: nothing again
    monkeypatch.setattr(persisted, "code_fingerprint", lambda: "another release of gpcluster")
    assert PageStore(version_file).marked(prerender.DONE) is None


def test_the_deploy_step_waits_for_a_prerender_already_at_work_instead_of_leaving(version_file):
    import fcntl
    import threading
    import time

    from gpcluster.web import prerender

    held = threading.Event()

    def hold_the_lock():
        with open(prerender.lock_path(version_file), "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            held.set()
            time.sleep(1.0)

    holder = threading.Thread(target=hold_the_lock)
    holder.start()
    held.wait()
    assert prerender.prerender(version_file) is None  # the server's background prerender leaves
    assert prerender.prerender(version_file, wait=True) > 0  # the deploy step waits, then renders
    holder.join()
    assert PageStore(version_file).marked(prerender.DONE) is not None


def test_the_deploy_step_refuses_a_version_whose_pages_cannot_be_kept(version_file, monkeypatch):
    from gpcluster.errors import UserError
    from gpcluster.web import prerender

    monkeypatch.setattr(PageStore, "_prepare", lambda self: (_ for _ in ()).throw(OSError("read-only")))
    with pytest.raises(UserError, match="cannot be kept"):
        prerender.prepare(version_file)


def test_the_deploy_step_in_several_processes_keeps_exactly_what_one_process_keeps(version_file):
    from gpcluster.web import prerender

    def entries():
        con = sqlite3.connect(store_path(version_file))
        try:
            return dict(con.execute("SELECT key, value FROM entry").fetchall())
        finally:
            con.close()

    assert "total" in prerender.prepare(version_file, processes=3)
    shared = entries()
    for extra in ("", "-wal", "-shm"):
        (store_path(version_file).parent / (store_path(version_file).name + extra)).unlink(missing_ok=True)
    prerender.prepare(version_file, processes=1)
    alone = entries()
    assert len(alone) > 20 and shared.keys() == alone.keys()
    national = [key for key in alone if "('scotland', None, ())" in key]
    assert national and all(shared[key] == alone[key] for key in national)  # no pseudonyms: the same bytes
    assert any("('hscp', 'S37000030', ())" in key for key in alone)  # and the HSCPs' work too


def test_the_deploy_step_prepares_what_each_hscps_viewers_share_under_their_own_scope(version_file, tmp_path,
                                                                                      monkeypatch):
    """After `prepare`, an HSCP planner's cluster and practice pages and API tables of their HSCP are served
    from disk (no build at all): the cluster and practice ones byte for byte what a server without the store
    renders for them; the funnel names only the HSCP's own practices (the others pseudonymised, as ever)."""
    from gpcluster.web import api, downloads, prerender

    for name in ("plain", "served"):
        (tmp_path / name).mkdir()
    exact = ["/clusters/S37000030/linlithgow", "/practices/80001", "/api/tables/cluster?key=S37000030/linlithgow",
             "/api/tables/practice?key=80002"]
    scoped = ["/api/tables/funnel?key=high_risk_prescribing", "/api/tables/deciles?key=emergency_admission_rate"]
    with _client(_app(version_file, tmp_path, "plain"), "hscp_lothian") as planner:
        expected = {url: planner.get(url) for url in exact}
    for extra in ("", "-wal", "-shm"):
        (store_path(version_file).parent / (store_path(version_file).name + extra)).unlink(missing_ok=True)
    done = prerender.prepare(version_file, processes=1)
    assert {"hscp cluster", "hscp practice", "hscp api funnel"} <= set(done)

    def never(*args, **kwargs):
        raise AssertionError("built although prepared")

    for module, name in ((pages, "_practice_context"), (pages, "_cluster_model"), (downloads, "build_table")):
        monkeypatch.setattr(module, name, never)
    monkeypatch.setattr(api, "build_table", never)
    with _client(_app(version_file, tmp_path, "served"), "hscp_lothian") as planner:
        for url in exact:
            _assert_same_answer(planner.get(url), expected[url], url)
        for url in scoped:
            got = planner.get(url)
            assert got.status_code == 200, url
            assert not [name for name in ("Alpha Surgery", "Bravo Medical Centre", "10001", "70001") if name in got.text]
