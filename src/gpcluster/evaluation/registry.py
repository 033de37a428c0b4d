"""The register of interventions: what changed, where, when, which outcomes are expected to move in which
direction, and how it will be analysed, stated before the change and locked.

A registration is a TOML file validated against `Registration`. Each version is stored as canonical
JSON with its SHA-256 fingerprint in the operational store; versions are append-only (the database
refuses UPDATE and DELETE on them, and so does the ORM). A change is a new version. After the start
date a change needs a reason, is marked `after_start`, and the analysis keeps following the last
version registered before the start (the pre-registered plan); later versions are shown as amendments.
"""

from __future__ import annotations

import hashlib
import json
import re
import tomllib
from dataclasses import dataclass
from datetime import date, datetime
from functools import cached_property, lru_cache
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from sqlalchemy import Row, bindparam, event, func, select
from sqlalchemy.orm import Session

from gpcluster.errors import Problem, UserError, ValidationFailed
from gpcluster.evaluation.result import EvaluationResult
from gpcluster.store import audit
from gpcluster.store.models import EvaluationRun, Intervention, InterventionVersion, User, utcnow

LEVELS = ("practice", "cluster", "hscp", "board")
_SLUG = re.compile(r"^[a-z0-9][a-z0-9-]{2,79}$")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class UnitStart(_Strict):
    """One unit (practice code, cluster id, HSCP or board code) and the date the change started there."""

    code: str = Field(min_length=1, max_length=100)
    start: date


class OutcomeSpec(_Strict):
    indicator_id: str = Field(min_length=3, max_length=64)
    expected: Literal["increase", "decrease"]
    primary: bool = True


class AnalysisPlan(_Strict):
    method: Literal["its", "did", "staggered", "synth"]
    post_quarters: int = Field(8, ge=1, le=40)
    pre_quarters: int | None = Field(12, ge=4, le=80)
    #: comparison units per treated unit for difference-in-differences
    matches: int = Field(4, ge=1, le=20)
    #: level of the units analysed; default the registration's level
    unit_level: Literal["practice", "cluster", "hscp", "board"] | None = None
    notes: str = ""


class Registration(_Strict):
    """The content of one version of a registered intervention."""

    id: str
    title: str = Field(min_length=3, max_length=200)
    what_changed: str = Field(min_length=3, max_length=4000)
    level: Literal["practice", "cluster", "hscp", "board"]
    units: list[UnitStart] = Field(min_length=1)
    outcomes: list[OutcomeSpec] = Field(min_length=1)
    plan: AnalysisPlan
    #: practices, clusters, HSCPs and boards the units belong to (resolved from the warehouse at
    #: registration; used to decide who may see the evaluation)
    areas: dict[str, list[str]] = Field(default_factory=dict)

    @field_validator("id")
    @classmethod
    def _slug(cls, value: str) -> str:
        if not _SLUG.match(value):
            raise ValueError("must be 3-80 lower-case letters, digits and hyphens, starting with a letter or digit")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> Registration:
        codes = [u.code for u in self.units]
        if len(set(codes)) != len(codes):
            raise ValueError("a unit is listed twice")
        ids = [o.indicator_id for o in self.outcomes]
        if len(set(ids)) != len(ids):
            raise ValueError("an outcome indicator is listed twice")
        starts = {u.start for u in self.units}
        if self.plan.method in ("its", "did", "synth") and len(starts) > 1:
            raise ValueError(f"units start on {len(starts)} different dates: use method = \"staggered\"")
        if self.plan.method == "synth" and len(self.units) != 1:
            raise ValueError("synthetic control evaluates one treated unit (a cluster or HSCP)")
        return self

    @property
    def start(self) -> date:
        """The first start date of any unit."""
        return min(u.start for u in self.units)

    @property
    def starts(self) -> dict[str, date]:
        return {u.code: u.start for u in self.units}

    @property
    def primary_outcomes(self) -> list[OutcomeSpec]:
        return [o for o in self.outcomes if o.primary] or list(self.outcomes)

    def canonical(self) -> str:
        """Canonical JSON (sorted keys, ISO dates): what is fingerprinted and stored."""
        return json.dumps(self.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))


def fingerprint(content: str) -> str:
    return hashlib.sha256(content.encode("utf-8")).hexdigest()


def parse_registration(text: str, source: str = "<registration>") -> Registration:
    """Validate a registration (TOML text); every problem is reported with the file and field."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ValidationFailed(problems=[Problem(source, "toml", f"not valid TOML: {exc}")]) from exc
    return registration_from_dict(data, source)


def registration_from_dict(data: dict, source: str = "<registration>") -> Registration:
    try:
        return Registration.model_validate(data)
    except ValidationError as exc:
        problems = [Problem(source, "invalid", e["msg"], column=".".join(str(p) for p in e["loc"]) or None)
                    for e in exc.errors()]
        raise ValidationFailed(problems=problems) from exc


def load_registration(path: Path) -> Registration:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise UserError(f"{path}: cannot read the registration: {exc.strerror}") from exc
    return parse_registration(text, str(path))


@event.listens_for(InterventionVersion, "before_update")
def _refuse_update(mapper, connection, target) -> None:
    raise UserError("registered intervention versions are locked: register a new version instead")


@event.listens_for(InterventionVersion, "before_delete")
def _refuse_delete(mapper, connection, target) -> None:
    raise UserError("registered intervention versions are locked and cannot be deleted")


@dataclass(frozen=True)
class Version:
    """A stored version, checked against its fingerprint."""

    number: int
    registered_at: datetime
    registered_by: str | None
    after_start: bool
    reason: str | None
    registration: Registration
    intact: bool  # False when the stored content no longer matches its fingerprint


@dataclass(frozen=True)
class Registered:
    """A registered intervention with every version, oldest first."""

    slug: str
    created_at: datetime
    versions: list[Version]

    @property
    def latest(self) -> Version:
        return self.versions[-1]

    @property
    def planned(self) -> Version:
        """The version the analysis follows: the last one registered before the start date, else the first
        (a retrospective registration, said so in every report)."""
        before = [v for v in self.versions if not v.after_start]
        return before[-1] if before else self.versions[0]

    @property
    def preregistered(self) -> bool:
        return any(not v.after_start for v in self.versions)

    @property
    def amendments_after_start(self) -> list[Version]:
        return [v for v in self.versions if v.after_start]

    @property
    def intact(self) -> bool:
        return all(v.intact for v in self.versions)


def _changed_fields(old: Registration, new: Registration) -> list[str]:
    a, b = old.model_dump(mode="json"), new.model_dump(mode="json")
    return sorted(k for k in a if a[k] != b.get(k))


def register(session: Session, registration: Registration, user: User | None = None,
             now: datetime | None = None) -> Registered:
    """Register a new intervention (version 1). Refuses an id already registered."""
    now = now or utcnow()
    if session.scalar(select(Intervention).where(Intervention.slug == registration.id)) is not None:
        raise UserError(f"intervention {registration.id!r} is already registered: amend it to add a version")
    intervention = Intervention(slug=registration.id, created_at=now)
    session.add(intervention)
    session.flush()
    _add_version(session, intervention, 1, registration, user, now, None, now.date() >= registration.start)
    audit.record(session, "intervention_registered", user=user, target=f"intervention:{registration.id}",
                 detail=f"version 1, start {registration.start.isoformat()}", at=now)
    return get(session, registration.id)


def amend(session: Session, slug: str, registration: Registration, reason: str | None, user: User | None = None,
          now: datetime | None = None) -> Registered:
    """Add a version. On or after the start date a reason is required, and the version is marked as an
    amendment after the start (the analysis keeps following the pre-registered plan)."""
    now = now or utcnow()
    current = get(session, slug)
    if registration.id != slug:
        raise UserError(f"the registration's id {registration.id!r} does not match {slug!r}")
    previous = current.latest.registration
    changed = _changed_fields(previous, registration)
    if not changed:
        raise UserError(f"nothing changed from version {current.latest.number}: no new version registered")
    started = now.date() >= min(previous.start, current.planned.registration.start)
    reason = (reason or "").strip() or None
    if started and not reason:
        raise UserError(f"{slug} started on {current.planned.registration.start.isoformat()}: a change after the "
                        "start must give a reason (it is recorded and shown with every result)")
    intervention = session.scalar(select(Intervention).where(Intervention.slug == slug))
    number = current.latest.number + 1
    _add_version(session, intervention, number, registration, user, now, reason, started)
    audit.record(session, "intervention_amended", user=user, target=f"intervention:{slug}",
                 detail=f"version {number}{' after the start' if started else ''}: {', '.join(changed)}", at=now)
    return get(session, slug)


def _add_version(session: Session, intervention: Intervention, number: int, registration: Registration,
                 user: User | None, now: datetime, reason: str | None, after_start: bool) -> None:
    content = registration.canonical()
    session.add(InterventionVersion(
        intervention_id=intervention.id, version=number, registered_at=now,
        registered_by=user.username if user is not None else None, start_date=registration.start,
        after_start=after_start, reason=reason, content=content, content_sha256=fingerprint(content)))
    session.flush()


def get(session: Session, slug: str) -> Registered:
    return read(session, slug, runs=False).registered


def list_registered(session: Session) -> list[Registered]:
    return [s.registered for s in read_all(session)]


@dataclass(frozen=True)
class StoredRun:
    run_id: int
    version: int
    run_at: datetime
    run_by: str | None
    data_through: date | None
    result: EvaluationResult


@dataclass(frozen=True)
class Snapshot:
    """An intervention's store rows as read (every column of its record, of its versions and of the newest
    run of each outcome and method), parsed on demand. `revision` is a digest of those rows: what is
    derived from them (a rendered page) can be kept under it, since a new version, a new run or any
    change to a row gives another revision."""

    intervention: Row
    versions: tuple[Row, ...]
    runs: tuple[Row, ...] = ()

    @cached_property
    def revision(self) -> str:
        # plain tuples: a Row's own repr shortens long values
        rows = (self.intervention, *self.versions, *self.runs)
        return fingerprint(repr([tuple(row) for row in rows]))

    @cached_property
    def registered(self) -> Registered:
        return _registered(self.intervention, self.versions)

    @cached_property
    def latest_runs(self) -> list[StoredRun]:
        """The newest run of each (indicator, method)."""
        out = [StoredRun(row.id, row.version, row.run_at, row.run_by, row.data_through,
                         EvaluationResult.from_dict(json.loads(row.result))) for row in self.runs]
        return sorted(out, key=lambda r: (r.result.outcome.indicator_id, r.result.method))


@lru_cache(maxsize=1024)
def _registered(intervention: Row, rows: tuple[Row, ...]) -> Registered:
    """The parsed versions, kept by the rows' exact content (every page view checks who may see them)."""
    versions = []
    for row in rows:
        registration = Registration.model_validate_json(row.content)
        versions.append(Version(row.version, row.registered_at, row.registered_by, row.after_start, row.reason,
                                registration, fingerprint(row.content) == row.content_sha256))
    return Registered(intervention.slug, intervention.created_at, versions)


# the statements are built once (a page reads them on every view)
_INTERVENTIONS = select(Intervention.__table__).order_by(Intervention.created_at, Intervention.slug)
_INTERVENTION = _INTERVENTIONS.where(Intervention.slug == bindparam("slug"))
_VERSIONS = (select(InterventionVersion.__table__)
             .where(InterventionVersion.intervention_id.in_(bindparam("ids", expanding=True)))
             .order_by(InterventionVersion.intervention_id, InterventionVersion.version))


def _newest_runs():
    """The newest run of each (indicator, method) of an intervention: every column."""
    table = EvaluationRun.__table__
    rank = func.row_number().over(partition_by=(table.c.indicator_id, table.c.method),
                                  order_by=(table.c.run_at.desc(), table.c.id.desc())).label("rank")
    ranked = select(table, rank).where(table.c.intervention_id == bindparam("intervention_id")).subquery()
    return select(*(ranked.c[c.name] for c in table.c)).where(ranked.c.rank == 1).order_by(ranked.c.id)


_NEWEST_RUNS = _newest_runs()


def _versions(session: Session, intervention_ids: list[int]) -> dict[int, tuple[Row, ...]]:
    out: dict[int, list[Row]] = {i: [] for i in intervention_ids}
    for row in session.execute(_VERSIONS, {"ids": intervention_ids}):
        out[row.intervention_id].append(row)
    return {i: tuple(v) for i, v in out.items()}


def read(session: Session, slug: str, runs: bool = True) -> Snapshot:
    """An intervention's rows (with `runs`, the newest run of each outcome and method too)."""
    intervention = session.execute(_INTERVENTION, {"slug": slug}).first()
    if intervention is None:
        raise UserError(f"no intervention registered as {slug!r} (see `gpcluster evaluate list`)")
    newest = tuple(session.execute(_NEWEST_RUNS, {"intervention_id": intervention.id}).all()) if runs else ()
    return Snapshot(intervention, _versions(session, [intervention.id])[intervention.id], newest)


def read_all(session: Session) -> list[Snapshot]:
    """Every registered intervention's record and versions (no runs), in order of registration."""
    interventions = session.execute(_INTERVENTIONS).all()
    versions = _versions(session, [i.id for i in interventions])
    return [Snapshot(i, versions[i.id]) for i in interventions]


def record_run(session: Session, slug: str, version: int, result: EvaluationResult, data_through: date | None,
               user: User | None = None, now: datetime | None = None) -> int:
    """Store one evaluation result; returns the run id."""
    now = now or utcnow()
    intervention = session.scalar(select(Intervention).where(Intervention.slug == slug))
    if intervention is None:
        raise UserError(f"no intervention registered as {slug!r}")
    run = EvaluationRun(intervention_id=intervention.id, version=version, indicator_id=result.outcome.indicator_id,
                        method=result.method, run_at=now, run_by=user.username if user is not None else None,
                        data_through=data_through, result=json.dumps(result.to_dict(), allow_nan=False))
    session.add(run)
    session.flush()
    audit.record(session, "evaluation_run", user=user, target=f"intervention:{slug}",
                 detail=f"{result.method} on {result.outcome.indicator_id}, version {version}", at=now)
    return run.id


def latest_runs(session: Session, slug: str) -> list[StoredRun]:
    """The newest run of each (indicator, method) of an intervention."""
    return read(session, slug).latest_runs
