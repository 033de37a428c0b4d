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
    if role not in ROLES:
        raise UserError(f"unknown role {role!r}; choose one of {', '.join(ROLES)}")
    spec = load_model(model) if isinstance(model, str) else model
    a = assumptions or load_assumptions()
    df = prepare_practices(practices)
    basis = model_basis(df, agesex, spec, indices).to_numpy(float)
    budgets = _budget_by_group(df, budget_wte)
    group = df["hscp_code"] if budgets.index.tolist() != ["all"] else pd.Series("all", index=df.index)
    df["group"] = group.to_numpy()
    df["basis"] = basis
    totals = df.groupby("group")["basis"].transform("sum").to_numpy(float)
    if ((totals <= 0) & (df["group"].map(budgets).fillna(0).to_numpy(float) > 0)).any():
        raise UserError(f"model {spec.name}: a group with a budget has no need or population to share it by")
    df["share"] = np.divide(basis, totals, out=np.zeros_like(basis), where=totals > 0)
    df["wte"] = df["share"] * df["group"].map(budgets).fillna(0.0).to_numpy(float)
    hours_per_wte = a.hours_per_wte.value
    df["hours_per_week"] = df["wte"] * hours_per_wte
    df["sessions_per_week"] = df["hours_per_week"] / a.session_hours.value
    df["model"] = spec.name
    approximate = spec.approximate and "approximate" not in spec.label.lower()
    df["model_label"] = spec.label + (" (approximate)" if approximate else "")
    df["role"] = role
    if isinstance(spec, RuralityAware):
        df = _pool_into_hubs(df, spec, a)
    else:
        df["viable"] = df["hours_per_week"] >= a.session_hours.value
        df["hub_id"] = None
        df["hub_wte"] = np.nan
        df["hub_practices"] = 0
        df["visits_per_week"] = np.nan
        df["travel_hours_per_week"] = 0.0
        df["on_site_hours_per_week"] = df["hours_per_week"]
    return df[ALLOCATION_COLUMNS].reset_index(drop=True)


def _pool_into_hubs(df: pd.DataFrame, spec: RuralityAware, a: Assumptions) -> pd.DataFrame:
    minimum = spec.min_viable_hours_per_week.value
    pooled = (df["hours_per_week"] < minimum) & (df["hours_per_week"] > 0)
    area = df["cluster_id"].where(df["cluster_id"].notna(), df["hscp_code"]).fillna("unassigned").astype(str)
    df["hub_id"] = np.where(pooled, area + " hub", None)
    hub_wte = df[pooled].groupby("hub_id")["wte"].sum()
    hub_n = df[pooled].groupby("hub_id").size()
    df["hub_wte"] = df["hub_id"].map(hub_wte)
    df["hub_practices"] = df["hub_id"].map(hub_n).fillna(0).astype(int)
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
    frames = []
    for role, rows in budgets.groupby("role", sort=True):
        by_hscp = rows.groupby("hscp_code")["wte"].sum()
        frames.append(allocate(practices, agesex, model, by_hscp, str(role), assumptions, indices))
    if not frames:
        return pd.DataFrame(columns=ALLOCATION_COLUMNS)
    return pd.concat(frames, ignore_index=True)
