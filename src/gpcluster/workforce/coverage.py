"""Coverage: MDT time each practice (or cluster) actually gets from the roster, by role, against need."""

from __future__ import annotations

import pandas as pd

from gpcluster.errors import UserError
from gpcluster.workforce.need import need_weighted_population, prepare_practices
from gpcluster.workforce.params import Assumptions, NeedWeighted, load_assumptions, load_model


def coverage(practices: pd.DataFrame, agesex: pd.DataFrame, posts: pd.DataFrame, sessions: pd.DataFrame,
             level: str = "practice", assumptions: Assumptions | None = None,
             need_model: str | NeedWeighted = "need_weighted") -> pd.DataFrame:
    """Hours a week and WTE per 10,000 patients by role at practice or cluster level, with need.

    `need_weighted_population` rescales need so that it sums to the list total; `hours_if_need_weighted`
    is what the same total hours of that role would give if shared by need, and `gap_hours` = actual
    minus that (negative: less than its need share)."""
    if level not in {"practice", "cluster"}:
        raise UserError("level must be 'practice' or 'cluster'")
    a = assumptions or load_assumptions()
    spec = load_model(need_model) if isinstance(need_model, str) else need_model
    df = prepare_practices(practices)
    need = need_weighted_population(df, agesex, spec)[["practice_code", "need_weighted_population"]]
    df = df.merge(need, on="practice_code")
    time = sessions.merge(posts[["post_id", "role"]], on="post_id")
    time["hours_per_week"] = time["sessions_per_week"] * a.session_hours.value
    by_role = time.groupby(["practice_code", "role"], as_index=False)["hours_per_week"].sum()
    roles = sorted(posts["role"].unique())
    grid = pd.MultiIndex.from_product([df["practice_code"], roles], names=["practice_code", "role"]).to_frame(index=False)
    out = grid.merge(by_role, on=["practice_code", "role"], how="left").fillna({"hours_per_week": 0.0})
    out = out.merge(df[["practice_code", "practice_name", "cluster_id", "cluster_name", "hscp_code",
                        "list_size", "need_weighted_population"]], on="practice_code")
    if level == "cluster":
        out = (out.groupby(["cluster_id", "cluster_name", "hscp_code", "role"], dropna=False, as_index=False)
               [["hours_per_week", "list_size", "need_weighted_population"]].sum())
    total_hours = out.groupby("role")["hours_per_week"].transform("sum")
    total_need = out.groupby("role")["need_weighted_population"].transform("sum")
    out["wte"] = out["hours_per_week"] / a.hours_per_wte.value
    out["wte_per_10k_patients"] = out["wte"] / out["list_size"] * 10_000
    out["wte_per_10k_need_weighted"] = out["wte"] / out["need_weighted_population"] * 10_000
    out["hours_if_need_weighted"] = total_hours * out["need_weighted_population"] / total_need
    out["gap_hours"] = out["hours_per_week"] - out["hours_if_need_weighted"]
    return out.reset_index(drop=True)


def roster_budgets(posts: pd.DataFrame, sessions: pd.DataFrame, practices: pd.DataFrame,
                   assumptions: Assumptions | None = None) -> pd.DataFrame:
    """WTE per HSCP and role actually delivered to practices by the roster (sessions x session hours /
    hours per WTE), assigned to the HSCP of each practice: the budgets to re-allocate under a model."""
    a = assumptions or load_assumptions()
    time = sessions.merge(posts[["post_id", "role"]], on="post_id").merge(
        practices[["practice_code", "hscp_code"]], on="practice_code")
    time["wte"] = time["sessions_per_week"] * a.session_hours.value / a.hours_per_wte.value
    return time.groupby(["hscp_code", "role"], as_index=False)["wte"].sum()
