"""Scenario comparison of two allocations (outputs of allocate/allocate_roles): who gains and loses,
distribution by deprivation and rurality, concentration index, slope index of inequality, the
'inverse care' table and GP time released minus GP supervision time."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from gpcluster.workforce.equity import concentration_index, slope_index_of_inequality
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


def summarise(allocation: pd.DataFrame, prepared: pd.DataFrame, assumptions: Assumptions | None = None) -> ModelSummary:
    """One allocation's per-practice hours, equity measures and GP time over `prepared`'s practices."""
    a = assumptions or load_assumptions()
    g = gp_time(allocation, a)
    per = g.groupby("practice_code")[["on_site_hours_per_week", "gp_net_hours"]].sum()
    codes = prepared["practice_code"]
    hours = codes.map(per["on_site_hours_per_week"]).fillna(0.0)
    need, size = prepared["need_weighted_population"], prepared["list_size"]
    order = (prepared["simd_rank"] if "simd_rank" in prepared.columns and prepared["simd_rank"].notna().all()
             else prepared["simd_decile"])
    per_need = hours / need * 10_000
    sii = slope_index_of_inequality(per_need, prepared["simd_decile"], need)
    equity = {
        "model": allocation["model"].iloc[0], "total_hours": float(hours.sum()),
        "concentration_index_hours_per_patient": concentration_index(hours / size, order, size),
        "concentration_index_hours_per_need": concentration_index(per_need, order, need),
        "sii_hours_per_10k_need": sii.sii, "rii_hours_per_10k_need": sii.rii,
    }
    totals = g[["gp_hours_released", "gp_supervision_hours", "gp_net_hours"]].sum().to_dict()
    return ModelSummary(allocation["model"].iloc[0], hours.to_numpy(float),
                        codes.map(per["gp_net_hours"]).fillna(0.0).to_numpy(float), equity, totals)


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
    df = prepared.copy()
    df["hours_a"], df["hours_b"] = sa.hours, sb.hours
    df["gp_net_hours_a"], df["gp_net_hours_b"] = sa.gp_net_hours, sb.gp_net_hours
    df["change_hours"] = df["hours_b"] - df["hours_a"]
    df["change_pct"] = np.where(df["hours_a"] > 0, 100 * df["change_hours"] / df["hours_a"].where(df["hours_a"] > 0), np.nan)
    df["outcome"] = np.select([df["change_hours"] > 0.05, df["change_hours"] < -0.05], ["gains", "loses"], "no change")
    keep = ["practice_code", "practice_name", "cluster_id", "hscp_code", "list_size", "need_weighted_population",
            "simd_decile", "simd_quintile", "urban_rural_8", "hours_a", "hours_b", "change_hours", "change_pct",
            "outcome", "gp_net_hours_a", "gp_net_hours_b"]
    practice_table = df[keep].sort_values("change_hours").reset_index(drop=True)

    def grouped(key: str) -> pd.DataFrame:
        g = df.groupby(key, as_index=False)[["list_size", "need_weighted_population", "hours_a", "hours_b",
                                             "gp_net_hours_a", "gp_net_hours_b"]].sum()
        g.insert(1, "practices", df.groupby(key).size().to_numpy())
        g["hours_per_10k_need_a"] = g["hours_a"] / g["need_weighted_population"] * 10_000
        g["hours_per_10k_need_b"] = g["hours_b"] / g["need_weighted_population"] * 10_000
        g["change_hours"] = g["hours_b"] - g["hours_a"]
        return g

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
