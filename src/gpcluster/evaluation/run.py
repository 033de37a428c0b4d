"""Running a registered intervention's analysis plan on the warehouse: check a registration against the
data, resolve where its units sit in the organisation tree, and evaluate each outcome with the planned
method. Units of other registered interventions on the same indicator are never used for comparison."""

from __future__ import annotations

from datetime import date

from gpcluster.errors import UserError
from gpcluster.evaluation.did import difference_in_differences
from gpcluster.evaluation.its import interrupted_time_series
from gpcluster.evaluation.panel import Panel, load_outcome, load_panel
from gpcluster.evaluation.power import PowerResult, plan_power
from gpcluster.evaluation.registry import Registered, Registration
from gpcluster.evaluation.result import EvaluationResult
from gpcluster.evaluation.staggered import staggered_adoption
from gpcluster.evaluation.synth import synthetic_control

_AREA_COLUMN = {"practice": "area_code", "cluster": "cluster_id", "hscp": "hscp_code", "board": "board_code"}


def resolve(con, registration: Registration) -> Registration:
    """Check the outcomes and units exist in the warehouse and record the practices, clusters, HSCPs and
    boards the units belong to (at each unit's start). Raises UserError listing every unknown code."""
    for outcome in registration.outcomes:
        load_outcome(con, outcome.indicator_id)
    column = _AREA_COLUMN[registration.level]
    areas: dict[str, set[str]] = {"practices": set(), "clusters": set(), "hscps": set(), "boards": set()}
    unknown = []
    for unit in registration.units:
        rows = con.execute(  # membership in force at the start, as the indicator results record it
            f"""SELECT DISTINCT area_code, cluster_id, hscp_code, board_code FROM indicator_value
                WHERE level = 'practice' AND {column} = ? AND period = (
                    SELECT coalesce(max(period) FILTER (WHERE period <= ?), min(period))
                    FROM indicator_value WHERE level = 'practice' AND {column} = ?)""",
            [unit.code, unit.start, unit.code]).fetchall()
        if not rows:
            unknown.append(unit.code)
        for practice, cluster, hscp, board in rows:
            areas["practices"].add(practice)
            if cluster:
                areas["clusters"].add(cluster)
            areas["hscps"].add(hscp)
            areas["boards"].add(board)
    if unknown:
        raise UserError(f"{registration.id}: no {registration.level} with code(s) {', '.join(unknown)} in the "
                        "warehouse")
    return registration.model_copy(update={"areas": {k: sorted(v) for k, v in areas.items()}})


def _exclusions(others: list[Registered], slug: str, indicator_id: str, level: str) -> set[str]:
    """Units of other interventions with the same outcome, at the analysis level."""
    out: set[str] = set()
    for other in others:
        if other.slug == slug:
            continue
        reg = other.planned.registration
        if indicator_id not in {o.indicator_id for o in reg.outcomes}:
            continue
        if reg.level == level:
            out |= {u.code for u in reg.units}
        out |= set(reg.areas.get({"practice": "practices", "cluster": "clusters", "hscp": "hscps",
                                  "board": "boards"}[level], []))
    return out


def analysis_level(registration: Registration) -> str:
    return registration.plan.unit_level or registration.level


def evaluate_outcome(panel: Panel, registration: Registration, exclude: set[str] | None = None) -> EvaluationResult:
    """Run the registration's planned method on one indicator panel."""
    plan = registration.plan
    codes = [u.code for u in registration.units]
    if panel.level != registration.level and plan.method != "its":
        treated = sorted(set(registration.areas.get({"practice": "practices", "cluster": "clusters",
                                                     "hscp": "hscps"}[panel.level], [])))
    else:
        treated = codes
    exclude = (exclude or set()) - set(treated)
    if plan.method == "its":
        return interrupted_time_series(panel, treated, registration.start, plan.post_quarters, plan.pre_quarters)
    if plan.method == "did":
        return difference_in_differences(panel, treated, registration.start, plan.post_quarters, plan.pre_quarters,
                                         plan.matches, exclude=exclude)
    if plan.method == "staggered":
        starts = registration.starts if panel.level == registration.level else {}
        if not starts:
            raise UserError("staggered adoption is analysed at the level the dates were registered for")
        return staggered_adoption(panel, starts, plan.post_quarters, plan.pre_quarters, exclude=exclude)
    if len(treated) != 1:
        raise UserError("synthetic control needs exactly one treated unit at the analysis level")
    return synthetic_control(panel, treated[0], registration.start, plan.post_quarters, plan.pre_quarters,
                             exclude=exclude)


def evaluate(con, registered: Registered, others: list[Registered] | None = None,
             indicator_ids: list[str] | None = None) -> list[EvaluationResult]:
    """Evaluate every outcome (or the given ones) of the pre-registered plan."""
    registration = registered.planned.registration
    level = analysis_level(registration)
    results = []
    for outcome in registration.outcomes:
        if indicator_ids and outcome.indicator_id not in indicator_ids:
            continue
        panel = load_panel(con, outcome.indicator_id, level)
        exclude = _exclusions(others or [], registered.slug, outcome.indicator_id, level)
        results.append(evaluate_outcome(panel, registration, exclude))
    if not results:
        raise UserError(f"{registered.slug} has no outcome {', '.join(indicator_ids or [])}")
    return results


def power(con, registration: Registration, indicator_id: str | None = None) -> list[PowerResult]:
    """Power of the plan for each outcome (or one)."""
    level = analysis_level(registration)
    out = []
    for outcome in registration.outcomes:
        if indicator_id and outcome.indicator_id != indicator_id:
            continue
        panel = load_panel(con, outcome.indicator_id, level)
        treated = [u.code for u in registration.units] if level == registration.level else registration.areas.get(
            {"practice": "practices", "cluster": "clusters", "hscp": "hscps"}[level], [])
        out.append(plan_power(panel, registration.plan.method, list(treated), registration.start,
                              registration.plan.post_quarters, registration.plan.pre_quarters,
                              registration.plan.matches * len(treated) if registration.plan.method == "did" else None))
    return out


def power_sentences(con, registration: Registration) -> list[str]:
    """For each outcome, the plain sentence on what the planned design could detect, or why it cannot say."""
    out = []
    for outcome in registration.outcomes:
        try:
            out.extend(p.sentence for p in power(con, registration, outcome.indicator_id))
        except UserError as exc:
            out.append(f"{outcome.indicator_id}: the power of the plan cannot be estimated ({exc}).")
    return out


def data_through(con) -> date | None:
    """The latest quarter with indicator results."""
    row = con.execute("SELECT max(period) FROM indicator_value").fetchone()
    return row[0] if row else None
