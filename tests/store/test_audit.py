"""The audit log: known actions only, newest first, filterable, timestamps in UTC."""

from __future__ import annotations

from datetime import UTC, timedelta

import pytest

from gpcluster.store import audit
from gpcluster.store.accounts import add_user
from gpcluster.store.models import AUDIT_ACTIONS


def test_every_contract_action_is_accepted_and_read_back_newest_first(store, clock):
    with store.session() as session:
        user = add_user(session, "alice", "correct horse battery", "national", "scotland", None)
        for action in AUDIT_ACTIONS:
            audit.record(session, action, user=user, target="S37000007", detail=action, ip="10.1.1.1", at=clock())
            clock.advance(1)
    with store.session() as session:
        events = audit.recent(session, 100)
    assert [e.action for e in events] == list(reversed(AUDIT_ACTIONS))
    assert {(e.username, e.user_id, e.target, e.ip) for e in events} == {("alice", user.id, "S37000007", "10.1.1.1")}
    assert events[0].at == clock() - timedelta(seconds=1)
    assert events[0].at.tzinfo is not None and events[0].at.utcoffset() == timedelta(0)


def test_recent_limits_and_filters(store, clock):
    with store.session() as session:
        for i in range(5):
            audit.record(session, "export" if i % 2 else "view_cluster", target=f"t{i}", at=clock())
            clock.advance(1)
    with store.session() as session:
        assert [e.target for e in audit.recent(session, 2)] == ["t4", "t3"]
        assert [e.target for e in audit.recent(session, 10, action="export")] == ["t3", "t1"]


def test_unknown_action_is_refused(store):
    with pytest.raises(ValueError, match="unknown audit action 'viewed'"), store.session() as session:
        audit.record(session, "viewed")


def test_times_are_kept_in_utc_whatever_zone_they_arrive_in(store):
    from datetime import datetime, timezone

    bst = timezone(timedelta(hours=1))
    with store.session() as session:
        audit.record(session, "logout", at=datetime(2026, 6, 1, 10, 0, tzinfo=bst))
    with store.session() as session:
        [event] = audit.recent(session, 1)
    assert event.at == datetime(2026, 6, 1, 9, 0, tzinfo=UTC)
    assert event.at.utcoffset() == timedelta(0)


def test_anonymous_events_have_no_user(store):
    with store.session() as session:
        audit.record(session, "login_failed", target="mallory", ip="10.9.9.9")
    with store.session() as session:
        [event] = audit.recent(session, 1)
    assert (event.user_id, event.username, event.target) == (None, None, "mallory")


def test_concurrent_writers_all_land(store):
    """Page views write audit events from many threads at once (the web app, the load benchmark)."""
    from concurrent.futures import ThreadPoolExecutor

    def write(worker: int) -> None:
        for i in range(20):
            with store.session() as session:
                audit.record(session, "view_cluster", target=f"w{worker}-{i}")

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(write, range(8)))
    with store.session() as session:
        targets = {e.target for e in audit.recent(session, 1000)}
    assert targets == {f"w{w}-{i}" for w in range(8) for i in range(20)}
