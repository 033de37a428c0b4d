"""Login throttling: too many recent failures for a username, or from one address, refuse further attempts.

Failures are counted over a sliding window (settings `login_max_failures_per_user`,
`login_max_failures_per_ip`, `login_throttle_window`). A successful sign-in clears the username's count
but not the address's, so one good account cannot be used to keep guessing others from the same address."""

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

    @classmethod
    def from_settings(cls) -> ThrottleLimits:
        """The limits configured in settings."""
        return cls(config.get("login_max_failures_per_user"), config.get("login_max_failures_per_ip"),
                   timedelta(seconds=config.get("login_throttle_window")))


def _retry_after(session: Session, condition, limit: int, since: datetime, now: datetime,
                 window: timedelta) -> int | None:
    """Seconds until the failures matching `condition` drop below `limit`, or None if not throttled."""
    failures = list(session.scalars(
        select(LoginAttempt.at).where(condition, LoginAttempt.success.is_(False), LoginAttempt.at > since)
        .order_by(LoginAttempt.at.desc()).limit(limit)))
    if len(failures) < limit:
        return None
    # The oldest of the newest `limit` failures must leave the window before another attempt is allowed.
    return max(1, math.ceil((failures[-1] + window - now).total_seconds()))


def retry_after(session: Session, username: str, ip: str | None, now: datetime,
                limits: ThrottleLimits) -> int | None:
    """Seconds the caller must wait before trying to sign in again, or None when an attempt is allowed."""
    since = now - limits.window
    last_success = session.scalar(select(func.max(LoginAttempt.id)).where(
        LoginAttempt.username == username, LoginAttempt.success.is_(True)))
    user_failures = LoginAttempt.username == username
    if last_success is not None:
        user_failures &= LoginAttempt.id > last_success
    waits = [_retry_after(session, user_failures, limits.per_user, since, now, limits.window)]
    if ip is not None:
        waits.append(_retry_after(session, LoginAttempt.ip == ip, limits.per_ip, since, now, limits.window))
    waits = [w for w in waits if w is not None]
    return max(waits) if waits else None


def note_attempt(session: Session, username: str, ip: str | None, success: bool, now: datetime) -> None:
    """Remember one password sign-in attempt."""
    session.add(LoginAttempt(at=now, username=username, ip=ip, success=success))
    session.flush()


def forget_before(session: Session, cutoff: datetime) -> int:
    """Delete attempts older than `cutoff` (they no longer affect throttling); returns how many."""
    return session.execute(delete(LoginAttempt).where(LoginAttempt.at < cutoff)).rowcount
