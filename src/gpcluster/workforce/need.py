"""Need measures per practice: age-sex workload, the need-weighted population, and NRAC-style
capitation indices. Inputs are a practice frame (one row per practice, the columns of the warehouse
view practice_period) and an age-sex frame (practice_code, sex, age_band, population)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from gpcluster.errors import UserError
from gpcluster.workforce.params import AgeSexWeights, NeedWeighted, WeightedCapitation
from gpcluster.workforce.roles import AGE_BANDS, SEXES

PRACTICE_COLUMNS = ("practice_code", "list_size")
NEUTRAL = {"simd_quintile": 3, "simd_decile": 5}
UR6_TO_UR8 = {1: 1, 2: 2, 3: 3, 4: 4, 5: 6, 6: 7}


def prepare_practices(practices: pd.DataFrame) -> pd.DataFrame:
    """A copy with list_size > 0, complete deprivation and 8-fold rurality columns; gaps are filled with
    neutral values (SIMD quintile 3 / decile 5; 8-fold class from the 6-fold one, else 1) and listed in
    the `imputed` column so planners can see them."""
    missing = [c for c in PRACTICE_COLUMNS if c not in practices.columns]
    if missing:
        raise UserError(f"practice frame: missing column(s) {', '.join(missing)}")
    df = practices.copy()
    if df["practice_code"].duplicated().any():
        dup = df.loc[df["practice_code"].duplicated(), "practice_code"].iloc[0]
        raise UserError(f"practice frame: practice {dup} appears more than once; pass one release")
    sizes = pd.to_numeric(df["list_size"], errors="coerce").to_numpy(dtype=float, na_value=np.nan)
    sizes = np.nan_to_num(sizes, nan=0.0)
    keep = sizes > 0
    df = df[keep].copy()
    df["list_size"] = sizes[keep]
    n = len(df)
    for col in ("practice_name", "cluster_id", "cluster_name", "hscp_code"):
        if col not in df.columns:
            df[col] = pd.NA
    # numpy throughout: this runs for every model and comparison (once per web request in the past)
    gaps: list[tuple[np.ndarray, str]] = []
    for col, neutral in NEUTRAL.items():
        values = _numeric(df, col, n)
        gap = np.isnan(values)
        gaps.append((gap, col))
        df[col] = np.where(gap, neutral, values).astype(int)
    ur8, ur6 = _numeric(df, "urban_rural_8", n), _numeric(df, "urban_rural_6", n)
    from_6 = np.isnan(ur8) & ~np.isnan(ur6)
    if from_6.any():
        ur8[from_6] = pd.Series(ur6[from_6]).map(UR6_TO_UR8).to_numpy(dtype=float, na_value=np.nan)
    gaps.append((np.isnan(ur8), "urban_rural_8"))
    df["urban_rural_8"] = np.where(np.isnan(ur8), 1, ur8).astype(int)
    imputed = np.full(n, "", dtype=object)
    for gap, col in gaps:
        if gap.any():
            imputed[gap] = [f"{before} {col}" if before else col for before in imputed[gap]]
    df["imputed"] = pd.Series(imputed, index=df.index, dtype=object)
    return df.reset_index(drop=True)


def _numeric(df: pd.DataFrame, column: str, n: int) -> np.ndarray:
    """A column as floats (NaN where missing or not a number; all NaN when the column is absent)."""
    if column not in df.columns:
        return np.full(n, np.nan)
    return pd.to_numeric(df[column], errors="coerce").to_numpy(dtype=float, na_value=np.nan).copy()


def age_sex_workload(practices: pd.DataFrame, agesex: pd.DataFrame, weights: AgeSexWeights) -> pd.Series:
    """Sum over sex and age band of population x weight, per practice (index practice_code).
    Practices with no age-sex rows get list_size x the mean weight per head of the others."""
    rows = agesex[agesex["sex"].isin(SEXES) & agesex["age_band"].isin(AGE_BANDS)]
    w = np.empty(len(rows), dtype=float)
    for sex in SEXES:  # one vectorised lookup per sex, not one Python step per row
        here = (rows["sex"] == sex).to_numpy()
        w[here] = by_key(rows["age_band"][here], getattr(weights, sex))
    workload = (rows["population"].astype(float) * w).groupby(rows["practice_code"]).sum()
    counted = rows.groupby("practice_code")["population"].sum()
    codes = practices["practice_code"]
    out = workload.reindex(codes)
    if out.isna().any():
        known = codes[out.notna().to_numpy()]
        per_head = workload.reindex(known).sum() / max(counted.reindex(known).sum(), 1) if len(known) else 1.0
        sizes = practices.set_index("practice_code")["list_size"]
        out = out.fillna(sizes * per_head)
    return out.astype(float)


def by_key(keys, table) -> np.ndarray:
    """table[key] for every key (a Table, dict or any mapping), as floats: one lookup per distinct key, not
    per row. A key missing from the table raises KeyError, as table[key] does."""
    codes, distinct = pd.factorize(pd.Series(keys) if not isinstance(keys, pd.Series) else keys)
    if (codes < 0).any():
        raise KeyError(np.nan)
    values = np.array([table[k.item() if hasattr(k, "item") else k] for k in distinct], dtype=float)
    return values[codes] if len(codes) else np.empty(0, dtype=float)


def _band_rate(practices: pd.DataFrame, agesex: pd.DataFrame, rate_by_band) -> pd.Series:
    """Population-weighted mean over age bands (both sexes) of a per-band rate."""
    rows = agesex[agesex["sex"].isin(SEXES) & agesex["age_band"].isin(AGE_BANDS)]
    r = pd.Series(by_key(rows["age_band"], rate_by_band), index=rows.index)
    num = (rows["population"].astype(float) * r).groupby(rows["practice_code"]).sum()
    den = rows.groupby("practice_code")["population"].sum().astype(float)
    out = (num / den).reindex(practices["practice_code"])
    fallback = float(num.sum() / den.sum()) if den.sum() > 0 else 0.0
    return out.fillna(fallback)


def need_weighted_population(practices: pd.DataFrame, agesex: pd.DataFrame, spec: NeedWeighted) -> pd.DataFrame:
    """Per practice: age-sex workload, deprivation factor, multimorbidity proxy and `need`
    = workload x deprivation x (1 + weight x multimorbidity). `need_weighted_population` rescales need so
    that it sums to the total list size of the frame (a list-size-like figure: 'need-weighted patients')."""
    df = prepare_practices(practices)
    workload = age_sex_workload(df, agesex, spec.age_sex_weights).to_numpy()
    dep = by_key(df["simd_quintile"], spec.deprivation_by_simd_quintile)
    mm_age = _band_rate(df, agesex, spec.multimorbidity_prevalence_by_age.values).to_numpy()
    mm = mm_age * by_key(df["simd_quintile"], spec.multimorbidity_deprivation_by_simd_quintile)
    need = workload * dep * (1 + spec.multimorbidity_weight.value * mm)
    out = df[["practice_code", "list_size"]].copy()
    out["age_sex_workload"] = workload
    out["deprivation_factor"] = dep
    out["multimorbidity_proxy"] = mm
    out["need"] = need
    total = need.sum()
    out["need_weighted_population"] = need * df["list_size"].sum() / total if total > 0 else 0.0
    return out


def capitation_indices(practices: pd.DataFrame, agesex: pd.DataFrame, spec: WeightedCapitation,
                       indices: pd.DataFrame | None = None) -> pd.DataFrame:
    """Per practice: as_index (age-sex workload per head relative to the frame's), mlc_index and xs_index
    (from the spec's tables), overridden column by column by `indices` when given (published NRAC-style
    indices keyed by practice_code or data_zone), and weighted_population = list x as x mlc x xs."""
    df = prepare_practices(practices)
    workload = age_sex_workload(df, agesex, spec.age_sex_weights).to_numpy()
    lists = df["list_size"].to_numpy(float)
    out = df[["practice_code", "list_size"]].copy()
    out["as_index"] = (workload / lists) / (workload.sum() / lists.sum())
    out["mlc_index"] = by_key(df["simd_decile"], spec.mlc_by_simd_decile)
    out["xs_index"] = by_key(df["urban_rural_8"], spec.excess_cost_by_ur8)
    if indices is not None:
        out = _apply_supplied_indices(out, df, indices)
    out["weighted_population"] = out["list_size"] * out["as_index"] * out["mlc_index"] * out["xs_index"]
    return out


def _apply_supplied_indices(out: pd.DataFrame, df: pd.DataFrame, indices: pd.DataFrame) -> pd.DataFrame:
    cols = [c for c in ("as_index", "mlc_index", "xs_index") if c in indices.columns]
    if not cols:
        raise UserError("indices: need at least one of as_index, mlc_index, xs_index")
    if "practice_code" in indices.columns:
        key, keys = "practice_code", df["practice_code"]
    elif "data_zone" in indices.columns:
        key, keys = "data_zone", df.get("data_zone", pd.Series(pd.NA, index=df.index))
    else:
        raise UserError("indices: need a practice_code or data_zone column")
    if indices[key].duplicated().any():
        raise UserError(f"indices: {key} {indices.loc[indices[key].duplicated(), key].iloc[0]} appears twice")
    lookup = indices.set_index(key)
    for col in cols:
        supplied = pd.to_numeric(keys.map(lookup[col]), errors="coerce").to_numpy(float)
        if (supplied < 0).any():
            raise UserError(f"indices: {col} must not be negative")
        out[col] = np.where(np.isnan(supplied), out[col].to_numpy(float), supplied)
    return out
