"""Scenario comparison of two allocations (outputs of allocate/allocate_roles): who gains and loses,
distribution by deprivation and rurality, concentration index, slope index of inequality, the
'inverse care' table and GP time released minus GP supervision time."""

from __future__ import annotations

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


def _per_practice(allocation: pd.DataFrame, a: Assumptions) -> pd.DataFrame:
    g = gp_time(allocation, a)
    return g.groupby("practice_code")[["wte", "on_site_hours_per_week", "gp_net_hours"]].sum().rename(
        columns={"on_site_hours_per_week": "hours"})


def practices_with_need(practices: pd.DataFrame, agesex: pd.DataFrame, need_model: str = "need_weighted") -> pd.DataFrame:
    """prepare_practices' frame with each practice's need-weighted population (the same for every pair of
    models compared over these practices: compute it once and pass it to compare as `prepared`)."""
    df = prepare_practices(practices)
    need = need_weighted_population(df, agesex, load_model(need_model))
    return df.merge(need[["practice_code", "need_weighted_population"]], on="practice_code")


def compare(alloc_a: pd.DataFrame, alloc_b: pd.DataFrame, practices: pd.DataFrame, agesex: pd.DataFrame,
            assumptions: Assumptions | None = None, need_model: str = "need_weighted",
            prepared: pd.DataFrame | None = None) -> dict[str, pd.DataFrame]:
    """Compare allocation A (e.g. per capita) with B. Hours are on-site MDT hours a week summed over the
    roles allocated. Returns tidy frames: practices, by_simd_quintile, by_urban_rural, equity,
    inverse_care, gp_time. `prepared`: practices_with_need(practices, agesex, need_model), when the caller
    compares many pairs over the same practices."""
    a = assumptions or load_assumptions()
    name_a, name_b = alloc_a["model"].iloc[0], alloc_b["model"].iloc[0]
    df = (prepared if prepared is not None else practices_with_need(practices, agesex, need_model)).copy()
    pa, pb = _per_practice(alloc_a, a), _per_practice(alloc_b, a)
    df["hours_a"] = df["practice_code"].map(pa["hours"]).fillna(0.0)
    df["hours_b"] = df["practice_code"].map(pb["hours"]).fillna(0.0)
    df["gp_net_hours_a"] = df["practice_code"].map(pa["gp_net_hours"]).fillna(0.0)
    df["gp_net_hours_b"] = df["practice_code"].map(pb["gp_net_hours"]).fillna(0.0)
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

    order = df["simd_rank"] if "simd_rank" in df.columns and df["simd_rank"].notna().all() else df["simd_decile"]
    equity_rows = []
    for label, model, hours in (("a", name_a, df["hours_a"]), ("b", name_b, df["hours_b"])):
        per_need = hours / df["need_weighted_population"] * 10_000
        sii = slope_index_of_inequality(per_need, df["simd_decile"], df["need_weighted_population"])
        equity_rows.append({
            "scenario": label, "model": model, "total_hours": float(hours.sum()),
            "concentration_index_hours_per_patient": concentration_index(hours / df["list_size"], order, df["list_size"]),
            "concentration_index_hours_per_need": concentration_index(per_need, order, df["need_weighted_population"]),
            "sii_hours_per_10k_need": sii.sii, "rii_hours_per_10k_need": sii.rii,
        })
    inverse = grouped("simd_decile")
    inverse["need_per_head"] = inverse["need_weighted_population"] / inverse["list_size"]
    gp = pd.DataFrame([
        {"scenario": s, "model": m, **gp_time(alloc, a)[["gp_hours_released", "gp_supervision_hours", "gp_net_hours"]].sum().to_dict()}
        for s, m, alloc in (("a", name_a, alloc_a), ("b", name_b, alloc_b))
    ])
    return {
        "practices": practice_table,
        "by_simd_quintile": grouped("simd_quintile"),
        "by_urban_rural": grouped("urban_rural_8"),
        "equity": pd.DataFrame(equity_rows),
        "inverse_care": inverse,
        "gp_time": gp,
    }
