"""The loop around a published pack: the PQL of each practice responds to its signals, the CQL plans and
records the meeting, actions agreed are tracked until done, and the next pack shows them.

Rules:

* A response belongs to (cluster, period, signal id), whatever version of the pack is current, so a
  correction keeps the responses. Only the PQL of the signal's practice may respond (the CQL for a
  signal about the cluster itself). `explained` needs the reason; `action_agreed` needs what, who owns it
  and when it is due, and creates a tracked action.
* Responses can be edited until the CQL records the meeting on that period's pack; recording it locks
  them with who and when.
* Actions (from responses or the meeting) stay open until marked done or dropped by the CQL or the
  practice's PQL. An open action past its due date is overdue: first in the next pack and on the
  cluster page.

Every change is written to the audit log (who, what, when); the audit never holds the text itself.
Functions take an open store session and the acting account, and leave committing to the caller.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from gpcluster.errors import UserError
from gpcluster.packs.formatting import day, period_key
from gpcluster.signals import quarter_words
from gpcluster.store import audit
from gpcluster.store.models import (
    ClusterMeeting,
    LoopAction,
    MeetingAttendance,
    Pack,
    PackPractice,
    PackSignal,
    SignalResponse,
    User,
    utcnow,
)

RESPONSE_KINDS = {"explained": "Explained", "accepted": "Accepted", "action_agreed": "Action agreed",
                  "not_relevant": "Not relevant"}
ACTION_STATUSES = {"open": "Open", "done": "Done", "dropped": "Dropped"}
MAX_TEXT = {"reason": 4000, "description": 1000, "owner": 200, "decisions": 10000, "learned": 10000, "note": 1000}
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f\u202a-\u202e\u2066-\u2069]")


class LoopError(UserError):
    """A response, meeting or action that cannot be recorded as given; the message says why."""


class NotAllowed(LoopError):
    """The account may not do this (not the practice's PQL or the cluster's CQL)."""


@dataclass(frozen=True)
class ActionInput:
    description: str
    owner: str
    due_on: date | None
    practice_code: str | None = None
    signal_id: str | None = None


def clean_text(value: str | None, field: str, required: bool = False) -> str | None:
    """Trimmed text within its length limit and without control characters; LoopError naming the field."""
    text = (value or "").replace("\r\n", "\n").strip()
    if not text:
        if required:
            raise LoopError(f"{field}: please fill this in")
        return None
    if _CONTROL.search(text):
        raise LoopError(f"{field}: contains control characters; type the text again without them")
    limit = MAX_TEXT.get(field.split(" ")[0].lower(), 1000)
    if len(text) > limit:
        raise LoopError(f"{field}: at most {limit:,} characters ({len(text):,} given)")
    return text


# Reading -------------------------------------------------------------------------------------------------

def current_pack(session: Session, cluster_id: str, period: date) -> Pack | None:
    """The newest published version of a cluster's pack for a period."""
    return session.scalar(select(Pack).where(Pack.cluster_id == cluster_id, Pack.period == period)
                          .order_by(Pack.version.desc()).limit(1))


def cluster_packs(session: Session, cluster_id: str) -> list[Pack]:
    """Every published version of a cluster's packs, newest period and version first."""
    return list(session.scalars(select(Pack).where(Pack.cluster_id == cluster_id)
                                .order_by(Pack.period.desc(), Pack.version.desc())))


def pack_signals(session: Session, pack: Pack) -> list[PackSignal]:
    return list(session.scalars(select(PackSignal).where(PackSignal.pack_id == pack.id)
                                .order_by(PackSignal.worth_discussing.desc(), PackSignal.rank, PackSignal.id)))


def pack_practices(session: Session, pack: Pack) -> dict[str, str]:
    rows = session.execute(select(PackPractice.practice_code, PackPractice.practice_name)
                           .where(PackPractice.pack_id == pack.id).order_by(PackPractice.practice_name))
    return dict(rows.all())


def responses(session: Session, cluster_id: str, period: date) -> dict[str, SignalResponse]:
    rows = session.scalars(select(SignalResponse).where(SignalResponse.cluster_id == cluster_id,
                                                        SignalResponse.period == period))
    return {r.signal_id: r for r in rows}


def meeting(session: Session, cluster_id: str, period: date) -> ClusterMeeting | None:
    return session.scalar(select(ClusterMeeting).where(ClusterMeeting.cluster_id == cluster_id,
                                                       ClusterMeeting.period == period))


def attendance(session: Session, meeting_row: ClusterMeeting) -> list[str]:
    return list(session.scalars(select(MeetingAttendance.practice_code)
                                .where(MeetingAttendance.meeting_id == meeting_row.id)))


# Who may do what ------------------------------------------------------------------------------------------

def is_cql(user: User, cluster_id: str) -> bool:
    return user.role == "cluster" and user.scope_level == "cluster" and user.scope_code == cluster_id


def is_pql(user: User, practice_code: str | None) -> bool:
    return (practice_code is not None and user.role == "practice" and user.scope_level == "practice"
            and user.scope_code == practice_code)


def may_respond(user: User, cluster_id: str, signal: PackSignal) -> bool:
    if signal.level == "practice":
        return is_pql(user, signal.area_code)
    return is_cql(user, cluster_id)


# Responding ----------------------------------------------------------------------------------------------

def _target(cluster_id: str, period: date, what: str | None = None) -> str:
    return " ".join(filter(None, [cluster_id, period_key(period), what]))


def _signal(session: Session, cluster_id: str, period: date, signal_id: str) -> tuple[Pack, PackSignal]:
    pack = current_pack(session, cluster_id, period)
    if pack is None:
        raise LoopError(f"no published pack for {cluster_id} in {quarter_words(period)}")
    signal = session.scalar(select(PackSignal).where(PackSignal.pack_id == pack.id,
                                                     PackSignal.signal_id == signal_id))
    if signal is None:
        raise LoopError(f"signal {signal_id!r} is not in the {quarter_words(period)} pack of {pack.cluster_name}")
    return pack, signal


def _check_action(action: ActionInput | None, today: date) -> ActionInput:
    if action is None:
        raise LoopError("an agreed action needs what will be done, who owns it and when it is due")
    description = clean_text(action.description, "description of the action", required=True)
    owner = clean_text(action.owner, "owner of the action", required=True)
    if action.due_on is None:
        raise LoopError("due date of the action: please give a date")
    if action.due_on < today:
        raise LoopError(f"due date of the action: {day(action.due_on)} has passed; give a date from today on")
    return ActionInput(description, owner, action.due_on, action.practice_code, action.signal_id)


def _add_action(session: Session, user: User, cluster_id: str, period: date, action: ActionInput, now: datetime,
                ip: str | None, meeting_id: int | None = None) -> LoopAction:
    row = LoopAction(cluster_id=cluster_id, period=period, signal_id=action.signal_id,
                     practice_code=action.practice_code, description=action.description, owner=action.owner,
                     due_on=action.due_on, status="open", meeting_id=meeting_id, created_by=user.username,
                     created_at=now, updated_by=user.username, updated_at=now)
    session.add(row)
    session.flush()
    audit.record(session, "action_added", user=user, target=_target(cluster_id, period, f"action {row.id}"),
                 detail=f"due {action.due_on.isoformat()}" + (" (meeting)" if meeting_id else ""), ip=ip, at=now)
    return row


def record_response(session: Session, user: User, cluster_id: str, period: date, signal_id: str, kind: str,
                    reason: str | None = None, action: ActionInput | None = None, ip: str | None = None,
                    now: datetime | None = None) -> SignalResponse:
    """Record or change the response to one signal of a published pack (see the module's rules)."""
    now = now or utcnow()
    pack, signal = _signal(session, cluster_id, period, signal_id)
    if not may_respond(user, cluster_id, signal):
        who = "the practice's Practice Quality Lead" if signal.level == "practice" else "the Cluster Quality Lead"
        raise NotAllowed(f"only {who} may respond to this signal")
    if kind not in RESPONSE_KINDS:
        raise LoopError(f"response: choose one of {', '.join(RESPONSE_KINDS.values()).lower()}")
    reason = clean_text(reason, "reason", required=kind == "explained")
    existing = responses(session, cluster_id, period).get(signal_id)
    if existing is not None and existing.locked_at is not None:
        raise LoopError(f"responses to the {quarter_words(period)} pack were locked on {day(existing.locked_at)} "
                        f"by {existing.locked_by}, when the meeting was recorded")
    held = meeting(session, cluster_id, period)
    if held is not None and held.recorded_at is not None:
        raise LoopError(f"the meeting on the {quarter_words(period)} pack has been recorded: responses are locked")
    if kind == "action_agreed":
        agreed = _check_action(action, now.date())
        agreed = ActionInput(agreed.description, agreed.owner, agreed.due_on,
                             signal.area_code if signal.level == "practice" else None, signal_id)
    if existing is None:
        existing = SignalResponse(cluster_id=cluster_id, period=period, signal_id=signal_id,
                                  practice_code=signal.area_code if signal.level == "practice" else None,
                                  kind=kind, created_by=user.username, created_at=now)
        session.add(existing)
        event = "response_recorded"
    else:
        event = "response_changed"
    previous_kind = existing.kind if event == "response_changed" else None
    existing.kind, existing.reason = kind, reason
    existing.updated_by, existing.updated_at = user.username, now
    linked = session.get(LoopAction, existing.action_id) if existing.action_id else None
    if kind == "action_agreed":
        if linked is None or linked.status != "open":
            linked = _add_action(session, user, cluster_id, period, agreed, now, ip)
            existing.action_id = linked.id
        else:
            linked.description, linked.owner, linked.due_on = agreed.description, agreed.owner, agreed.due_on
            linked.updated_by, linked.updated_at = user.username, now
    elif linked is not None and linked.status == "open":
        _close(linked, "dropped", "the response was changed", user, now)
    session.flush()
    change = f"{previous_kind} -> {kind}" if previous_kind and previous_kind != kind else kind
    audit.record(session, event, user=user, target=_target(cluster_id, period, signal_id), detail=change, ip=ip,
                 at=now)
    return existing


# The meeting -----------------------------------------------------------------------------------------------

def _require_cql(user: User, cluster_id: str) -> None:
    if not is_cql(user, cluster_id):
        raise NotAllowed("only the cluster's Cluster Quality Lead may plan or record its meeting")


def plan_meeting(session: Session, user: User, cluster_id: str, period: date, meets_on: date | None,
                 ip: str | None = None, now: datetime | None = None) -> ClusterMeeting:
    """Set (or move) the date of the meeting on a period's pack; PQLs who have not responded are reminded
    `meeting_reminder_days` before it."""
    now = now or utcnow()
    _require_cql(user, cluster_id)
    if current_pack(session, cluster_id, period) is None:
        raise LoopError(f"no published pack for {cluster_id} in {quarter_words(period)}")
    if meets_on is None:
        raise LoopError("meeting date: please give a date")
    row = meeting(session, cluster_id, period)
    if row is not None and row.recorded_at is not None:
        raise LoopError("the meeting has already been recorded; change its record instead")
    if row is None:
        row = ClusterMeeting(cluster_id=cluster_id, period=period, meets_on=meets_on, planned_by=user.username,
                             planned_at=now)
        session.add(row)
    else:
        row.meets_on, row.planned_by, row.planned_at = meets_on, user.username, now
    session.flush()
    audit.record(session, "meeting_planned", user=user, target=_target(cluster_id, period),
                 detail=f"meets {meets_on.isoformat()}", ip=ip, at=now)
    return row


def record_meeting(session: Session, user: User, cluster_id: str, period: date, meets_on: date | None,
                   present: list[str], decisions: str | None, learned: str | None,
                   actions: list[ActionInput] = (), ip: str | None = None,
                   now: datetime | None = None) -> ClusterMeeting:
    """Record the meeting on a period's pack: date, practices present, decisions, what we learned and new
    actions. Locks the period's responses (with who and when). Recording again changes the record."""
    now = now or utcnow()
    _require_cql(user, cluster_id)
    pack = current_pack(session, cluster_id, period)
    if pack is None:
        raise LoopError(f"no published pack for {cluster_id} in {quarter_words(period)}")
    if meets_on is None:
        raise LoopError("meeting date: please give the date the meeting was held")
    if meets_on > now.date():
        raise LoopError(f"meeting date: {day(meets_on)} is in the future; plan the meeting instead, and record "
                        "it once held")
    practices = pack_practices(session, pack)
    unknown = sorted(set(present) - set(practices))
    if unknown:
        raise LoopError(f"practices present: {', '.join(unknown)} {'is' if len(unknown) == 1 else 'are'} not in "
                        "the cluster's pack")
    decisions = clean_text(decisions, "decisions")
    learned = clean_text(learned, "learned")
    checked = []
    for n, action in enumerate(actions, start=1):
        try:
            agreed = _check_action(action, now.date())
        except LoopError as exc:
            raise LoopError(f"action {n}: {exc}") from exc
        if agreed.practice_code and agreed.practice_code not in practices:
            raise LoopError(f"action {n}: practice {agreed.practice_code} is not in the cluster's pack")
        checked.append(agreed)
    row = meeting(session, cluster_id, period)
    event = "meeting_recorded" if row is None or row.recorded_at is None else "meeting_changed"
    if row is None:
        row = ClusterMeeting(cluster_id=cluster_id, period=period, meets_on=meets_on, planned_by=user.username,
                             planned_at=now)
        session.add(row)
    row.meets_on, row.decisions, row.learned = meets_on, decisions, learned
    row.recorded_by, row.recorded_at = user.username, now
    session.flush()
    session.query(MeetingAttendance).filter(MeetingAttendance.meeting_id == row.id).delete()
    session.add_all([MeetingAttendance(meeting_id=row.id, practice_code=code) for code in sorted(set(present))])
    locked = 0
    for response in responses(session, cluster_id, period).values():
        if response.locked_at is None:
            response.locked_at, response.locked_by = now, user.username
            locked += 1
    for agreed in checked:
        _add_action(session, user, cluster_id, period, agreed, now, ip, meeting_id=row.id)
    session.flush()
    audit.record(session, event, user=user, target=_target(cluster_id, period),
                 detail=f"held {meets_on.isoformat()}; {len(set(present))} practices present; {len(checked)} "
                        f"actions; {locked} responses locked", ip=ip, at=now)
    return row


# Actions ---------------------------------------------------------------------------------------------------

def _close(action: LoopAction, status: str, note: str | None, user: User, now: datetime) -> None:
    action.status, action.status_note = status, note
    action.updated_by, action.updated_at = user.username, now
    action.closed_at = now if status != "open" else None


def update_action(session: Session, user: User, action_id: int, status: str, note: str | None = None,
                  ip: str | None = None, now: datetime | None = None) -> LoopAction:
    """Mark an action done, dropped or open again (the cluster's CQL, or the PQL of its practice)."""
    now = now or utcnow()
    action = session.get(LoopAction, action_id)
    if action is None:
        raise LoopError(f"no action {action_id}")
    if not (is_cql(user, action.cluster_id) or is_pql(user, action.practice_code)):
        raise NotAllowed("only the cluster's CQL or the practice's PQL may change this action")
    if status not in ACTION_STATUSES:
        raise LoopError(f"status: choose one of {', '.join(ACTION_STATUSES.values()).lower()}")
    note = clean_text(note, "note")
    before = action.status
    _close(action, status, note, user, now)
    session.flush()
    audit.record(session, "action_changed", user=user, target=_target(action.cluster_id, action.period,
                                                                      f"action {action.id}"),
                 detail=f"{before} -> {status}", ip=ip, at=now)
    return action


def labels(session: Session, cluster_id: str) -> tuple[dict[str, str], dict[str, str]]:
    """Practice names and signal sentences from the cluster's published packs (newest wins)."""
    names: dict[str, str] = {}
    sentences: dict[str, str] = {}
    for pack in reversed(cluster_packs(session, cluster_id)):
        names.update(pack_practices(session, pack))
        for s in pack_signals(session, pack):
            sentences[s.signal_id] = f"{s.area_name}: {s.sentence}"
    return names, sentences


def action_item(action: LoopAction, today: date, names: dict[str, str], sentences: dict[str, str]) -> dict:
    return {"id": action.id, "description": action.description, "owner": action.owner,
            "due_on": action.due_on.isoformat(), "status": action.status,
            "status_words": ACTION_STATUSES[action.status], "status_note": action.status_note,
            "overdue": action.status == "open" and action.due_on < today,
            "practice": names.get(action.practice_code, action.practice_code) if action.practice_code else None,
            "practice_code": action.practice_code,
            "signal": sentences.get(action.signal_id) if action.signal_id else None,
            "period": action.period.isoformat(), "period_words": quarter_words(action.period)}


def actions_due(session: Session, cluster_id: str, today: date, up_to: date | None = None) -> list[dict]:
    """The cluster's open actions, overdue first (longest overdue first), then by due date: for the cluster
    page (templates/_actions_due.html) and the pack. `up_to`: only actions agreed on packs up to that period."""
    query = select(LoopAction).where(LoopAction.cluster_id == cluster_id, LoopAction.status == "open")
    if up_to is not None:
        query = query.where(LoopAction.period <= up_to)
    rows = list(session.scalars(query))
    if not rows:  # most clusters on most days: the labels' queries (every pack's practices and signals) not needed
        return []
    names, sentences = labels(session, cluster_id)
    items = [action_item(a, today, names, sentences) for a in rows]
    return sorted(items, key=lambda a: (not a["overdue"], a["due_on"], a["id"]))


def snapshot(session: Session | None, content: dict, *, as_of: date, content_hash: str,
             version: int | None = None, published_at: datetime | None = None, correction: dict | None = None,
             app_url: str | None = None) -> dict:
    """The loop part of a pack (rendered beside its figures, not hashed with them): actions due and their
    status, the last meeting, and the responses to the previous pack. Without a store, an empty loop."""
    cluster_id = content["cluster"]["id"]
    period = date.fromisoformat(content["period"])
    state = {"version": version, "published_at": published_at.isoformat() if published_at else None,
             "as_of": as_of.isoformat(), "content_hash": content_hash, "correction": correction,
             "app_url": app_url, "actions": {"overdue": [], "open": [], "closed": []}, "last_meeting": None,
             "responses": None}
    if session is None:
        return state
    open_items = actions_due(session, cluster_id, as_of, up_to=period)
    state["actions"]["overdue"] = [a for a in open_items if a["overdue"]]
    state["actions"]["open"] = [a for a in open_items if not a["overdue"]]
    earlier = [p for p in cluster_packs(session, cluster_id) if p.period < period]
    since = min((p.published_at for p in earlier if p.period == earlier[0].period), default=None) if earlier else None
    closed = select(LoopAction).where(LoopAction.cluster_id == cluster_id, LoopAction.status != "open",
                                      LoopAction.period <= period)
    if since is not None:
        closed = closed.where(LoopAction.closed_at >= since)
    names, sentences = labels(session, cluster_id)
    state["actions"]["closed"] = sorted((action_item(a, as_of, names, sentences) for a in session.scalars(closed)),
                                        key=lambda a: (a["due_on"], a["id"]))
    held = session.scalar(select(ClusterMeeting).where(ClusterMeeting.cluster_id == cluster_id,
                                                       ClusterMeeting.period < period,
                                                       ClusterMeeting.recorded_at.is_not(None))
                          .order_by(ClusterMeeting.period.desc()).limit(1))
    if held is not None:
        state["last_meeting"] = {"meets_on": held.meets_on.isoformat(), "period_words": quarter_words(held.period),
                                 "present": sorted(names.get(c, c) for c in attendance(session, held)),
                                 "decisions": held.decisions, "learned": held.learned,
                                 "recorded_by": held.recorded_by}
    if earlier:
        last = earlier[0]
        listed = pack_signals(session, last)
        answered = responses(session, cluster_id, last.period)
        by_kind: dict[str, int] = {}
        for s in listed:
            if s.signal_id in answered:
                by_kind[answered[s.signal_id].kind] = by_kind.get(answered[s.signal_id].kind, 0) + 1
        state["responses"] = {"period_words": quarter_words(last.period), "signals": len(listed),
                              "responded": sum(by_kind.values()), "by_kind": by_kind}
    return state
