"""Login throttling with growing delays (issue 13, F10): failures beyond the free ones make the next attempt
wait 15, 30, 60 ... seconds (at most 15 minutes), per address and per username for unknown browsers and per
known browser, so nobody can lock an account out from elsewhere. The clock is injected; nothing sleeps."""

from __future__ import annotations

import pytest

from gpcluster.store import audit, throttle
from gpcluster.store.accounts import InvalidCredentials, LoginThrottled, add_user, authenticate

PASSWORD = "correct horse battery"


@pytest.fixture
def alice(store):
    with store.session() as session:
        add_user(session, "alice", PASSWORD, "national", "scotland", None)
        add_user(session, "bob", PASSWORD, "national", "scotland", None)


def _fail(store, clock, username="alice", ip="10.0.0.1", times=1, device=None):
    for _ in range(times):
        with pytest.raises(InvalidCredentials), store.session() as session:
            authenticate(session, username, "not the password", ip, now=clock(), device=device)


def _attack(store, clock, username="alice", ip="10.6.6.6", times=1, device=None):
    """Failures as fast as the throttle allows: wait out each delay, then guess again."""
    for _ in range(times):
        with store.session() as session:
            wait = throttle.retry_after(session, username, ip, clock(), throttle.ThrottleLimits.from_settings(),
                                        device=device)
        clock.advance(wait or 0)
        _fail(store, clock, username, ip, device=device)


def _login(store, clock, username="alice", ip="10.0.0.1", device=None):
    with store.session() as session:
        return authenticate(session, username, PASSWORD, ip, now=clock(), device=device).username


def _wait(store, clock, username="alice", ip="10.0.0.1", device=None) -> int:
    with pytest.raises(LoginThrottled) as raised, store.session() as session:
        authenticate(session, username, PASSWORD, ip, now=clock(), device=device)
    return raised.value.retry_after_seconds


def test_delays_double_after_the_free_failures_and_are_capped(store, alice, clock):
    _fail(store, clock, times=4)
    assert _login(store, clock) == "alice"  # four failures are free, and a success clears them
    _fail(store, clock, times=5)
    assert _wait(store, clock) == 15  # even the right password waits
    waits = []
    for _ in range(8):
        clock.advance(_wait(store, clock))
        _fail(store, clock)
        waits.append(_wait(store, clock))
    assert waits == [30, 60, 120, 240, 480, 900, 900, 900]  # doubling, at most login_max_delay
    clock.advance(900)
    assert _login(store, clock) == "alice"  # a wait, never a lock


def test_attempts_while_waiting_do_not_count_or_extend_the_wait(store, alice, clock):
    _fail(store, clock, times=5)
    for _ in range(20):
        _wait(store, clock)
        clock.advance(0.5)
    assert _wait(store, clock) == 5  # 15 s from the fifth failure, 10 s later
    clock.advance(5)
    assert _login(store, clock) == "alice"


def test_guessing_from_one_address_never_delays_the_owner_at_a_known_browser(store, alice, clock):
    _attack(store, clock, times=12)  # the attacker is slowed ...
    assert _wait(store, clock, ip="10.6.6.6") > 0
    assert _wait(store, clock, ip="10.0.0.9") > 0  # ... and so is any browser that never signed in as alice
    assert _login(store, clock, ip="10.0.0.9", device="alice-laptop") == "alice"  # her own browser: no wait


def test_a_known_browser_has_its_own_count(store, alice, clock):
    _fail(store, clock, ip="10.0.0.9", device="alice-laptop", times=5)
    assert _wait(store, clock, ip="10.0.0.9", device="alice-laptop") == 15
    assert _login(store, clock, ip="10.0.0.9", device="alice-phone") == "alice"  # another of her browsers
    clock.advance(15)
    _fail(store, clock, ip="10.0.0.9", device="alice-laptop")  # the success elsewhere does not clear the laptop's
    assert _wait(store, clock, ip="10.0.0.9", device="alice-laptop") == 30


def test_per_address_count_covers_many_usernames_and_spares_other_addresses(store, alice, clock, monkeypatch):
    monkeypatch.setenv("GPCLUSTER_LOGIN_MAX_FAILURES_PER_IP", "6")
    for name in ("carol", "dave", "erin"):
        _fail(store, clock, username=name, ip="10.6.6.6", times=2)
    assert _wait(store, clock, "bob", ip="10.6.6.6") == 15
    assert _login(store, clock, "bob", ip="10.0.0.2") == "bob"


def test_throttling_one_username_leaves_others_alone(store, alice, clock):
    _fail(store, clock, times=5)
    assert _login(store, clock, "bob", ip="10.0.0.2") == "bob"


def test_limits_come_from_settings(store, alice, clock, monkeypatch):
    monkeypatch.setenv("GPCLUSTER_LOGIN_MAX_FAILURES_PER_USER", "2")
    monkeypatch.setenv("GPCLUSTER_LOGIN_FIRST_DELAY", "60")
    monkeypatch.setenv("GPCLUSTER_LOGIN_THROTTLE_WINDOW", "600")
    _fail(store, clock, times=2)
    assert _wait(store, clock) == 60
    clock.advance(60)
    _fail(store, clock)
    assert _wait(store, clock) == 120
    clock.advance(601)  # the window has passed: the failures no longer count
    _fail(store, clock)
    assert _login(store, clock) == "alice"


def test_throttled_attempts_are_audited_and_not_checked(store, alice, clock):
    _fail(store, clock, times=5)
    with pytest.raises(LoginThrottled), store.session() as session:
        authenticate(session, "ALICE", "a wrong password again", "10.0.0.1", now=clock())
    with store.session() as session:
        actions = [e.action for e in audit.recent(session, 10)]
        [throttled] = audit.recent(session, 1, action="login_throttled")
    assert actions == ["login_throttled"] + ["login_failed"] * 5
    assert (throttled.target, throttled.username, throttled.ip) == ("alice", "alice", "10.0.0.1")
    assert throttled.detail == "retry after 15 s"


def test_administrators_see_and_clear_throttles(store, alice, clock):
    _attack(store, clock, times=6)
    _fail(store, clock, "bob", ip="10.0.0.3", device="bob-pc", times=5)
    with store.session() as session:
        found = {(t.kind, t.key): t for t in throttle.active(session, clock())}
    assert set(found) == {("username", "alice"), ("address", "10.6.6.6"), ("device", "bob-pc")}
    assert found[("username", "alice")].failures == 6 and found[("username", "alice")].retry_after_seconds == 30
    assert found[("address", "10.6.6.6")].retry_after_seconds == 0  # 6 of the 20 free failures per address
    assert found[("device", "bob-pc")].username == "bob" and found[("device", "bob-pc")].retry_after_seconds == 15
    with store.session() as session:
        assert throttle.clear(session, username="alice") == 6
    assert _login(store, clock, ip="10.0.0.7") == "alice"
    with store.session() as session:
        assert throttle.clear(session, username="bob") == 5
        assert throttle.active(session, clock()) == []
    with pytest.raises(ValueError), store.session() as session:
        throttle.clear(session)


def test_attempts_older_than_the_window_are_forgotten(store, alice, clock):
    from sqlalchemy import func, select

    from gpcluster.store.models import LoginAttempt

    _fail(store, clock, times=3)
    clock.advance(3601)
    assert _login(store, clock) == "alice"
    with store.session() as session:
        assert session.scalar(select(func.count()).select_from(LoginAttempt)) == 1  # only the new success
