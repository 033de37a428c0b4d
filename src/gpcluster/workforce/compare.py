"""Scenario comparison of two allocations (outputs of allocate/allocate_roles): who gains and loses,
distribution by deprivation and rurality, concentration index, slope index of inequality, the
'inverse care' table and GP time released minus GP supervision time."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from gpcluster.workforce.equity import concentration_index, fractional_rank, slope_index_of_inequality
from gpcluster.workforce.need import need_weighted_population, prepare_practices
from gpcluster.workforce.params import Assumptions, load_assumptions, load_model


def gp_time(allocation: pd.DataFrame, assumptions: Assumptions | None = None) -> pd.DataFrame:
    """Per practice and role: GP hours a week released (on-site MDT hours x the role's release ratio),
    GP supervision hours (WTE x the role's supervision hours per WTE) and the net."""
    a = assumptions or load_assumptions()
    out = allocation[["model", "role", "practice_code", "wte", "on_site_hours_per_week"]].copy()
    out["gp_hours_released"] = out["on_site_hours_per_week"] * out["role"].map(a.gp_hours_released_per_mdt_hour.values)
    out["gp_supervision_hours"] = out["wte"] * out["role"].map(a.supervision_hours_per_wte.values)
    out["gp_net_hours"] = out["gp_hours_released"] - out["gp_supervision_hours"]
    return out


def practices_with_need(practices: pd.DataFrame, agesex: pd.DataFrame, need_model: str = "need_weighted") -> pd.DataFrame:
    """prepare_practices' frame with each practice's need-weighted population (the same for every pair of
    models compared over these practices: compute it once and pass it to compare as `prepared`)."""
    df = prepare_practices(practices)
    need = need_weighted_population(df, agesex, load_model(need_model))
    return df.merge(need[["practice_code", "need_weighted_population"]], on="practice_code")


@dataclass(frozen=True)
class ModelSummary:
    """What a comparison needs of one allocation over prepared practices (practices_with_need): on-site
    hours and net GP hours per practice (aligned with the prepared rows), its equity measures and its GP
    time totals. Summarise each allocation once to compare many pairs cheaply (the web planner)."""

    model: str
    hours: np.ndarray
    gp_net_hours: np.ndarray
    equity: dict
    gp_time: dict
    _groups: dict = field(default_factory=dict, compare=False, repr=False)  # sums_by, kept per key

    def sums_by(self, prepared: pd.DataFrame, key: str) -> pd.DataFrame:
        """Per group of `key` (e.g. simd_quintile), in key order: practices, list size and need-weighted
        population (columns `practices`, `list_size`, `need_weighted_population`) and this allocation's
        `hours` and `gp_net_hours`: pandas group sums, kept, so comparing many pairs groups each model once."""
        found = self._groups.get(key)
        if found is None:
            frame = pd.DataFrame({key: prepared[key].to_numpy(), "list_size": prepared["list_size"].to_numpy(float),
                                  "need_weighted_population": prepared["need_weighted_population"].to_numpy(float),
                                  "hours": self.hours, "gp_net_hours": self.gp_net_hours})
            by = frame.groupby(key)
            found = by[["list_size", "need_weighted_population", "hours", "gp_net_hours"]].sum()
            found.insert(0, "practices", by.size().to_numpy())
            self._groups[key] = found
        return found


def _ratio(roles: pd.Series, table: dict) -> np.ndarray:
    """table[role] per row, NaN for a role the table lacks (one lookup per distinct role)."""
    distinct, where = np.unique(roles.to_numpy(dtype=object).astype(str), return_inverse=True)
    return np.array([table.get(r, np.nan) for r in distinct], dtype=float)[where.reshape(-1)]


def _sums_by_practice(values: np.ndarray, where: np.ndarray, n: int) -> np.ndarray:
    """Sum of `values` per practice (`where`: the row's position among the prepared practices, -1 when
    absent), 0 for a practice with no rows. pandas' compensated group sum in row order, over integer
    codes: the same figures to the last bit as a group-by over practice codes, without hashing strings."""
    keep = where >= 0
    sums = pd.Series(values[keep]).groupby(where[keep]).sum()
    out = np.zeros(n)
    out[sums.index.to_numpy(dtype=np.int64)] = sums.to_numpy(float)
    return out


def summarise(allocation: pd.DataFrame, prepared: pd.DataFrame, assumptions: Assumptions | None = None) -> ModelSummary:
    """One allocation's per-practice hours, equity measures and GP time over `prepared`'s practices."""
    return summarise_roles(allocation, prepared, assumptions, by_role=False)[None]


def summarise_roles(allocation: pd.DataFrame, prepared: pd.DataFrame, assumptions: Assumptions | None = None,
                    by_role: bool = True) -> dict:
    """summarise() of the allocation over every role together (key None) and, with `by_role`, of each
    role's rows alone (key: the role): the GP-time arithmetic and the practice lookup done once."""
    a = assumptions or load_assumptions()
    on_site = allocation["on_site_hours_per_week"].to_numpy(float)
    wte = allocation["wte"].to_numpy(float)
    released = on_site * _ratio(allocation["role"], a.gp_hours_released_per_mdt_hour.values)
    supervision = wte * _ratio(allocation["role"], a.supervision_hours_per_wte.values)
    net = released - supervision
    n = len(prepared)
    where = pd.Index(prepared["practice_code"]).get_indexer(allocation["practice_code"])
    model = allocation["model"].iloc[0]
    need = prepared["need_weighted_population"].to_numpy(float)
    size = prepared["list_size"].to_numpy(float)
    order = (prepared["simd_rank"] if "simd_rank" in prepared.columns and prepared["simd_rank"].notna().all()
             else prepared["simd_decile"]).to_numpy(float)
    decile = prepared["simd_decile"].to_numpy(float)
    rank_size, rank_need = fractional_rank(order, size), fractional_rank(order, need)  # the same for every role

    def one(rows: np.ndarray | slice) -> ModelSummary:
        hours = _sums_by_practice(on_site[rows], where[rows], n)
        per_need = hours / need * 10_000
        sii = slope_index_of_inequality(per_need, decile, need)
        equity = {
            "model": model, "total_hours": float(pd.Series(hours).sum()),
            "concentration_index_hours_per_patient": concentration_index(hours / size, order, size, rank=rank_size),
            "concentration_index_hours_per_need": concentration_index(per_need, order, need, rank=rank_need),
            "sii_hours_per_10k_need": sii.sii, "rii_hours_per_10k_need": sii.rii,
        }
        totals = {"gp_hours_released": float(pd.Series(released[rows]).sum()),
                  "gp_supervision_hours": float(pd.Series(supervision[rows]).sum()),
                  "gp_net_hours": float(pd.Series(net[rows]).sum())}
        return ModelSummary(model, hours, _sums_by_practice(net[rows], where[rows], n), equity, totals)

    out = {None: one(slice(None))}
    if by_role:
        roles = allocation["role"].to_numpy(dtype=object)
        for role in sorted(set(roles)):
            out[role] = one(np.flatnonzero(roles == role))
    return out


def compare(alloc_a: pd.DataFrame, alloc_b: pd.DataFrame, practices: pd.DataFrame, agesex: pd.DataFrame,
            assumptions: Assumptions | None = None, need_model: str = "need_weighted",
            prepared: pd.DataFrame | None = None) -> dict[str, pd.DataFrame]:
    """Compare allocation A (e.g. per capita) with B. Hours are on-site MDT hours a week summed over the
    roles allocated. Returns tidy frames: practices, by_simd_quintile, by_urban_rural, equity,
    inverse_care, gp_time. `prepared`: practices_with_need(practices, agesex, need_model), when the caller
    compares many pairs over the same practices."""
    a = assumptions or load_assumptions()
    df = prepared if prepared is not None else practices_with_need(practices, agesex, need_model)
    return compare_summaries(summarise(alloc_a, df, a), summarise(alloc_b, df, a), df)


def compare_summaries(sa: ModelSummary, sb: ModelSummary, prepared: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """compare() from two allocations' summaries over the same prepared practices."""
    hours_a, hours_b = sa.hours, sb.hours
    change = hours_b - hours_a
    positive = hours_a > 0
    with np.errstate(divide="ignore", invalid="ignore"):
        change_pct = np.where(positive, 100 * change / np.where(positive, hours_a, np.nan), np.nan)
    outcome = np.select([change > 0.05, change < -0.05], ["gains", "loses"], "no change")
    # sorted by change as DataFrame.sort_values sorts (quicksort, missing last), and only the columns the
    # tables show (prepared holds a dozen more, several of them text): one take, not one per column
    missing = np.isnan(change)
    order = np.concatenate([np.flatnonzero(~missing)[change[~missing].argsort(kind="quicksort")],
                            np.flatnonzero(missing)])
    shown = prepared[["practice_code", "practice_name", "cluster_id", "hscp_code", "list_size",
                      "need_weighted_population", "simd_decile", "simd_quintile", "urban_rural_8"]]
    practice_table = pd.concat([
        shown.take(order).reset_index(drop=True),
        pd.DataFrame({"hours_a": hours_a[order], "hours_b": hours_b[order], "change_hours": change[order],
                      "change_pct": change_pct[order], "outcome": outcome[order].astype(object),
                      "gp_net_hours_a": sa.gp_net_hours[order], "gp_net_hours_b": sb.gp_net_hours[order]}),
    ], axis=1)

    def grouped(key: str) -> pd.DataFrame:
        a, b = sa.sums_by(prepared, key), sb.sums_by(prepared, key)
        need = a["need_weighted_population"].to_numpy()
        hours_a, hours_b = a["hours"].to_numpy(), b["hours"].to_numpy()
        return pd.DataFrame({key: a.index.to_numpy(), "practices": a["practices"].to_numpy(),
                             "list_size": a["list_size"].to_numpy(), "need_weighted_population": need,
                             "hours_a": hours_a, "hours_b": hours_b,
                             "gp_net_hours_a": a["gp_net_hours"].to_numpy(), "gp_net_hours_b": b["gp_net_hours"].to_numpy(),
                             "hours_per_10k_need_a": hours_a / need * 10_000,
                             "hours_per_10k_need_b": hours_b / need * 10_000,
                             "change_hours": hours_b - hours_a})

    inverse = grouped("simd_decile")
    inverse["need_per_head"] = inverse["need_weighted_population"] / inverse["list_size"]
    return {
        "practices": practice_table,
        "by_simd_quintile": grouped("simd_quintile"),
        "by_urban_rural": grouped("urban_rural_8"),
        "equity": pd.DataFrame([{"scenario": "a", **sa.equity}, {"scenario": "b", **sb.equity}]),
        "inverse_care": inverse,
        "gp_time": pd.DataFrame([{"scenario": "a", "model": sa.model, **sa.gp_time},
                                 {"scenario": "b", "model": sb.model, **sb.gp_time}]),
    }
