"""Sign-in sessions held in the store, so they can be ended: sign-out, disabling an account, a password
change or an administrator end them at once, whatever copies of the cookie exist.

The browser's cookie carries a random token; the store keeps only its SHA-256. A session ends when it
has been idle longer than `session_idle_timeout` or is older than `session_max_age` (settings), or when
its account is disabled. Functions take an open Session; the caller commits (`Store.session()`).
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, func, or_, select
from sqlalchemy.orm import Session

from gpcluster import config
from gpcluster.store.models import User, WebSession, utcnow

#: a session's last-seen time is written back at most this often (reads stay reads under load)
TOUCH_INTERVAL = timedelta(seconds=60)


@dataclass(frozen=True)
class SessionLimits:
    idle: timedelta
    max_age: timedelta

    @classmethod
    def from_settings(cls) -> SessionLimits:
        return cls(timedelta(seconds=config.get("session_idle_timeout")),
                   timedelta(seconds=config.get("session_max_age")))


@dataclass(frozen=True)
class LiveSession:
    """A session found valid: whose it is and since when."""

    user_id: int
    created_at: datetime
    last_seen_at: datetime


def token_id(token: str) -> str:
    """What the store keeps of a session token."""
    return hashlib.sha256(token.encode()).hexdigest()


def start(session: Session, user_id: int, ip: str | None, now: datetime | None = None) -> str:
    """Open a session for the user and return the token for the cookie (a new one every sign-in).
    Sessions that have ended by time are deleted on the way."""
    now = now or utcnow()
    forget_ended(session, now)
    token = secrets.token_urlsafe(32)
    session.add(WebSession(id=token_id(token), user_id=user_id, created_at=now, last_seen_at=now, ip=ip))
    session.flush()
    return token


def check(session: Session, token: str, now: datetime | None = None, seen_at: datetime | None = None,
          limits: SessionLimits | None = None) -> LiveSession | None:
    """The live session for `token` at a request made `now`, or None when it is unknown, ended, timed out
    or its account disabled (a timed-out or disabled one is deleted). `seen_at` is when a caller that
    caches sessions last saw the browser; the last-seen time is written back at most every TOUCH_INTERVAL."""
    now = now or utcnow()
    limits = limits or SessionLimits.from_settings()
    row = session.get(WebSession, token_id(token))
    if row is None:
        return None
    last_seen = max(row.last_seen_at, seen_at) if seen_at is not None else row.last_seen_at
    user = session.get(User, row.user_id)
    if (user is None or not user.active or now - row.created_at >= limits.max_age
            or now - last_seen >= limits.idle):
        session.delete(row)
        session.flush()
        return None
    if now - row.last_seen_at >= TOUCH_INTERVAL:
        row.last_seen_at = now
        session.flush()
    return LiveSession(row.user_id, row.created_at, now)


def end(session: Session, token: str) -> bool:
    """End one session (sign-out). True if it was live."""
    return session.execute(delete(WebSession).where(WebSession.id == token_id(token))).rowcount > 0


def end_for_user(session: Session, user_id: int) -> int:
    """End every session of an account; returns how many."""
    return session.execute(delete(WebSession).where(WebSession.user_id == user_id)).rowcount


def forget_ended(session: Session, now: datetime, limits: SessionLimits | None = None) -> int:
    """Delete sessions past their idle or absolute timeout; returns how many."""
    limits = limits or SessionLimits.from_settings()
    return session.execute(delete(WebSession).where(or_(
        WebSession.created_at <= now - limits.max_age, WebSession.last_seen_at <= now - limits.idle))).rowcount


def count_by_user(session: Session) -> dict[int, int]:
    """Open sessions per account id (for the administrators' page)."""
    return dict(session.execute(select(WebSession.user_id, func.count()).group_by(WebSession.user_id)).all())
