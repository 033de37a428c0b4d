"""Store-held sign-in sessions (issue 13, F5): ended by sign-out, by disabling the account or changing its
password, and by idle and absolute timeouts. The clock is injected."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from gpcluster.store import sessions
from gpcluster.store.accounts import add_user, disable_user, enable_user, set_password
from gpcluster.store.models import WebSession

IDLE, MAX_AGE = 1800, 8 * 3600


@pytest.fixture
def alice_id(store) -> int:
    with store.session() as session:
        return add_user(session, "alice", "correct horse battery", "national", "scotland", None).id


def _start(store, user_id, clock) -> str:
    with store.session() as session:
        return sessions.start(session, user_id, "10.0.0.1", now=clock())


def _check(store, token, clock, seen_at=None):
    with store.session() as session:
        return sessions.check(session, token, now=clock(), seen_at=seen_at)


def test_only_a_hash_of_the_token_is_stored(store, alice_id, clock):
    token = _start(store, alice_id, clock)
    with store.session() as session:
        [row] = session.scalars(select(WebSession)).all()
    assert row.id == sessions.token_id(token) and token not in row.id and len(token) >= 40
    assert _check(store, token, clock).user_id == alice_id
    assert _check(store, row.id, clock) is None  # the stored value does not work as a token


def test_sign_out_ends_the_session_for_every_copy(store, alice_id, clock):
    token, other = _start(store, alice_id, clock), _start(store, alice_id, clock)
    with store.session() as session:
        assert sessions.end(session, token)
    assert _check(store, token, clock) is None and _check(store, other, clock) is not None


@pytest.mark.parametrize("change", [lambda s: disable_user(s, "alice"),
                                    lambda s: set_password(s, "alice", "another long passphrase")])
def test_disabling_or_a_new_password_ends_every_session(store, alice_id, clock, change):
    tokens = [_start(store, alice_id, clock) for _ in range(3)]
    with store.session() as session:
        change(session)
    assert [_check(store, t, clock) for t in tokens] == [None, None, None]
    with store.session() as session:
        enable_user(session, "alice")  # enabling again does not bring old sessions back
    assert _check(store, tokens[0], clock) is None


def test_idle_timeout_counts_from_the_last_request(store, alice_id, clock):
    token = _start(store, alice_id, clock)
    for _ in range(10):  # active for 10 x 25 minutes: well past the idle timeout in total
        clock.advance(25 * 60)
        assert _check(store, token, clock) is not None
    clock.advance(IDLE)
    assert _check(store, token, clock) is None
    with store.session() as session:
        assert session.scalar(select(func.count()).select_from(WebSession)) == 0  # deleted when found ended


def test_cached_activity_reported_by_the_web_process_keeps_a_session_alive(store, alice_id, clock):
    token = _start(store, alice_id, clock)
    clock.advance(IDLE - 1)
    seen = clock()
    clock.advance(IDLE - 1)
    assert _check(store, token, clock, seen_at=seen) is not None  # last seen (in memory) within the timeout


def test_absolute_timeout_ends_even_an_active_session(store, alice_id, clock, monkeypatch):
    token = _start(store, alice_id, clock)
    for _ in range(MAX_AGE // 1200 - 1):
        clock.advance(1200)
        assert _check(store, token, clock) is not None
    clock.advance(1200)
    assert _check(store, token, clock) is None
    monkeypatch.setenv("GPCLUSTER_SESSION_MAX_AGE", "60")
    short = _start(store, alice_id, clock)
    clock.advance(60)
    assert _check(store, short, clock) is None


def test_ended_sessions_are_swept_when_someone_signs_in(store, alice_id, clock):
    for _ in range(3):
        _start(store, alice_id, clock)
    clock.advance(IDLE)
    _start(store, alice_id, clock)
    with store.session() as session:
        assert session.scalar(select(func.count()).select_from(WebSession)) == 1
        assert sessions.count_by_user(session) == {alice_id: 1}
