"""Known interventions planted in the synthetic activity, so the evaluation methods can be scored
against the truth: a common-date change in a group of practices, a staggered roll-out across HSCPs
with an effect that grows over time, a change in one cluster, and null interventions with no effect.

Everything here is a pure function of its inputs. An effect multiplies the *expected* count; it is
applied to counts already drawn, so the planting works on any count model:

* a fall (multiplier m < 1) thins each count, Binomial(count, m). Thinning a Poisson(mu) count gives
  Poisson(m mu), and a negative binomial NB(mu, k) gives NB(m mu, k): the shape is kept exactly;
* a rise (m > 1) adds Poisson(count (m - 1)), whose mean is mu (m - 1).

The truth table has one row per intervention and affected practice; `mean_log_effect` turns it into
the quantity every method estimates: the mean log rate ratio over the quarters of an analysis window.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import numpy as np
import pandas as pd

SHAPES = ("step", "ramp", "none")
TRUTH_COLUMNS = ["intervention_id", "title", "measure", "indicator_id", "level", "unit", "practice_code",
                 "start", "shape", "effect", "ramp_quarters", "method"]


@dataclass(frozen=True)
class Plan:
    """One kind of planted intervention (the share of the run at which it starts, what it changes)."""

    intervention_id: str
    title: str
    what_changed: str
    measure: str
    indicator_id: str
    level: str  # practice | cluster | hscp
    shape: str
    effect: float  # multiplier reached (1 for a null intervention)
    ramp_quarters: int
    method: str  # the analysis the registration plans
    expected: str  # increase | decrease (stated in advance, also for the nulls)
    count: int  # practices, clusters or HSCPs
    start_share: tuple[float, ...]  # start as a share of the run; one per wave for a staggered roll-out


PLANS = (
    Plan("pharmacotherapy-pilot", "Pharmacotherapy service in a group of practices",
         "A practice-based pharmacotherapy team took over medication reviews and repeat-prescribing queries.",
         "gp_consultations", "gp_consultation_rate", "practice", "step", 0.92, 0, "did", "decrease", 10, (0.6,)),
    Plan("frailty-team-rollout", "Community frailty teams rolled out across HSCPs",
         "Multidisciplinary frailty teams started anticipatory care, HSCP by HSCP.",
         "emergency_admissions", "emergency_admission_rate", "hscp", "ramp", 0.85, 6, "staggered", "decrease", 6,
         (0.45, 0.55, 0.65)),
    Plan("cluster-ae-signposting", "Cluster signposting to minor injuries units",
         "The cluster agreed a shared signposting protocol sending minor injuries to the local unit.",
         "ae_attendances", "ae_attendance_rate", "cluster", "step", 0.88, 0, "synth", "decrease", 1, (0.6,)),
    Plan("extended-hours-null", "Extended opening hours pilot (no effect planted)",
         "Evening and Saturday appointments offered in a group of practices.",
         "gp_consultations", "gp_consultation_rate", "practice", "none", 1.0, 0, "did", "increase", 10, (0.6,)),
    Plan("cluster-admissions-null", "Cluster anticipatory care planning (no effect planted)",
         "A cluster-wide anticipatory care planning template.",
         "emergency_admissions", "emergency_admission_rate", "cluster", "none", 1.0, 0, "synth", "decrease", 1,
         (0.6,)),
)
MIN_CLUSTER_PRACTICES = 4


def multiplier(shape: str, effect: float, quarters_since: np.ndarray, ramp_quarters: int = 0) -> np.ndarray:
    """Multiplier of the expected count `quarters_since` the start (negative = before: 1).

    step: `effect` from the start; ramp: log-linear growth reaching `effect` after `ramp_quarters`
    quarters, then flat; none: 1 throughout.
    """
    h = np.asarray(quarters_since, dtype=float)
    if shape not in SHAPES:
        raise ValueError(f"unknown effect shape {shape!r}; expected one of {', '.join(SHAPES)}")
    if shape == "none":
        return np.ones_like(h)
    share = np.ones_like(h) if shape == "step" else np.minimum(h + 1, ramp_quarters) / max(ramp_quarters, 1)
    return np.where(h >= 0, np.exp(np.log(effect) * share), 1.0)


def apply_multipliers(rng: np.random.Generator, counts: np.ndarray, multipliers: np.ndarray) -> np.ndarray:
    """Counts whose expected value is multiplied by `multipliers` (thinning below 1, Poisson top-up above)."""
    counts = np.asarray(counts)
    m = np.asarray(multipliers, dtype=float)
    if (m < 0).any():
        raise ValueError("multipliers must not be negative")
    out = counts.astype(np.int64).copy()
    down, up = m < 1, m > 1
    out[down] = rng.binomial(out[down], m[down])
    out[up] = out[up] + rng.poisson(out[up] * (m[up] - 1))
    return out


def practice_frame(codes: np.ndarray, hscps: np.ndarray, cluster_of: np.ndarray, active: np.ndarray,
                   eligible: np.ndarray) -> pd.DataFrame:
    """One row per practice: practice_code, hscp_code, cluster (key at the last release), active_from and
    active_to (quarter indexes), eligible (may be chosen for a practice-level intervention: open throughout,
    untouched by events and planted signals)."""
    quarters = active.shape[1]
    opened = np.where(active.any(axis=1), active.argmax(axis=1), quarters)
    closed = np.where(active.any(axis=1), quarters - 1 - active[:, ::-1].argmax(axis=1), -1)
    return pd.DataFrame({"practice_code": codes.astype(str), "hscp_code": hscps.astype(str),
                         "cluster": cluster_of[:, -1], "active_from": opened, "active_to": closed,
                         "eligible": eligible.astype(bool)})


def _start_index(share: float, quarters: int) -> int:
    return int(min(max(round(share * quarters), 1), quarters - 1))


def choose_units(rng: np.random.Generator, frame: pd.DataFrame, quarters: int,
                 plans: tuple[Plan, ...] = PLANS) -> pd.DataFrame:
    """Which practices each plan touches and from which quarter: rows (intervention_id, unit,
    practice_code, start_index). Units of different plans on the same measure never overlap, and the
    HSCPs of the roll-out hold none of the other plans' units."""
    eligible = frame[frame["eligible"]]
    clean_clusters = [c for c, members in frame.groupby("cluster")
                      if len(members) >= MIN_CLUSTER_PRACTICES and members["eligible"].all()]
    taken_practices: set[str] = set()
    taken_hscps: set[str] = set()
    rows = []
    for plan in sorted(plans, key=lambda p: p.level != "hscp"):  # HSCP roll-outs first: others avoid them
        if plan.level == "hscp":
            hscps = sorted(set(frame["hscp_code"]))
            chosen = list(rng.choice(hscps, size=min(plan.count, len(hscps)), replace=False))
            waves = [_start_index(s, quarters) for s in plan.start_share]
            for i, hscp in enumerate(chosen):
                start = waves[i % len(waves)]
                for code in frame.loc[frame["hscp_code"] == hscp, "practice_code"]:
                    rows.append((plan.intervention_id, hscp, code, start))
            taken_hscps |= set(chosen)
            continue
        start = _start_index(plan.start_share[0], quarters)
        if plan.level == "cluster":
            pool = [c for c in clean_clusters
                    if not set(frame.loc[frame["cluster"] == c, "hscp_code"]) & taken_hscps
                    and not set(frame.loc[frame["cluster"] == c, "practice_code"]) & taken_practices]
            for c in rng.permutation(pool)[: plan.count]:
                members = frame.loc[frame["cluster"] == c, "practice_code"]
                rows += [(plan.intervention_id, f"cluster:{c}", code, start) for code in members]
                taken_practices |= set(members)
            continue
        pool = eligible[~eligible["practice_code"].isin(taken_practices) & ~eligible["hscp_code"].isin(taken_hscps)]
        for code in rng.permutation(pool["practice_code"].to_numpy())[: plan.count]:
            rows.append((plan.intervention_id, str(code), str(code), start))
            taken_practices.add(str(code))
    return pd.DataFrame(rows, columns=["intervention_id", "unit", "practice_code", "start_index"])


def plant_interventions(rng: np.random.Generator, activity: pd.DataFrame, frame: pd.DataFrame,
                        releases: list[date], plans: tuple[Plan, ...] = PLANS) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Activity (Date, PracticeCode, Measure, Value) with the planned effects applied, and the truth table.

    Runs too short to have a quarter before and after a start plant nothing (the truth table is empty).
    """
    if len(releases) < 2 or not plans:
        return activity, pd.DataFrame(columns=TRUTH_COLUMNS)
    chosen = choose_units(rng, frame, len(releases), plans)
    by_id = {p.intervention_id: p for p in plans}
    dates = np.array([int(r.strftime("%Y%m%d")) for r in releases])
    out = activity.copy()
    quarter = pd.Series(np.arange(len(dates)), index=dates)
    for plan in plans:
        units = chosen[chosen["intervention_id"] == plan.intervention_id]
        if units.empty or plan.shape == "none":
            continue
        start_of = dict(zip(units["practice_code"], units["start_index"], strict=True))
        rows = out.index[(out["Measure"] == plan.measure) & out["PracticeCode"].astype(str).isin(start_of)]
        since = (quarter.loc[out.loc[rows, "Date"]].to_numpy()
                 - out.loc[rows, "PracticeCode"].astype(str).map(start_of).to_numpy())
        m = multiplier(plan.shape, plan.effect, since, plan.ramp_quarters)
        out.loc[rows, "Value"] = apply_multipliers(rng, out.loc[rows, "Value"].to_numpy(), m)
    truth = chosen.assign(
        title=chosen["intervention_id"].map(lambda i: by_id[i].title),
        measure=chosen["intervention_id"].map(lambda i: by_id[i].measure),
        indicator_id=chosen["intervention_id"].map(lambda i: by_id[i].indicator_id),
        level=chosen["intervention_id"].map(lambda i: by_id[i].level),
        start=[releases[i] for i in chosen["start_index"]],
        shape=chosen["intervention_id"].map(lambda i: by_id[i].shape),
        effect=chosen["intervention_id"].map(lambda i: by_id[i].effect),
        ramp_quarters=chosen["intervention_id"].map(lambda i: by_id[i].ramp_quarters),
        method=chosen["intervention_id"].map(lambda i: by_id[i].method),
    )
    return out, truth.reindex(columns=TRUTH_COLUMNS).reset_index(drop=True)


def mean_log_effect(shape: str, effect: float, ramp_quarters: int, window: int) -> float:
    """The planted effect as every method estimates it: the mean log rate ratio over the first `window`
    quarters from the start."""
    return float(np.mean(np.log(multiplier(shape, effect, np.arange(window), ramp_quarters))))


#: planted interventions registered a second time, analysed as an interrupted time series of the same units
#: (no comparison group), so the demo shows that method beside the planned one on the same planted effect
ITS_TWINS = ("pharmacotherapy-pilot",)


def registrations(truth: pd.DataFrame, plans: tuple[Plan, ...] = PLANS) -> list[dict]:
    """Registration content for each planted intervention (what the demo registers), with units as
    practices, HSCP codes, or `cluster_of_practice` (the demo resolves it to the cluster id in the
    warehouse), and the ITS twins (`ITS_TWINS`, id suffixed "-its"). Dates are ISO strings."""
    out = []
    for plan in plans:
        rows = truth[truth["intervention_id"] == plan.intervention_id]
        if rows.empty:
            continue
        if plan.level == "cluster":
            units = [{"cluster_of_practice": str(rows["practice_code"].iloc[0]), "start": rows["start"].iloc[0].isoformat()}]
        else:
            first = rows.drop_duplicates("unit")
            units = [{"code": str(u), "start": s.isoformat()} for u, s in zip(first["unit"], first["start"], strict=True)]
        content = {"id": plan.intervention_id, "title": plan.title, "what_changed": plan.what_changed,
                   "level": plan.level, "units": units,
                   "outcomes": [{"indicator_id": plan.indicator_id, "expected": plan.expected, "primary": True}],
                   "plan": {"method": plan.method, "post_quarters": 8}}
        out.append(content)
        if plan.intervention_id in ITS_TWINS:
            out.append({**content, "id": f"{plan.intervention_id}-its",
                        "title": f"{plan.title}, without a comparison group",
                        "what_changed": f"{plan.what_changed} The same practices as '{plan.intervention_id}', "
                                        "analysed by interrupted time series: their own trend before the start "
                                        "is the comparison.",
                        "plan": {"method": "its", "post_quarters": 8}})
    return out
