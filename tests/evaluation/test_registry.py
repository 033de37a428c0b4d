"""The register: versions are timestamped and locked, a change is a new version, and after the start date a
change needs a reason, is marked, and does not replace the pre-registered plan. On SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text

from gpcluster.errors import UserError, ValidationFailed
from gpcluster.evaluation import registry
from gpcluster.store import audit
from gpcluster.store.models import InterventionVersion
from warehouse import START  # noqa: I001


def _at(days_from_start: int) -> datetime:
    return datetime.combine(START, datetime.min.time(), UTC) + timedelta(days=days_from_start)


def _registration(toml_text, **kwargs) -> registry.Registration:
    return registry.parse_registration(toml_text(**kwargs), "pilot.toml")


def test_registering_stores_a_locked_fingerprinted_version_and_an_audit_event(store, toml_text):
    reg = _registration(toml_text)
    with store.session() as session:
        registered = registry.register(session, reg, now=_at(-60))
    assert [v.number for v in registered.versions] == [1]
    assert registered.preregistered and registered.intact and registered.planned.registration == reg
    with store.session() as session:
        row = session.query(InterventionVersion).one()
        assert row.content_sha256 == registry.fingerprint(reg.canonical())
        assert row.registered_at == _at(-60) and row.after_start is False
        [event] = audit.recent(session, 10, action="intervention_registered")
        assert event.target == "intervention:pharmacy-pilot"


def test_registering_the_same_id_twice_is_refused(store, toml_text):
    with store.session() as session:
        registry.register(session, _registration(toml_text), now=_at(-60))
    with pytest.raises(UserError, match="already registered"), store.session() as session:
        registry.register(session, _registration(toml_text), now=_at(-30))


def test_a_change_before_the_start_is_a_new_version_that_becomes_the_plan(store, toml_text):
    with store.session() as session:
        registry.register(session, _registration(toml_text), now=_at(-60))
        changed = _registration(toml_text, expected="increase")
        registered = registry.amend(session, "pharmacy-pilot", changed, None, now=_at(-10))
    assert [v.number for v in registered.versions] == [1, 2]
    assert registered.planned.number == 2 and not registered.amendments_after_start
    assert registered.versions[0].registration.outcomes[0].expected == "decrease"  # version 1 kept as it was


def test_after_the_start_a_change_needs_a_reason_and_never_replaces_the_preregistered_plan(store, toml_text):
    with store.session() as session:
        registry.register(session, _registration(toml_text), now=_at(-60))
    changed = _registration(toml_text, expected="increase")
    with pytest.raises(UserError, match="must give a reason"), store.session() as session:
        registry.amend(session, "pharmacy-pilot", changed, "  ", now=_at(30))
    with store.session() as session:
        registered = registry.amend(session, "pharmacy-pilot", changed, "outcome mistyped", now=_at(30))
        events = audit.recent(session, 10, action="intervention_amended")
    assert registered.latest.after_start and registered.latest.reason == "outcome mistyped"
    assert registered.planned.number == 1
    assert registered.planned.registration.outcomes[0].expected == "decrease"
    assert "after the start" in events[0].detail and "outcomes" in events[0].detail


def test_an_unchanged_amendment_is_refused(store, toml_text):
    with store.session() as session:
        registry.register(session, _registration(toml_text), now=_at(-60))
    with pytest.raises(UserError, match="nothing changed"), store.session() as session:
        registry.amend(session, "pharmacy-pilot", _registration(toml_text), "no reason", now=_at(5))


def test_registered_versions_cannot_be_changed_through_the_orm(store, toml_text):
    with store.session() as session:
        registry.register(session, _registration(toml_text), now=_at(-60))
    with pytest.raises(UserError, match="locked"), store.session() as session:
        row = session.query(InterventionVersion).one()
        row.content = row.content.replace("decrease", "increase")
    with pytest.raises(UserError, match="locked"), store.session() as session:
        session.delete(session.query(InterventionVersion).one())
    with store.session() as session:
        assert registry.get(session, "pharmacy-pilot").planned.registration.outcomes[0].expected == "decrease"


def test_registered_versions_cannot_be_changed_by_sql_behind_the_application(store, toml_text):
    with store.session() as session:
        registry.register(session, _registration(toml_text), now=_at(-60))
    for statement in ("UPDATE intervention_version SET content = 'x'", "DELETE FROM intervention_version"):
        with pytest.raises(Exception, match="locked"), store.engine.begin() as connection:
            connection.execute(text(statement))
    with store.session() as session:
        assert registry.get(session, "pharmacy-pilot").intact


def test_tampering_that_gets_past_the_lock_is_detected(store, toml_text):
    if store.engine.dialect.name != "sqlite":
        pytest.skip("dropping the lock trigger is shown on SQLite")
    with store.session() as session:
        registry.register(session, _registration(toml_text), now=_at(-60))
    with store.engine.begin() as connection:
        connection.execute(text("DROP TRIGGER intervention_version_no_update"))
        connection.execute(text("UPDATE intervention_version SET content = replace(content, 'decrease', 'increase')"))
    with store.session() as session:
        assert not registry.get(session, "pharmacy-pilot").intact


def test_bad_registration_files_name_the_file_and_every_field(toml_text):
    bad = toml_text(method="synth").replace('expected = "decrease"', 'expected = "down"').replace(
        'id = "pharmacy-pilot"', 'id = "Pharmacy Pilot!"')
    with pytest.raises(ValidationFailed) as caught:
        registry.parse_registration(bad, "pilot.toml")
    message = str(caught.value)
    assert "pilot.toml" in message and "'id'" in message and "outcomes.0.expected" in message
    with pytest.raises(ValidationFailed, match="not valid TOML"):
        registry.parse_registration("id = ", "broken.toml")


def test_different_start_dates_need_the_staggered_method(toml_text):
    text_ = toml_text().replace(f"start = {START.isoformat()}", "start = 2020-01-01", 1)
    with pytest.raises(ValidationFailed, match="staggered"):
        registry.parse_registration(text_, "pilot.toml")


def test_the_newest_run_of_each_outcome_and_method_is_read_and_any_change_gives_another_revision(store, toml_text):
    from gpcluster.evaluation.result import Effect, EvaluationResult, Outcome

    def result(method: str, indicator_id: str, estimate: float) -> EvaluationResult:
        return EvaluationResult(method, Outcome(indicator_id, indicator_id, "per 1,000", 1000.0, "rate"),
                                Effect("difference", estimate, estimate - 1, estimate + 1), START, 4, 8, ["10001"])

    with store.session() as session:
        registry.register(session, _registration(toml_text), now=_at(-60))
        empty = registry.read(session, "pharmacy-pilot")
        registry.record_run(session, "pharmacy-pilot", 1, result("did", "a_rate", 1.0), None, now=_at(100))
        registry.record_run(session, "pharmacy-pilot", 1, result("did", "a_rate", 2.0), None, now=_at(200))
        registry.record_run(session, "pharmacy-pilot", 1, result("did", "a_rate", 3.0), None, now=_at(200))  # same time: the later id
        registry.record_run(session, "pharmacy-pilot", 1, result("did", "a_rate", 4.0), None, now=_at(150))
        registry.record_run(session, "pharmacy-pilot", 1, result("its", "a_rate", 5.0), None, now=_at(120))
        registry.record_run(session, "pharmacy-pilot", 1, result("did", "b_rate", 6.0), None, now=_at(90))
    with store.session() as session:
        first = registry.read(session, "pharmacy-pilot")
        assert [(r.result.outcome.indicator_id, r.result.method, r.result.effect.estimate)
                for r in first.latest_runs] == [("a_rate", "did", 3.0), ("a_rate", "its", 5.0), ("b_rate", "did", 6.0)]
        assert [r.result.effect.estimate for r in registry.latest_runs(session, "pharmacy-pilot")] == [3.0, 5.0, 6.0]
        assert registry.read(session, "pharmacy-pilot").revision == first.revision != empty.revision
        registry.amend(session, "pharmacy-pilot", _registration(toml_text, expected="increase"), "why", now=_at(10))
        amended = registry.read(session, "pharmacy-pilot")
        assert amended.revision != first.revision
        assert registry.read(session, "pharmacy-pilot", runs=False).revision != amended.revision
    with store.session() as session:
        session.execute(text("UPDATE evaluation_run SET run_by = 'someone' WHERE id = "
                             "(SELECT max(id) FROM evaluation_run)"))
        assert registry.read(session, "pharmacy-pilot").revision != amended.revision
