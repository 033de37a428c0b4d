"""Behaviour the app relies on under concurrent load: audit events written off the request path (none
lost, request time kept) and one build per cached page however many requests arrive at once."""

import threading
import time

import pytest

from gpcluster.store import audit
from gpcluster.store.accounts import add_user
from gpcluster.web.access import Viewer
from gpcluster.web.audit_writer import AuditWriter
from gpcluster.web.cache import ReleasedCache


def test_audit_writer_commits_every_event_from_many_threads(app):
    store = app.state.services.store
    with store.session() as session:
        user_id = add_user(session, "cql-a", "a long enough passphrase", "cluster", "cluster", "S37000007/dundee-east").id
    writer = AuditWriter(store)
    threads = [threading.Thread(target=lambda i=i: [writer.submit("view_cluster", user_id, target=f"t{i}-{j}")
                                                    for j in range(25)]) for i in range(8)]
    before = time.time()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    writer.flush()
    with store.session() as session:
        events = audit.recent(session, 1000, action="view_cluster")
    assert len(events) == 200 and {e.username for e in events} == {"cql-a"}
    assert {e.target for e in events} == {f"t{i}-{j}" for i in range(8) for j in range(25)}
    assert all(e.at.timestamp() >= before - 1 for e in events)


def test_audit_writer_names_the_user_as_stored_and_no_one_for_an_account_gone(app):
    store = app.state.services.store
    with store.session() as session:
        user_id = add_user(session, "hscp-w", "a long enough passphrase", "hscp", "hscp", "S37000030").id
    writer = AuditWriter(store)
    writer.submit("view_plan", user_id, target="named")
    writer.submit("view_plan", 987654, target="gone")  # no such account (deleted meanwhile)
    writer.submit("view_plan", None, target="anonymous")
    writer.flush()
    with store.session() as session:
        events = {e.target: e for e in audit.recent(session, 1000, action="view_plan")}
    assert (events["named"].user_id, events["named"].username) == (user_id, "hscp-w")
    assert (events["gone"].user_id, events["gone"].username) == (None, None)
    assert (events["anonymous"].user_id, events["anonymous"].username) == (None, None)


def test_audit_writer_refuses_unknown_actions_in_the_request(app):
    writer = AuditWriter(app.state.services.store)
    with pytest.raises(ValueError, match="unknown audit action"):
        writer.submit("peek", None)


def test_cache_builds_a_page_once_for_simultaneous_requests():
    cache = ReleasedCache()
    viewer = Viewer(1, "cql", "CQL", "cluster", "cluster", "S37000007/dundee-east")
    calls = []
    start = threading.Barrier(20)

    def build():
        calls.append(1)
        time.sleep(0.05)
        return "page"

    results = []

    def request():
        start.wait()
        results.append(cache.get(("cluster", "x"), viewer, build))

    threads = [threading.Thread(target=request) for _ in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == ["page"] * 20 and len(calls) == 1
    other = Viewer(2, "hscp", "HSCP", "hscp", "hscp", "S37000007")
    assert cache.get(("cluster", "x"), other, build) == "page" and len(calls) == 2  # scope is part of the key
