"""Allocation models: share a budget of MDT WTE for one role among practices.

Every model computes a `basis` per practice (list size, need, weighted population...) and shares the
budget in proportion to it, within each HSCP (the employer) when the budget is given per HSCP, or over
all practices in the frame when it is one number. Allocated WTE always add up to the budget.
The rurality-aware model then pools practices whose share is below a viable session into cluster hub
posts that visit each practice for whole days, and deducts travel time from time on site."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from gpcluster.errors import UserError
from gpcluster.workforce.need import capitation_indices, need_weighted_population, prepare_practices
from gpcluster.workforce.params import (
    Assumptions,
    NeedWeighted,
    PerCapita,
    RuralityAware,
    WeightedCapitation,
    load_assumptions,
    load_model,
)
from gpcluster.workforce.roles import ROLES

ALLOCATION_COLUMNS = [
    "model", "model_label", "role", "practice_code", "practice_name", "cluster_id", "hscp_code", "list_size",
    "basis", "share", "wte", "hours_per_week", "sessions_per_week", "viable", "hub_id", "hub_wte",
    "hub_practices", "visits_per_week", "travel_hours_per_week", "on_site_hours_per_week", "imputed",
]


def model_basis(practices: pd.DataFrame, agesex: pd.DataFrame, spec, indices: pd.DataFrame | None = None) -> pd.Series:
    """The quantity each model shares the budget in proportion to, per practice (aligned with
    prepare_practices(practices))."""
    df = prepare_practices(practices)
    if isinstance(spec, PerCapita):
        basis = df["list_size"].to_numpy(float)
    elif isinstance(spec, NeedWeighted):
        basis = need_weighted_population(df, agesex, spec)["need"].to_numpy(float)
    elif isinstance(spec, WeightedCapitation):
        basis = capitation_indices(df, agesex, spec, indices)["weighted_population"].to_numpy(float)
    elif isinstance(spec, RuralityAware):
        base = load_model(spec.base_model)
        if isinstance(base, RuralityAware):
            raise UserError(f"model {spec.name}: base_model must not itself be rurality-aware")
        uplift = df["urban_rural_8"].map(lambda u: spec.excess_cost_by_ur8[u]).to_numpy(float)
        basis = model_basis(df, agesex, base, indices).to_numpy(float) * uplift
    else:  # pragma: no cover - the pydantic union admits only the kinds above
        raise UserError(f"unknown model kind {type(spec).__name__}")
    return pd.Series(basis, index=df["practice_code"].to_numpy(), name="basis")


def _budget_by_group(df: pd.DataFrame, budget) -> pd.Series:
    """Budget WTE per practice's group: one group when budget is a number, else per hscp_code."""
    if isinstance(budget, Mapping | pd.Series):
        budget = pd.Series(budget, dtype=float)
        if (budget < 0).any():
            raise UserError("budget: WTE must not be negative")
        unknown = sorted(set(budget.index) - set(df["hscp_code"].dropna()))
        if unknown and budget.reindex(unknown).sum() > 0:
            raise UserError(f"budget: no practices in HSCP(s) {', '.join(map(str, unknown))}")
        return budget
    if budget is None or float(budget) < 0:
        raise UserError("budget: WTE must be a non-negative number")
    return pd.Series({"all": float(budget)})


def allocate(practices: pd.DataFrame, agesex: pd.DataFrame, model, budget_wte, role: str = "pharmacist",
             assumptions: Assumptions | None = None, indices: pd.DataFrame | None = None) -> pd.DataFrame:
    """Share `budget_wte` of one role among practices under `model` (a name, path or loaded spec).

    `budget_wte` is a number (shared over every practice in the frame) or a mapping hscp_code -> WTE
    (each HSCP's budget shared among its own practices). Returns one row per practice with the
    columns in ALLOCATION_COLUMNS; hours are per week."""
    spec = load_model(model) if isinstance(model, str) else model
    df = prepare_practices(practices)
    return _allocate_prepared(df, model_basis(df, agesex, spec, indices).to_numpy(float), spec, {role: budget_wte},
                              assumptions or load_assumptions())


def _allocate_prepared(df: pd.DataFrame, basis: np.ndarray, spec, budgets_by_role: dict, a: Assumptions) -> pd.DataFrame:
    """allocate() for several roles at once (role -> budget), on prepare_practices' frame and the model's
    basis, both computed once: one set of vectorised steps over practices x roles rather than per role."""
    for role in budgets_by_role:
        if role not in ROLES:
            raise UserError(f"unknown role {role!r}; choose one of {', '.join(ROLES)}")
    n, roles = len(df), list(budgets_by_role)
    groups, budget_of_row = [], []
    for budget_wte in budgets_by_role.values():
        budgets = _budget_by_group(df, budget_wte)
        group = df["hscp_code"] if budgets.index.tolist() != ["all"] else pd.Series("all", index=df.index)
        groups.append(group.to_numpy(dtype=object))
        budget_of_row.append(group.map(budgets).fillna(0.0).to_numpy(float))
    out = df.iloc[np.tile(np.arange(n), len(roles))].reset_index(drop=True)
    out["role"] = np.repeat(np.array(roles, dtype=object), n)
    out["group"] = np.concatenate(groups)
    basis = np.tile(basis, len(roles))
    budget = np.concatenate(budget_of_row)
    out["basis"] = basis
    totals = out.groupby(["role", "group"])["basis"].transform("sum").to_numpy(float)
    if ((totals <= 0) & (budget > 0)).any():
        raise UserError(f"model {spec.name}: a group with a budget has no need or population to share it by")
    out["share"] = np.divide(basis, totals, out=np.zeros_like(basis), where=totals > 0)
    out["wte"] = out["share"].to_numpy(float) * budget
    hours_per_wte = a.hours_per_wte.value
    out["hours_per_week"] = out["wte"] * hours_per_wte
    out["sessions_per_week"] = out["hours_per_week"] / a.session_hours.value
    out["model"] = spec.name
    approximate = spec.approximate and "approximate" not in spec.label.lower()
    out["model_label"] = spec.label + (" (approximate)" if approximate else "")
    if isinstance(spec, RuralityAware):
        out = _pool_into_hubs(out, spec, a)
    else:
        out["viable"] = out["hours_per_week"] >= a.session_hours.value
        out["hub_id"] = None
        out["hub_wte"] = np.nan
        out["hub_practices"] = 0
        out["visits_per_week"] = np.nan
        out["travel_hours_per_week"] = 0.0
        out["on_site_hours_per_week"] = out["hours_per_week"]
    return out[ALLOCATION_COLUMNS].reset_index(drop=True)


def _pool_into_hubs(df: pd.DataFrame, spec: RuralityAware, a: Assumptions) -> pd.DataFrame:
    minimum = spec.min_viable_hours_per_week.value
    pooled = (df["hours_per_week"] < minimum) & (df["hours_per_week"] > 0)
    area = df["cluster_id"].where(df["cluster_id"].notna(), df["hscp_code"]).fillna("unassigned").astype(str)
    df["hub_id"] = np.where(pooled, area + " hub", None)
    hub = df["role"].astype(str) + "\x1f" + df["hub_id"].fillna("").astype(str)  # a hub is per role and area
    hub_wte = df[pooled].groupby(hub[pooled])["wte"].sum()
    hub_n = df[pooled].groupby(hub[pooled]).size()
    df["hub_wte"] = hub.map(hub_wte).where(pooled)
    df["hub_practices"] = hub.map(hub_n).where(pooled).fillna(0).astype(int)
    visits = np.where(pooled, df["hours_per_week"] / a.visit_hours.value, np.nan)
    travel_min = df["urban_rural_8"].map(lambda u: a.travel_minutes_round_trip_by_ur8[u]).to_numpy(float)
    travel = np.where(pooled, np.nan_to_num(visits) * travel_min / 60.0, 0.0)
    df["visits_per_week"] = visits
    df["travel_hours_per_week"] = np.minimum(travel, df["hours_per_week"])
    df["on_site_hours_per_week"] = df["hours_per_week"] - df["travel_hours_per_week"]
    # A hub visit is a whole day, so every practice it serves gets a viable block of time.
    df["viable"] = pooled | (df["hours_per_week"] >= minimum)
    return df


def allocate_roles(practices: pd.DataFrame, agesex: pd.DataFrame, model, budgets: pd.DataFrame,
                   assumptions: Assumptions | None = None, indices: pd.DataFrame | None = None) -> pd.DataFrame:
    """Allocate every role in `budgets` (columns hscp_code, role, wte; one budget per HSCP and role,
    e.g. the current roster's WTE) under one model. One row per practice and role."""
    missing = {"hscp_code", "role", "wte"} - set(budgets.columns)
    if missing:
        raise UserError(f"budgets: missing column(s) {', '.join(sorted(missing))}")
    if budgets.empty:
        return pd.DataFrame(columns=ALLOCATION_COLUMNS)
    spec = load_model(model) if isinstance(model, str) else model
    prepared = prepare_practices(practices)
    basis = model_basis(prepared, agesex, spec, indices).to_numpy(float)  # the same for every role
    by_role = {str(role): rows.groupby("hscp_code")["wte"].sum() for role, rows in budgets.groupby("role", sort=True)}
    return _allocate_prepared(prepared, basis, spec, by_role, assumptions or load_assumptions())
