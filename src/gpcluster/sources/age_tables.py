"""Wide age-by-sex tables (one row per area x sex, one column per age) reshaped to long form, with the
checks every such PHS/NRS table must pass: ages sum to all ages, and Male + Female = All."""

from __future__ import annotations

import numpy as np
import pandas as pd

from gpcluster.sources.base import LINE, RawTable, plain_counts, suppressed, to_int


def check_and_melt(raw: RawTable, base: pd.DataFrame, age_columns: dict[str, object], keys: list[str],
                   age_name: str, value_name: str = "population") -> pd.DataFrame:
    """Melt `age_columns` (file column -> age label) of `raw` onto `base` (which holds `keys`, 'sex', LINE).

    Problems: non-integers, ages not summing to AllAges, Male + Female != All for any age.
    Values PHS suppressed (blank, with a 'c' quality flag) are allowed and left out of the result.
    """
    columns = list(age_columns)
    flags = {column: suppressed(raw, column) for column in columns}
    block = plain_counts(raw, columns, flags)  # the usual case, checked in one pass; else column by column
    if block is not None:
        wide = pd.concat([base.reset_index(drop=True), pd.DataFrame(block, columns=columns)], axis=1)
        wide.index = base.index
    else:
        wide = base.copy()
        for column in columns:
            wide[column] = to_int(raw, column, allow_blank=flags[column])
    band_columns = [c for c in age_columns if c != "AllAges"]
    if "AllAges" in age_columns:
        summed = wide[band_columns].sum(axis=1, min_count=len(band_columns))
        off = summed.notna() & wide["AllAges"].notna() & (summed != wide["AllAges"])
        for _, row in wide.loc[off].head(20).iterrows():
            raw.problem("sum_mismatch", f"age groups sum to {int(row[band_columns].sum())} but AllAges is "
                        f"{int(row['AllAges'])}", row=int(row[LINE]), column="AllAges")
    _check_sexes(raw, wide, keys, list(age_columns))
    # melt without pandas' per-cell object handling: one take of the id columns per kept cell
    values = wide[columns].to_numpy(dtype="float64", na_value=np.nan)
    rows, cells = np.nonzero(~np.isnan(values))
    # text columns repeat each row's value for every age: take their category codes, not the strings
    text = [c for c in base.columns if pd.api.types.is_string_dtype(base[c])]
    long = base.astype({c: "category" for c in text}).iloc[rows].reset_index(drop=True)
    labels = list(age_columns.values())
    ages = pd.Categorical.from_codes(cells, categories=labels)
    long[age_name] = ages.astype(str) if all(isinstance(x, str) for x in labels) else ages
    long[value_name] = values[rows, cells].astype(np.int64)
    return long


def _check_sexes(raw: RawTable, wide: pd.DataFrame, keys: list[str], columns: list[str]) -> None:
    by_sex = {s: wide[wide["sex"] == s].set_index(keys) for s in ("Male", "Female", "All")}
    for sex, part in by_sex.items():
        if part.index.duplicated().any():
            return  # duplicates are reported by the caller; comparisons would be ambiguous
        if part.empty and sex != "All":
            return
    if by_sex["All"].empty:
        return
    male, female, total = (by_sex[s] for s in ("Male", "Female", "All"))
    missing = total.index.difference(male.index).union(total.index.difference(female.index))
    for key in missing[:20]:
        raw.problem("missing_row", f"no Male/Female rows for {key} to match its All row",
                    row=int(total.loc[key, LINE]))
    common = total.index.intersection(male.index).intersection(female.index)
    # a suppressed (missing) cell is compared with nothing
    both = (male.loc[common, columns].to_numpy("float64", na_value=np.nan)
            + female.loc[common, columns].to_numpy("float64", na_value=np.nan))
    whole = total.loc[common, columns].to_numpy("float64", na_value=np.nan)
    diff = pd.DataFrame((both != whole) & ~np.isnan(both) & ~np.isnan(whole), index=common, columns=columns)
    for key in diff.index[diff.any(axis=1)][:20]:
        column = diff.columns[diff.loc[key]][0]
        raw.problem("sex_mismatch", f"Male + Female = {int(male.loc[key, column] + female.loc[key, column])} but "
                    f"All is {int(total.loc[key, column])}", row=int(total.loc[key, LINE]), column=column)
