"""The loop in the store (SQLite and PostgreSQL): who may respond, what a response needs, locking when the
meeting is recorded, actions tracked and ordered overdue first, and an audit event for every change."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from pack_fixtures import EARLIER, EARLIER_SIGNALS, OWN_CLUSTER, PQL_PRACTICE, publish_one
from sqlalchemy import select

from gpcluster.packs import loop
from gpcluster.store.models import AuditEvent, LoopAction, SignalResponse, User

NOW = datetime(2024, 10, 15, 9, 0, tzinfo=UTC)
PQL_SIGNALS = [s for s, (code, _) in EARLIER_SIGNALS.items() if code == PQL_PRACTICE]


@pytest.fixture
def published(loop_warehouse, loop_store, packs_home):
    result = publish_one(loop_warehouse, loop_store, EARLIER, now=NOW)
    assert result.version == 1
    return loop_store


def _user(session, name: str) -> User:
    return session.scalar(select(User).where(User.username == name))


def _respond(store, who, signal_id, kind, reason=None, action=None, now=NOW):
    with store.session() as session:
        return loop.record_response(session, _user(session, who), OWN_CLUSTER, EARLIER, signal_id, kind, reason,
                                    action, ip="10.0.0.1", now=now)


def _events(store, action: str) -> list[AuditEvent]:
    with store.session() as session:
        return list(session.scalars(select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id)))


def test_published_pack_lists_its_signals_and_practices(published):
    with published.session() as session:
        pack = loop.current_pack(session, OWN_CLUSTER, EARLIER)
        signals = {s.signal_id for s in loop.pack_signals(session, pack)}
        practices = loop.pack_practices(session, pack)
    assert signals == set(EARLIER_SIGNALS)
    assert practices == {"10001": "Alpha Surgery", "10002": "Amber Health Centre", "10003": "Acorn Medical Practice"}


def test_only_the_practices_pql_may_respond(published):
    with pytest.raises(loop.NotAllowed):
        _respond(published, "pql_alpha", PQL_SIGNALS[0], "accepted")  # another practice of the cluster
    with pytest.raises(loop.NotAllowed):
        _respond(published, "cql", PQL_SIGNALS[0], "accepted")  # the CQL answers for cluster-level signals only
    with pytest.raises(loop.NotAllowed):
        _respond(published, "pql_other", PQL_SIGNALS[0], "accepted")
    _respond(published, "pql", PQL_SIGNALS[0], "accepted")
    assert [e.username for e in _events(published, "response_recorded")] == ["pql"]


def test_explained_needs_a_reason_and_an_action_needs_owner_and_due_date(published):
    with pytest.raises(loop.LoopError, match="reason"):
        _respond(published, "pql", PQL_SIGNALS[0], "explained", "   ")
    with pytest.raises(loop.LoopError, match="owner"):
        _respond(published, "pql", PQL_SIGNALS[0], "action_agreed", None,
                 loop.ActionInput("Audit admissions", "", date(2024, 12, 1)))
    with pytest.raises(loop.LoopError, match="has passed"):
        _respond(published, "pql", PQL_SIGNALS[0], "action_agreed", None,
                 loop.ActionInput("Audit admissions", "Dr Brown", date(2024, 10, 1)))
    with pytest.raises(loop.LoopError, match="control characters"):
        _respond(published, "pql", PQL_SIGNALS[0], "explained", "a care home\x1b[31m opened")
    with pytest.raises(loop.LoopError, match="not in the"):
        _respond(published, "pql", "practice:70001:emergency_admission_rate:2024-07", "accepted")
    assert _events(published, "response_recorded") == []  # nothing half-recorded


def test_action_agreed_creates_a_tracked_action_and_editing_updates_it(published):
    _respond(published, "pql", PQL_SIGNALS[1], "action_agreed", "Review repeat prescribing",
             loop.ActionInput("Review every high-risk prescription", "Dr Brown", date(2024, 12, 1)))
    _respond(published, "pql", PQL_SIGNALS[1], "action_agreed", None,
             loop.ActionInput("Review every high-risk prescription", "Practice pharmacist", date(2025, 1, 10)),
             now=NOW + timedelta(hours=2))
    with published.session() as session:
        [action] = session.scalars(select(LoopAction)).all()
        response = session.scalar(select(SignalResponse))
    assert (action.owner, action.due_on, action.status, action.practice_code) == (
        "Practice pharmacist", date(2025, 1, 10), "open", PQL_PRACTICE)
    assert response.action_id == action.id and response.created_at < response.updated_at
    assert [e.detail for e in _events(published, "response_changed")] == ["action_agreed"]
    # changing the response to something else drops the action (it is not silently left open)
    _respond(published, "pql", PQL_SIGNALS[1], "not_relevant", "the register was wrong")
    with published.session() as session:
        assert session.get(LoopAction, action.id).status == "dropped"
    assert _events(published, "response_changed")[-1].detail == "action_agreed -> not_relevant"


def test_recording_the_meeting_locks_responses_with_who_and_when(published):
    _respond(published, "pql", PQL_SIGNALS[0], "explained", "A new care home opened in June.")
    held = NOW + timedelta(days=10)
    with published.session() as session:
        loop.record_meeting(session, _user(session, "cql"), OWN_CLUSTER, EARLIER, held.date(), [PQL_PRACTICE, "10001"],
                            "Share the care-home pathway.", "Admissions follow new care homes.",
                            [loop.ActionInput("Write to the HSCP about care-home cover", "CQL", date(2025, 1, 31))],
                            now=held)
    with published.session() as session:
        response = session.scalar(select(SignalResponse))
        assert (response.locked_by, response.locked_at) == ("cql", held)
        assert {a.meeting_id is not None for a in session.scalars(select(LoopAction))} == {True}
    with pytest.raises(loop.LoopError, match="locked"):
        _respond(published, "pql", PQL_SIGNALS[0], "accepted", now=held + timedelta(hours=1))
    with pytest.raises(loop.LoopError, match="recorded"):  # a signal not answered before the meeting
        _respond(published, "pql", PQL_SIGNALS[1], "accepted", now=held + timedelta(hours=1))
    [event] = _events(published, "meeting_recorded")
    assert event.username == "cql" and "2 practices present; 1 actions; 1 responses locked" in event.detail


def test_only_the_cql_records_the_meeting_and_only_with_the_clusters_practices(published):
    with published.session() as session:
        with pytest.raises(loop.NotAllowed):
            loop.record_meeting(session, _user(session, "pql"), OWN_CLUSTER, EARLIER, NOW.date(), [], None, None,
                                now=NOW)
        with pytest.raises(loop.NotAllowed):
            loop.record_meeting(session, _user(session, "cql_other"), OWN_CLUSTER, EARLIER, NOW.date(), [], None,
                                None, now=NOW)
        with pytest.raises(loop.LoopError, match="70001 is not in the cluster"):
            loop.record_meeting(session, _user(session, "cql"), OWN_CLUSTER, EARLIER, NOW.date(), ["70001"], None,
                                None, now=NOW)
        with pytest.raises(loop.LoopError, match="in the future"):
            loop.record_meeting(session, _user(session, "cql"), OWN_CLUSTER, EARLIER, NOW.date() + timedelta(days=1),
                                [], None, None, now=NOW)


def test_planning_then_recording_and_changing_the_record_is_audited(published):
    with published.session() as session:
        cql = _user(session, "cql")
        loop.plan_meeting(session, cql, OWN_CLUSTER, EARLIER, date(2024, 10, 20), now=NOW)
        loop.plan_meeting(session, cql, OWN_CLUSTER, EARLIER, date(2024, 10, 22), now=NOW)
    with published.session() as session:
        cql = _user(session, "cql")
        loop.record_meeting(session, cql, OWN_CLUSTER, EARLIER, date(2024, 10, 22), ["10001"], "d", "l",
                            now=NOW + timedelta(days=8))
        loop.record_meeting(session, cql, OWN_CLUSTER, EARLIER, date(2024, 10, 22), ["10001", "10003"], "d2", "l",
                            now=NOW + timedelta(days=9))
    assert [e.detail for e in _events(published, "meeting_planned")] == ["meets 2024-10-20", "meets 2024-10-22"]
    assert len(_events(published, "meeting_recorded")) == 1 and len(_events(published, "meeting_changed")) == 1
    with published.session() as session:
        row = loop.meeting(session, OWN_CLUSTER, EARLIER)
        assert sorted(loop.attendance(session, row)) == ["10001", "10003"] and row.decisions == "d2"


def test_actions_due_overdue_first_and_who_may_close_them(published):
    with published.session() as session:
        cql = _user(session, "cql")
        loop.record_meeting(session, cql, OWN_CLUSTER, EARLIER, NOW.date(), [], None, None, [
            loop.ActionInput("Later", "A", date(2024, 12, 20)),
            loop.ActionInput("Soon", "B", date(2024, 11, 1), PQL_PRACTICE),
            loop.ActionInput("Sooner", "C", date(2024, 10, 20))], now=NOW)
    with published.session() as session:
        due = loop.actions_due(session, OWN_CLUSTER, date(2024, 11, 5))
    assert [(a["description"], a["overdue"]) for a in due] == [("Sooner", True), ("Soon", True), ("Later", False)]
    assert due[1]["practice"] == "Amber Health Centre"
    with published.session() as session:
        with pytest.raises(loop.NotAllowed):
            loop.update_action(session, _user(session, "pql_alpha"), due[1]["id"], "done")
        loop.update_action(session, _user(session, "pql"), due[1]["id"], "done", "audit finished")
        with pytest.raises(loop.NotAllowed):  # a cluster-wide action is the CQL's
            loop.update_action(session, _user(session, "pql"), due[0]["id"], "done")
    with published.session() as session:
        assert [a["description"] for a in loop.actions_due(session, OWN_CLUSTER, date(2024, 11, 5))] == [
            "Sooner", "Later"]
    assert _events(published, "action_changed")[-1].detail == "open -> done"
