"""Wide age-by-sex tables (one row per area x sex, one column per age) reshaped to long form, with the
checks every such PHS/NRS table must pass: ages sum to all ages, and Male + Female = All."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd

from gpcluster.sources.base import LINE, RawTable, Unpivot, plain_counts, suppressed, to_int


def check_wide(raw: RawTable, base: pd.DataFrame, age_columns: dict[str, object], keys: list[str],
               age_name: str, value_name: str = "population", keep: Iterable[object] | None = None
               ) -> tuple[pd.DataFrame, Unpivot]:
    """`base` (which holds `keys`, 'sex', LINE) with the checked `age_columns` (file column -> age label)
    of `raw`, each named by its label, and how the writer unpivots them into (`age_name`, `value_name`)
    rows. `keep`: the labels written (default all; e.g. 'All' checked but not stored).

    Problems: non-integers, ages not summing to AllAges, Male + Female != All for any age.
    Values PHS suppressed (blank, with a 'c' quality flag) are allowed, missing here and never written.
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
    kept = [c for c in columns if keep is None or age_columns[c] in set(keep)]
    labels = [str(age_columns[c]) for c in kept]
    numbers = wide[kept].to_numpy(dtype="float64", na_value=np.nan)
    counts = pd.DataFrame({label: pd.arrays.IntegerArray(np.nan_to_num(numbers[:, j]).astype(np.int64),
                                                         np.isnan(numbers[:, j]))  # suppressed: missing
                           for j, label in enumerate(labels)}, index=base.index)
    ints = all(isinstance(age_columns[c], int) for c in kept)
    out = pd.concat([base.drop(columns=[LINE]), counts, base[[LINE]]], axis=1)
    return out, Unpivot(tuple(labels), age_name, value_name, "INTEGER" if ints else "VARCHAR")


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
