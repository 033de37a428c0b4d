"""Login throttling: N failures within the window refuse further attempts (even with the right password)
until the oldest failure leaves the window. The clock is injected; nothing sleeps."""

from __future__ import annotations

import pytest

from gpcluster.store import audit
from gpcluster.store.accounts import InvalidCredentials, LoginThrottled, add_user, authenticate

PASSWORD = "correct horse battery"


@pytest.fixture
def alice(store):
    with store.session() as session:
        add_user(session, "alice", PASSWORD, "national", "scotland", None)
        add_user(session, "bob", PASSWORD, "national", "scotland", None)


def _fail(store, clock, username="alice", ip="10.0.0.1", times=1):
    for _ in range(times):
        with pytest.raises(InvalidCredentials), store.session() as session:
            authenticate(session, username, "not the password", ip, now=clock())


def _login(store, clock, username="alice", ip="10.0.0.1"):
    with store.session() as session:
        return authenticate(session, username, PASSWORD, ip, now=clock()).username


def test_five_failures_lock_the_username_for_the_rest_of_the_window(store, alice, clock):
    _fail(store, clock, times=4)
    assert _login(store, clock) == "alice"  # four failures are allowed, and a success clears them ...
    _fail(store, clock, times=5)  # ... so it takes five new ones to lock the account
    clock.advance(60)
    with pytest.raises(LoginThrottled) as raised, store.session() as session:
        authenticate(session, "alice", PASSWORD, "10.0.0.9", now=clock())  # right password, other address
    assert raised.value.retry_after_seconds == 900 - 60  # 15-minute window counted from the first of the five


def test_throttle_ends_when_the_window_has_passed(store, alice, clock):
    _fail(store, clock, times=5)
    clock.advance(899)
    with pytest.raises(LoginThrottled) as raised, store.session() as session:
        authenticate(session, "alice", PASSWORD, None, now=clock())
    assert raised.value.retry_after_seconds == 1
    clock.advance(1)
    assert _login(store, clock) == "alice"


def test_spread_out_failures_never_throttle(store, alice, clock):
    for _ in range(12):  # one failure every 200 s: any 900 s window holds at most 4 earlier ones
        _fail(store, clock)
        clock.advance(200)
    assert _login(store, clock) == "alice"


def test_throttling_one_username_leaves_others_alone(store, alice, clock):
    _fail(store, clock, times=5)
    assert _login(store, clock, "bob") == "bob"


def test_per_address_limit_covers_many_usernames(store, alice, clock, monkeypatch):
    monkeypatch.setenv("GPCLUSTER_LOGIN_MAX_FAILURES_PER_IP", "6")
    for name in ("carol", "dave", "erin"):
        _fail(store, clock, username=name, ip="10.6.6.6", times=2)
    with pytest.raises(LoginThrottled), store.session() as session:
        authenticate(session, "bob", PASSWORD, "10.6.6.6", now=clock())
    assert _login(store, clock, "bob", ip="10.0.0.2") == "bob"  # the same account from elsewhere is fine


def test_limits_and_window_come_from_settings(store, alice, clock, monkeypatch):
    monkeypatch.setenv("GPCLUSTER_LOGIN_MAX_FAILURES_PER_USER", "2")
    monkeypatch.setenv("GPCLUSTER_LOGIN_THROTTLE_WINDOW", "60")
    _fail(store, clock, times=2)
    with pytest.raises(LoginThrottled) as raised, store.session() as session:
        authenticate(session, "alice", PASSWORD, None, now=clock())
    assert raised.value.retry_after_seconds == 60
    clock.advance(60)
    assert _login(store, clock) == "alice"


def test_throttled_attempts_are_audited_and_not_checked(store, alice, clock):
    _fail(store, clock, times=5)
    with pytest.raises(LoginThrottled), store.session() as session:
        authenticate(session, "ALICE", PASSWORD, "10.0.0.1", now=clock())
    with store.session() as session:
        actions = [e.action for e in audit.recent(session, 10)]
        [throttled] = audit.recent(session, 1, action="login_throttled")
    assert actions == ["login_throttled"] + ["login_failed"] * 5
    assert (throttled.target, throttled.username, throttled.ip) == ("alice", "alice", "10.0.0.1")
    assert throttled.detail == "retry after 900 s"


def test_attempts_older_than_the_window_are_forgotten(store, alice, clock):
    from sqlalchemy import func, select

    from gpcluster.store.models import LoginAttempt

    _fail(store, clock, times=3)
    clock.advance(901)
    assert _login(store, clock) == "alice"
    with store.session() as session:
        assert session.scalar(select(func.count()).select_from(LoginAttempt)) == 1  # only the new success
