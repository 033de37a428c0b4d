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
from gpcluster.workforce.need import by_key, capitation_indices, need_weighted_population, prepare_practices
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
        uplift = by_key(df["urban_rural_8"], spec.excess_cost_by_ur8)
        basis = model_basis(df, agesex, base, indices).to_numpy(float) * uplift
    else:  # pragma: no cover - the pydantic union admits only the kinds above
        raise UserError(f"unknown model kind {type(spec).__name__}")
    return pd.Series(basis, index=df["practice_code"].to_numpy(), name="basis")


def _budget_by_group(df: pd.DataFrame, budget, hscps=None) -> pd.Series:
    """Budget WTE per practice's group: one group when budget is a number, else per hscp_code (`hscps`:
    the frame's HSCP codes, when already known)."""
    if isinstance(budget, Mapping | pd.Series):
        budget = pd.Series(budget, dtype=float)
        if (budget < 0).any():
            raise UserError("budget: WTE must not be negative")
        unknown = sorted(set(budget.index) - set(df["hscp_code"].dropna() if hscps is None else hscps))
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


#: columns of prepare_practices' frame that an allocation carries
_PRACTICE_CARRIED = ["practice_code", "practice_name", "cluster_id", "hscp_code", "list_size", "urban_rural_8", "imputed"]


def _allocate_prepared(df: pd.DataFrame, basis: np.ndarray, spec, budgets_by_role: dict, a: Assumptions) -> pd.DataFrame:
    """allocate() for several roles at once (role -> budget), on prepare_practices' frame and the model's
    basis, both computed once: numpy over practices x roles (group sums by integer codes, not pandas
    group-bys over strings)."""
    for role in budgets_by_role:
        if role not in ROLES:
            raise UserError(f"unknown role {role!r}; choose one of {', '.join(ROLES)}")
    n, roles = len(df), list(budgets_by_role)
    hscp_codes, hscps = pd.factorize(df["hscp_code"], use_na_sentinel=True)
    group_of_row, budget_of_row, n_groups = [], [], 1
    for budget_wte in budgets_by_role.values():
        budgets = _budget_by_group(df, budget_wte, hscps)
        if budgets.index.tolist() != ["all"]:  # per HSCP: practices without an HSCP get no budget
            per_hscp = budgets.reindex(hscps).fillna(0.0).to_numpy(float)
            group_of_row.append(np.where(hscp_codes >= 0, hscp_codes + 1, -1))
            budget_of_row.append(np.where(hscp_codes >= 0, per_hscp[np.maximum(hscp_codes, 0)], 0.0))
        else:
            group_of_row.append(np.zeros(n, dtype=np.int64))
            budget_of_row.append(np.full(n, float(budgets["all"])))
        n_groups = max(n_groups, len(hscps) + 1)
    role_index = np.repeat(np.arange(len(roles)), n)
    key = role_index * n_groups + np.maximum(np.concatenate(group_of_row), 0)
    basis = np.tile(np.asarray(basis, dtype=float), len(roles))
    budget = np.concatenate(budget_of_row)
    totals = _group_sums(basis, key).copy()
    totals[np.concatenate(group_of_row) == -1] = 0.0  # no HSCP under per-HSCP budgets: no share
    if ((totals <= 0) & (budget > 0)).any():
        raise UserError(f"model {spec.name}: a group with a budget has no need or population to share it by")
    share = np.divide(basis, totals, out=np.zeros_like(basis), where=totals > 0)
    wte = share * budget
    hours = wte * a.hours_per_wte.value
    carried = df[[c for c in _PRACTICE_CARRIED]]
    out = carried.iloc[np.tile(np.arange(n), len(roles))].reset_index(drop=True)
    out["role"] = np.array(roles, dtype=object)[role_index]
    out["basis"] = basis
    out["share"] = share
    out["wte"] = wte
    out["hours_per_week"] = hours
    out["sessions_per_week"] = hours / a.session_hours.value
    out["model"] = spec.name
    approximate = spec.approximate and "approximate" not in spec.label.lower()
    out["model_label"] = spec.label + (" (approximate)" if approximate else "")
    if isinstance(spec, RuralityAware):
        out = _pool_into_hubs(out, role_index, spec, a)
    else:
        out["viable"] = hours >= a.session_hours.value
        out["hub_id"] = None
        out["hub_wte"] = np.nan
        out["hub_practices"] = 0
        out["visits_per_week"] = np.nan
        out["travel_hours_per_week"] = 0.0
        out["on_site_hours_per_week"] = hours
    return out[ALLOCATION_COLUMNS]


def _group_sums(values: np.ndarray, key: np.ndarray) -> np.ndarray:
    """Each row's group total, grouped by integer codes: pandas' compensated group sum in row order (the
    same figures to the last bit as a group-by over the labels), without hashing strings."""
    return pd.Series(values).groupby(key).transform("sum").to_numpy(float, copy=True)


def _pool_into_hubs(df: pd.DataFrame, role_index: np.ndarray, spec: RuralityAware, a: Assumptions) -> pd.DataFrame:
    minimum = spec.min_viable_hours_per_week.value
    hours, wte = df["hours_per_week"].to_numpy(float), df["wte"].to_numpy(float)
    pooled = (hours < minimum) & (hours > 0)
    area = df["cluster_id"].where(df["cluster_id"].notna(), df["hscp_code"]).fillna("unassigned").astype(str)
    df["hub_id"] = np.where(pooled, (area + " hub").to_numpy(dtype=object), None)
    area_codes, areas = pd.factorize(area)
    hub = role_index * len(areas) + area_codes  # a hub is per role and area
    size = (role_index.max() + 1 if len(role_index) else 0) * len(areas)
    hub_n = np.bincount(hub, weights=pooled.astype(float), minlength=size)
    df["hub_wte"] = np.where(pooled, _group_sums(np.where(pooled, wte, 0.0), hub), np.nan)
    df["hub_practices"] = np.where(pooled, hub_n[hub], 0).astype(int)
    visits = np.where(pooled, hours / a.visit_hours.value, np.nan)
    travel_min = by_key(df["urban_rural_8"], a.travel_minutes_round_trip_by_ur8)
    travel = np.where(pooled, np.nan_to_num(visits) * travel_min / 60.0, 0.0)
    df["visits_per_week"] = visits
    df["travel_hours_per_week"] = np.minimum(travel, hours)
    df["on_site_hours_per_week"] = hours - df["travel_hours_per_week"].to_numpy(float)
    # A hub visit is a whole day, so every practice it serves gets a viable block of time.
    df["viable"] = pooled | (hours >= minimum)
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
    sums = budgets.groupby(["role", "hscp_code"], sort=True)["wte"].sum()
    by_role = {str(role): sums.xs(role, level="role") for role in sums.index.unique(level="role")}
    return _allocate_prepared(prepared, basis, spec, by_role, assumptions or load_assumptions())
