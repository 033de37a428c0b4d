"""Secondary (complementary) suppression across a cluster.

A cluster's numerator is published, so if exactly one of its practices had its numerator suppressed,
subtracting the visible practices from the cluster total would give it back. For every indicator, period
and cluster with exactly one primary-suppressed practice, the practice with the smallest visible
numerator is suppressed as well (the sdcshinyapp rule, as in gpcluster.stats.disclosure.secondary_mask).
The choice is made once over the whole warehouse, so every page, download and API response agrees.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from gpcluster.exports import IndicatorRule, apply_disclosure

KEY = ["indicator_id", "period", "cluster_id"]
# measure types whose value and interval would reveal a suppressed numerator (as gpcluster.exports)
BACK_CALCULABLE = ("proportion", "crude_rate", "count")
DERIVED = ("value", "lower95", "upper95", "lower998", "upper998", "funnel_scotland", "funnel_hscp",
           "spc_signal", "spc_rule", "national_rank", "national_decile")


def complements(practice_rows: pd.DataFrame, rules: dict[str, IndicatorRule]) -> set[tuple]:
    """(indicator_id, period, practice code) of the practices to suppress as complements.

    `practice_rows` has indicator_id, period, level, area_code, cluster_id, numerator and denominator.
    """
    rows = practice_rows[practice_rows["cluster_id"].notna()]
    if rows.empty:
        return set()
    out = apply_disclosure(rows, rules)
    suppressed = out["suppressed"].to_numpy()
    lone = out.groupby(KEY)["suppressed"].transform("sum").to_numpy() == 1
    candidates = out[lone & ~suppressed & out["numerator"].notna().to_numpy()]
    if candidates.empty:
        return set()
    picked = candidates.loc[candidates.groupby(KEY)["numerator"].idxmin()]
    return set(zip(picked["indicator_id"], picked["period"], picked["area_code"], strict=True))


def apply_complements(released: pd.DataFrame, chosen: set[tuple], rules: dict[str, IndicatorRule]) -> pd.DataFrame:
    """Blank the complement practices' numerators (and, where they would reveal it, values) in place."""
    if not chosen or released.empty:
        return released
    is_practice = (released["level"] == "practice").to_numpy()
    keys = zip(released["indicator_id"], released["period"], released["area_code"], strict=True)
    hit = np.array([p and k in chosen for p, k in zip(is_practice, keys, strict=True)], dtype=bool)
    if not hit.any():
        return released
    released.loc[hit, "numerator"] = np.nan
    back = released["indicator_id"].map(lambda i: rules[i].measure_type in BACK_CALCULABLE).to_numpy(dtype=bool)
    for column in DERIVED:
        if column in released.columns:
            released.loc[hit & back, column] = None
    released.loc[hit, "suppressed"] = True
    return released
