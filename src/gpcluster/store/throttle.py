"""Login throttling with growing delays, never a hard lock of an account.

After a number of free failures, each further failed sign-in makes the next attempt wait twice as long
(`login_first_delay`, doubling, at most `login_max_delay`), counted over `login_throttle_window`.
Attempts made while waiting are refused without checking the password and do not count.

Three counts, so an attacker slows only themselves:

* per **device**: a browser that has signed in as this user before shows a signed device cookie
  (set by the web app); its failures are counted for that browser alone, and the username and address
  counts do not apply to it. Someone guessing the administrator's password elsewhere therefore never
  delays the administrator at their usual browser.
* per **username**, for browsers without that cookie: failures since the username's last successful
  sign-in from such a browser (`login_max_failures_per_user` free), which slows guessing spread over many
  addresses (the owner signing in at a known browser does not reset it);
* per **address**, for browsers without that cookie: failures from the address for any username
  (`login_max_failures_per_ip` free), which slows one address trying many usernames.

Administrators list and clear throttles on the Users page or with `gpcluster users throttles` /
`gpcluster users clear-throttle`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from gpcluster import config
from gpcluster.store.models import LoginAttempt


@dataclass(frozen=True)
class ThrottleLimits:
    per_user: int
    per_ip: int
    window: timedelta
    first_delay: float
    max_delay: float

    @classmethod
    def from_settings(cls) -> ThrottleLimits:
        """The limits configured in settings."""
        return cls(config.get("login_max_failures_per_user"), config.get("login_max_failures_per_ip"),
                   timedelta(seconds=config.get("login_throttle_window")), float(config.get("login_first_delay")),
                   float(config.get("login_max_delay")))

    def delay(self, failures: int, free: int) -> float:
        """Seconds to wait after the last of `failures` failures when `free` of them cost nothing."""
        if failures < free:
            return 0.0
        return min(self.max_delay, self.first_delay * 2.0 ** min(failures - free, 62))


@dataclass(frozen=True)
class Throttle:
    """One count that is slowing sign-ins: by 'address', 'username' or 'device' (a known browser)."""

    kind: str
    key: str
    username: str | None
    failures: int
    last_failure: datetime
    retry_after_seconds: int


def _wait(limits: ThrottleLimits, failures: int, last: datetime | None, free: int, now: datetime) -> int | None:
    if not failures or last is None:
        return None
    seconds = (last + timedelta(seconds=limits.delay(failures, free)) - now).total_seconds()
    return math.ceil(seconds) if seconds > 0 else None


def _since_last_success(condition):
    last_success = select(func.max(LoginAttempt.id)).where(condition, LoginAttempt.success.is_(True)).scalar_subquery()
    return LoginAttempt.id > func.coalesce(last_success, 0)


def _failures(session: Session, condition, since: datetime) -> tuple[int, datetime | None]:
    return session.execute(select(func.count(), func.max(LoginAttempt.at)).where(
        condition, LoginAttempt.success.is_(False), LoginAttempt.at > since)).one()


def _device_condition(device: str, username: str):
    return (LoginAttempt.device == device) & (LoginAttempt.username == username)


def _username_condition(username: str):
    return (LoginAttempt.username == username) & LoginAttempt.device.is_(None)


def retry_after(session: Session, username: str, ip: str | None, now: datetime, limits: ThrottleLimits,
                device: str | None = None) -> int | None:
    """Seconds the caller must wait before trying to sign in again, or None when an attempt is allowed."""
    since = now - limits.window
    if device is not None:
        mine = _device_condition(device, username)
        return _wait(limits, *_failures(session, mine & _since_last_success(mine), since), limits.per_user, now)
    name = _username_condition(username)
    waits = [_wait(limits, *_failures(session, name & _since_last_success(name), since), limits.per_user, now)]
    if ip is not None:
        waits.append(_wait(limits, *_failures(session, (LoginAttempt.ip == ip) & LoginAttempt.device.is_(None),
                                              since), limits.per_ip, now))
    waits = [w for w in waits if w is not None]
    return max(waits) if waits else None


def note_attempt(session: Session, username: str, ip: str | None, success: bool, now: datetime,
                 device: str | None = None) -> None:
    """Remember one password sign-in attempt."""
    session.add(LoginAttempt(at=now, username=username, ip=ip, success=success, device=device))
    session.flush()


def forget_before(session: Session, cutoff: datetime) -> int:
    """Delete attempts older than `cutoff` (they no longer affect throttling); returns how many."""
    return session.execute(delete(LoginAttempt).where(LoginAttempt.at < cutoff)).rowcount


def active(session: Session, now: datetime, limits: ThrottleLimits | None = None) -> list[Throttle]:
    """Every count with failures in the window, whether or not it is making anyone wait now; those
    delaying sign-ins first, longest wait first."""
    limits = limits or ThrottleLimits.from_settings()
    rows = session.execute(select(LoginAttempt).where(LoginAttempt.at > now - limits.window)
                           .order_by(LoginAttempt.id)).scalars().all()
    groups: dict[tuple, list] = {}
    for attempt in rows:
        device = ("device", attempt.device, attempt.username) if attempt.device else None
        if attempt.success:  # a success clears the count it was made under
            groups[device or ("username", attempt.username, attempt.username)] = []
            continue
        keys = [device] if device else [("username", attempt.username, attempt.username),
                                        ("address", attempt.ip, None)]
        for key in keys:
            if key[1] is not None:
                groups.setdefault(key, []).append(attempt.at)
    found = []
    for (kind, key, username), failures in groups.items():
        if failures:
            free = limits.per_ip if kind == "address" else limits.per_user
            wait = _wait(limits, len(failures), max(failures), free, now) or 0
            found.append(Throttle(kind, key, username, len(failures), max(failures), wait))
    return sorted(found, key=lambda t: (-t.retry_after_seconds, -t.failures, t.kind, t.key))


def clear(session: Session, username: str | None = None, ip: str | None = None) -> int:
    """Forget the failed sign-ins of a username (from every address and browser) or of an address;
    returns how many were forgotten."""
    if (username is None) == (ip is None):
        raise ValueError("clear a throttle by username or by address, not both or neither")
    condition = LoginAttempt.username == username if username is not None else LoginAttempt.ip == ip
    return session.execute(delete(LoginAttempt).where(condition, LoginAttempt.success.is_(False))).rowcount
