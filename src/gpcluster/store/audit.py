"""The audit log: sign-ins, views of practice-level data, exports and account changes.

Targets are area codes, route names or usernames; row-level data is never written here."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from gpcluster.store.models import AUDIT_ACTIONS, AuditEvent, User, utcnow


def check_action(action: str) -> None:
    """Refuse an action the audit log does not know."""
    if action not in AUDIT_ACTIONS:
        raise ValueError(f"unknown audit action {action!r}; expected one of {', '.join(AUDIT_ACTIONS)}")


def record(session: Session, action: str, user: User | None = None, target: str | None = None,
           detail: str | None = None, ip: str | None = None, at: datetime | None = None) -> AuditEvent:
    """Add one audit event to the session (committed with the session's unit of work)."""
    check_action(action)
    event = AuditEvent(at=at or utcnow(), user_id=user.id if user is not None else None,
                       username=user.username if user is not None else None, action=action,
                       target=target, detail=detail, ip=ip)
    session.add(event)
    session.flush()
    return event


def record_many(session: Session, events: list[dict]) -> None:
    """Add many events in one INSERT. Each dict has action, at, and optionally user (a User), target,
    detail and ip."""
    rows = []
    for e in events:
        check_action(e["action"])
        user = e.get("user")
        rows.append({"at": e["at"], "user_id": user.id if user is not None else None,
                     "username": user.username if user is not None else None, "action": e["action"],
                     "target": e.get("target"), "detail": e.get("detail"), "ip": e.get("ip")})
    if rows:
        session.execute(insert(AuditEvent), rows)


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

