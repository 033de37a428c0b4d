"""Wide age-by-sex tables (one row per area x sex, one column per age) reshaped to long form, with the
checks every such PHS/NRS table must pass: ages sum to all ages, and Male + Female = All."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd

from gpcluster.sources.base import LINE, RawTable, Unpivot, plain_counts, suppression_flags, to_int


def check_wide(raw: RawTable, base: pd.DataFrame, age_columns: dict[str, object], keys: list[str],
               age_name: str, value_name: str = "population", keep: Iterable[object] | None = None
               ) -> tuple[pd.DataFrame, Unpivot]:
    """`base` (which holds `keys`, 'sex', LINE) with the checked `age_columns` (file column -> age label)
    of `raw`, each named by its label, and how the writer unpivots them into (`age_name`, `value_name`)
    rows. `keep`: the labels written (default all; e.g. 'All' checked but not stored).

    Problems: non-integers, ages not summing to AllAges, Male + Female != All for any age.
    Values PHS suppressed (blank, with a 'c' quality flag) are allowed, missing here and never written.
    The checks run on one numeric block (rows x ages, NaN where missing), never on a wide pandas frame.
    """
    columns = list(age_columns)
    flags = suppression_flags(raw, columns)
    block = plain_counts(raw, columns, flags)  # the usual case, checked in one pass; else column by column
    if block is None:
        block = np.column_stack([to_int(raw, column, allow_blank=flags.get(column, False)).to_numpy(
            dtype="float64", na_value=np.nan) for column in columns]).reshape(len(base), len(columns))
    lines = base[LINE].to_numpy()
    if "AllAges" in age_columns:
        total = block[:, columns.index("AllAges")]
        # the other columns' sum, NaN if any is (exact: whole numbers below 2**31, fewer than 2**22 columns),
        # without copying the block's other columns out
        summed = block.sum(axis=1) - np.nan_to_num(total)
        off = ~np.isnan(summed) & ~np.isnan(total) & (summed != total)
        for i in np.flatnonzero(off)[:20]:
            raw.problem("sum_mismatch", f"age groups sum to {int(summed[i])} but AllAges is {int(total[i])}",
                        row=int(lines[i]), column="AllAges")
    _check_sexes(raw, base, block, keys, columns)
    wanted = None if keep is None else set(keep)
    kept = [j for j, c in enumerate(columns) if wanted is None or age_columns[c] in wanted]
    counts = pd.DataFrame({str(age_columns[columns[j]]): pd.arrays.IntegerArray(
        np.nan_to_num(block[:, j]).astype(np.int64), np.isnan(block[:, j]))  # suppressed: missing
        for j in kept}, index=base.index)
    ints = all(isinstance(age_columns[columns[j]], int) for j in kept)
    out = pd.concat([base.drop(columns=[LINE]), counts, base[[LINE]]], axis=1)
    return out, Unpivot(tuple(counts.columns), age_name, value_name, "INTEGER" if ints else "VARCHAR")


def _check_sexes(raw: RawTable, base: pd.DataFrame, block: np.ndarray, keys: list[str], columns: list[str]) -> None:
    """Male + Female = All for every age of every key; `block` holds the ages (rows of `base`, `columns`)."""
    matched = _matched_rows(base, keys)
    if matched is None:  # a key missing, held twice or absent for a sex: the general comparison below
        _check_sexes_by_index(raw, base, block, keys, columns)
        return
    male, female, total = matched
    _report_sex_mismatches(raw, block[male] + block[female], block[total], base[LINE].to_numpy()[total], columns)


def _matched_rows(base: pd.DataFrame, keys: list[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """For a file whose every key has exactly one Male, one Female and one All row (the usual case): the
    rows of `base` holding each key's Male, Female and All, in the order of the All rows; None otherwise.
    Integer codes of the keys, no index of each sex's rows (a fifth of a wide file's read)."""
    code = np.zeros(len(base), dtype=np.int64)
    for key in keys:
        codes, uniques = pd.factorize(base[key])
        if (codes < 0).any():
            return None  # a missing key (already a problem)
        code = code * len(uniques) + codes
    code = pd.factorize(code)[0]  # dense again, whatever the product of the keys' counts
    sex = base["sex"].to_numpy(dtype=object)
    found = []
    for s in ("Male", "Female", "All"):
        rows = np.flatnonzero(sex == s)
        if len(rows) == 0:
            return None
        where = np.full(code.max() + 1, -1)
        where[code[rows]] = rows
        if (where >= 0).sum() != len(rows):
            return None  # a key held twice for this sex
        found.append(where)
    total = np.flatnonzero(sex == "All")
    male, female = found[0][code[total]], found[1][code[total]]
    if (male < 0).any() or (female < 0).any() or (found[2] >= 0).sum() != (found[0] >= 0).sum() or (
            found[0] >= 0).sum() != (found[1] >= 0).sum():
        return None  # a key with no All, Male or Female row
    return male, female, total


def _report_sex_mismatches(raw: RawTable, both: np.ndarray, whole: np.ndarray, lines: np.ndarray,
                           columns: list[str]) -> None:
    """The first 20 keys whose Male + Female (`both`) differs from All (`whole`) in any age, at the All
    row's line; a suppressed (missing) cell is compared with nothing."""
    diff = (both != whole) & ~np.isnan(both) & ~np.isnan(whole)
    for i in np.flatnonzero(diff.any(axis=1))[:20]:
        j = int(np.argmax(diff[i]))
        raw.problem("sex_mismatch", f"Male + Female = {int(both[i, j])} but All is {int(whole[i, j])}",
                    row=int(lines[i]), column=columns[j])


def _check_sexes_by_index(raw: RawTable, base: pd.DataFrame, block: np.ndarray, keys: list[str],
                          columns: list[str]) -> None:
    ids = base[[*keys, LINE]].reset_index(drop=True)
    ids["_row"] = np.arange(len(ids))  # each key's row of `block`
    sex = base["sex"].to_numpy(dtype=object)
    by_sex = {s: ids[sex == s].set_index(keys) for s in ("Male", "Female", "All")}
    for s, part in by_sex.items():
        if part.index.duplicated().any():
            return  # duplicates are reported by the caller; comparisons would be ambiguous
        if part.empty and s != "All":
            return
    if by_sex["All"].empty:
        return
    male, female, total = (by_sex[s] for s in ("Male", "Female", "All"))
    missing = total.index.difference(male.index).union(total.index.difference(female.index))
    for key in missing[:20]:
        raw.problem("missing_row", f"no Male/Female rows for {key} to match its All row",
                    row=int(total.loc[key, LINE]))
    common = total.index.intersection(male.index).intersection(female.index)

    def rows(part: pd.DataFrame) -> np.ndarray:
        return block[part["_row"].to_numpy()[part.index.get_indexer(common)]]

    total_lines = total[LINE].to_numpy()[total.index.get_indexer(common)]
    _report_sex_mismatches(raw, rows(male) + rows(female), rows(total), total_lines, columns)
