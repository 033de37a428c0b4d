"""The audit log: sign-ins, views of practice-level data, exports and account changes.

Targets are area codes, route names or usernames; row-level data is never written here."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import Connection, insert, select
from sqlalchemy.orm import Session

from gpcluster.store.models import AUDIT_ACTIONS, AuditEvent, User, utcnow


def check_action(action: str) -> None:
    """Refuse an action the audit log does not know."""
    if action not in AUDIT_ACTIONS:
        raise ValueError(f"unknown audit action {action!r}; expected one of {', '.join(AUDIT_ACTIONS)}")


def record(session: Session, action: str, user: User | None = None, target: str | None = None,
           detail: str | None = None, ip: str | None = None, at: datetime | None = None) -> AuditEvent:
    """Add one audit event to the session (committed with the session's unit of work)."""
    event = AuditEvent(**event_row(action, at or utcnow(), user.id if user is not None else None,
                                   user.username if user is not None else None, target, detail, ip))
    session.add(event)
    session.flush()
    return event


def event_row(action: str, at: datetime, user_id: int | None = None, username: str | None = None,
              target: str | None = None, detail: str | None = None, ip: str | None = None) -> dict:
    """One audit row as inserted: every writer builds its rows here, so a new column is added once."""
    check_action(action)
    return {"at": at, "user_id": user_id, "username": username, "action": action, "target": target,
            "detail": detail, "ip": ip}


def record_many(session: Session, events: list[dict]) -> None:
    """Add many events in one INSERT. Each dict has action, at, and optionally user (a User), target,
    detail and ip."""
    rows = []
    for e in events:
        user = e.get("user")
        rows.append(event_row(e["action"], e["at"], user.id if user is not None else None,
                              user.username if user is not None else None, e.get("target"), e.get("detail"),
                              e.get("ip")))
    if rows:
        session.execute(insert(AuditEvent), rows)


def record_by_user_id(connection: Connection, events: Iterable) -> None:
    """Insert events that name their user by id (objects with action, at, user_id, target, detail, ip) on a
    Core connection. The username is the one stored now; an account since deleted gives no user."""
    events = list(events)
    ids = {e.user_id for e in events if e.user_id is not None}
    names = dict(connection.execute(select(User.id, User.username).where(User.id.in_(ids))).all()) if ids else {}
    rows = [event_row(e.action, e.at, e.user_id if e.user_id in names else None, names.get(e.user_id), e.target,
                      e.detail, e.ip) for e in events]
    if rows:
        connection.execute(insert(AuditEvent), rows)


def recent(session: Session, limit: int = 100, action: str | None = None) -> list[AuditEvent]:
    """The newest `limit` events, newest first, optionally only one action."""
    query = select(AuditEvent).order_by(AuditEvent.at.desc(), AuditEvent.id.desc()).limit(limit)
    if action is not None:
        query = query.where(AuditEvent.action == action)
    return list(session.scalars(query))


def search(session: Session, *, action: str | None = None, username: str | None = None, target: str | None = None,
           since: datetime | None = None, offset: int = 0, limit: int = 50) -> tuple[list[AuditEvent], int]:
    """(one page of events, newest first, and how many match): filtered by action, username, a part of the
    target (case-insensitive) and a start time."""
    from sqlalchemy import func

    conditions = []
    if action:
        conditions.append(AuditEvent.action == action)
    if username:
        conditions.append(AuditEvent.username == username)
    if target:
        conditions.append(AuditEvent.target.ilike(f"%{target}%"))
    if since is not None:
        conditions.append(AuditEvent.at >= since)
    total = session.scalar(select(func.count()).select_from(AuditEvent).where(*conditions))
    query = (select(AuditEvent).where(*conditions).order_by(AuditEvent.at.desc(), AuditEvent.id.desc())
             .offset(offset).limit(limit))
    return list(session.scalars(query)), int(total or 0)

