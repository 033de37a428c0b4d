"""The roll-up of a compute run in numpy: the base rows (one per practice, period and indicator, fetched once
from DuckDB) summed over the organisation tree, and each row valued by its measure type.

Gives the rows of the GROUPING SETS roll-up in gpcluster.indicators.compile (ROLLUP_SQL, still what Spark
runs) and the values the engine's SQL gave, set-based: the base rows are summed once per (indicator, period,
cluster, HSCP, board) group, and each level's areas are summed from those groups with `bincount` over a dense
(indicator, period, area) key, never with a loop over rows or a sort of all of them. Integers stand for
areas (0: no area), periods are days since 1970-01-01, missing numbers are NaN and missing dates NO_DATE.

Semantics kept from the SQL: a practice row keeps its own figures even when unusable; an area sums only its
usable practices (numerator, denominator; its expected count only when every usable practice has one), has a
row when any practice of the run falls in it, and is usable when any of them is; its dates are the earliest
of its usable practices'. A series that can repeat a practice in a period (GP headcount, SQL series) keeps one
practice row per period, with any of its values (SQL's any_value).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from gpcluster.indicators.definition import LEVELS, Definition
from gpcluster.indicators.positions import period_index

NO_DATE = np.iinfo(np.int32).max  # a missing date, in days
# What the roll-up reads of every base row (see compile.base_query) and what it gives of every rolled row.
BASE_COLUMNS = ("indicator_no", "practice_unique", "period_no", "practice_area", "cluster_area", "hscp_area",
                "board_area", "case_deprivation", "case_rurality", "numerator", "denominator", "expected",
                "usable", "numerator_date", "denominator_date")
ROLLED_COLUMNS = ("indicator_no", "period_no", "level_no", "area_no", "cluster_area", "hscp_area", "board_area",
                  "numerator", "denominator", "expected", "case_deprivation", "case_rurality", "usable",
                  "numerator_date", "denominator_date")
_CARRIED = ("cluster_area", "hscp_area", "board_area", "numerator", "denominator", "expected", "case_deprivation",
            "case_rurality")
_AREA_LEVELS = ((1, "cluster_area"), (2, "hscp_area"), (3, "board_area"), (4, None))
DROPPED = "dropped"  # a part's rows to leave out, when it has them
# Area numbers and days fit 32 bits: the rolled rows keep them so (the run holds them to the end).
_NARROW = ("period_no", "area_no", "cluster_area", "hscp_area", "board_area", "numerator_date", "denominator_date")


def _missing(values: np.ndarray) -> np.ndarray:
    return np.isnan(values) if values.dtype.kind == "f" else values == 0


def _practice_rows(base: dict[str, np.ndarray], group: np.ndarray) -> list[dict[str, np.ndarray]]:
    """The practice rows, one per (indicator, period, practice) `group` of the base rows: the rows themselves
    where the series has one row per practice (dates only where usable), else one row per group with any
    non-missing value of each column."""
    usable = base["usable"]
    dates = {name: np.where(usable, base[name], NO_DATE) for name in ("numerator_date", "denominator_date")}
    unique = base["practice_unique"]
    level = {"level_no": np.zeros(1, dtype=np.int32)}  # broadcast: a constant column
    whole = {"indicator_no": base["indicator_no"], "period_no": base["period_no"], "area_no": base["practice_area"],
             **{name: base[name] for name in _CARRIED}, "usable": usable, **dates}
    if unique.all():
        return [{**whole, **level}]
    # the base rows themselves, less those of series that repeat a practice (left out when the parts are
    # filtered, not copied here)
    parts = [{**whole, **level, DROPPED: ~unique}]
    repeated = np.flatnonzero(~unique)
    keys, first, inverse = np.unique(group[repeated], return_index=True, return_inverse=True)
    at = repeated[first]
    out = {"indicator_no": base["indicator_no"][at], "period_no": base["period_no"][at],
           "area_no": base["practice_area"][at], **level}
    for name in _CARRIED:
        values = base[name][repeated]
        column = np.zeros(keys.size, dtype=values.dtype) if values.dtype.kind != "f" else np.full(keys.size, np.nan)
        present = np.flatnonzero(~_missing(values))
        column[inverse[present]] = values[present]  # any value of the group (the last written)
        out[name] = column
    out["usable"] = np.bincount(inverse, weights=usable[repeated], minlength=keys.size) > 0
    for name, values in dates.items():
        column = np.full(keys.size, NO_DATE, dtype=values.dtype)
        np.minimum.at(column, inverse, values[repeated])
        out[name] = column
    return [*parts, out]


def _partials(base: dict[str, np.ndarray], cell: np.ndarray, cells: int) -> dict[str, np.ndarray]:
    """The base rows summed per (indicator, period) `cell` and (cluster, HSCP, board) of the practice: every
    level above practices is a sum of these few groups (about one per cluster and cell) instead of a pass over
    every base row. Per group: its areas, how many rows and usable rows it has, the sums of its usable rows
    (NaN when one is NaN), their earliest dates, and its last row (for SQL's any_value, as a pass over the rows
    writing each in turn would leave it)."""
    parents = [base[name] for name in ("cluster_area", "hscp_area", "board_area")]
    combo = np.zeros(cell.size, dtype=np.int64)  # each row's (cluster, HSCP, board) as a dense number
    width = 1
    for column in parents:
        first = int(column.min(initial=0))
        key = combo * (int(column.max(initial=0)) - first + 1) + (column - first)
        seen = np.flatnonzero(np.bincount(key))
        lookup = np.zeros(int(seen[-1]) + 1 if seen.size else 1, dtype=np.int64)
        lookup[seen] = np.arange(seen.size)
        combo, width = lookup[key], seen.size
    group_key = cell.astype(np.int64) * width + combo
    size = cells * width
    counts = np.bincount(group_key, minlength=size)
    present = np.flatnonzero(counts)
    at = np.zeros(size, dtype=np.int64)
    at[present] = np.arange(present.size)
    group = at[group_key]  # each row's group, 0..groups-1, in (cell, combination) order
    groups = present.size
    usable = base["usable"]
    used_rows = np.flatnonzero(usable)
    used = group[used_rows]
    last = np.zeros(groups, dtype=np.int64)
    last[group] = np.arange(group.size)  # the last row written wins, as with any_area's table
    out = {"cell": present // width, "rows": counts[present], "used": np.bincount(used, minlength=groups),
           "last": last}
    rows = last  # any row of the group gives its areas
    for name, column in zip(("cluster_area", "hscp_area", "board_area"), parents, strict=True):
        out[name] = column[rows]
    for name in ("numerator", "denominator", "expected"):
        out[name] = np.bincount(used, weights=base[name][used_rows], minlength=groups)
    for name in ("numerator_date", "denominator_date"):
        values = base[name][used_rows]
        dated = np.flatnonzero(values != NO_DATE)
        table = np.full(groups, NO_DATE, dtype=values.dtype)
        np.minimum.at(table, used[dated], values[dated])
        out[name] = table
    return out


def _area_rows(partial: dict[str, np.ndarray], cells: int, level: int, column: str | None,
               scotland_area: int, hscp_of: np.ndarray, board_of: np.ndarray) -> dict[str, np.ndarray]:
    """The rows of one level above practices: per (indicator, period) cell and area, the sums of the usable
    practices in it (from the partial sums of _partials)."""
    cell = partial["cell"]
    if column is None:
        rows = np.arange(cell.size)
        areas, compact = np.array([scotland_area]), np.zeros(cell.size, dtype=np.int64)
    else:
        rows = np.flatnonzero(partial[column] != 0)
        number = partial[column][rows]
        areas = np.flatnonzero(np.bincount(number))  # the level's areas with rows, by a count (no sort)
        lookup = np.zeros(areas[-1] + 1 if areas.size else 1, dtype=np.int64)
        lookup[areas] = np.arange(areas.size)
        compact = lookup[number]
    key = cell[rows] * areas.size + compact
    size = cells * areas.size
    present = np.flatnonzero(np.bincount(key, minlength=size))
    used = partial["used"][rows]
    counted = np.bincount(key, weights=used, minlength=size)[present] > 0

    def summed(name: str) -> np.ndarray:
        total = np.bincount(key, weights=partial[name][rows], minlength=size)[present]
        return np.where(counted, total, np.nan)  # a sum over no usable practice is missing (SQL's NULL)

    def any_area(name: str) -> np.ndarray:
        # the value of the area's last row with one: its groups written in the order of their last rows
        values = partial[name][rows]
        order = np.argsort(partial["last"][rows], kind="stable")
        order = order[values[order] != 0]
        table = np.zeros(size, dtype=values.dtype)
        table[key[order]] = values[order]
        return table[present]

    def earliest(name: str) -> np.ndarray:
        values = partial[name][rows]
        dated = np.flatnonzero(values != NO_DATE)
        table = np.full(size, NO_DATE, dtype=values.dtype)
        np.minimum.at(table, key[dated], values[dated])
        return table[present]

    def parent(of: np.ndarray, name: str, area_no: np.ndarray) -> np.ndarray:
        home = of[area_no]
        return home if home.all() else np.where(home != 0, home, any_area(name))

    cell_of, area_at = np.divmod(present, areas.size)
    area_no = areas[area_at]
    none = np.zeros(present.size, dtype=np.int64)
    if level == 1:
        parents = (area_no, parent(hscp_of, "hscp_area", area_no), parent(board_of, "board_area", area_no))
    elif level == 2:
        parents = (none, none, parent(board_of, "board_area", area_no))
    else:
        parents = (none, none, none)
    return {"cell": cell_of, "level_no": np.full(1, level, dtype=np.int32), "area_no": area_no,
            "cluster_area": parents[0], "hscp_area": parents[1], "board_area": parents[2],
            "numerator": summed("numerator"), "denominator": summed("denominator"), "expected": summed("expected"),
            "usable": counted, "numerator_date": earliest("numerator_date"),
            "denominator_date": earliest("denominator_date")}


def _parts(base: dict[str, np.ndarray], scotland_area: int, hscp_of: np.ndarray,
           board_of: np.ndarray) -> list[dict[str, np.ndarray]]:
    """The rolled rows in parts (practice rows, then each level above), each a dict of ROLLED_COLUMNS whose
    one-element arrays stand for a constant column."""
    indicators = int(base["indicator_no"].max(initial=-1)) + 1
    period_at, periods = period_index(base["period_no"])
    day_of = np.zeros(max(periods, 1), dtype=np.int64)
    day_of[period_at] = base["period_no"]
    cell = base["indicator_no"].astype(np.int64) * periods + period_at
    parts = _practice_rows(base, cell * (int(base["practice_area"].max(initial=0)) + 1) + base["practice_area"])
    partial = _partials(base, cell, indicators * periods)
    constants = {name: np.full(1, np.nan if base[name].dtype.kind == "f" else 0, dtype=base[name].dtype)
                 for name in ("case_deprivation", "case_rurality")}  # broadcast
    for level, column in _AREA_LEVELS:
        rows = _area_rows(partial, indicators * periods, level, column, scotland_area, hscp_of, board_of)
        rows.update(constants)
        cell_of = rows.pop("cell")
        rows["indicator_no"] = (cell_of // max(periods, 1)).astype(base["indicator_no"].dtype)
        rows["period_no"] = day_of[cell_of % max(periods, 1)]
        parts.append(rows)
    return parts


def _kept(part: dict[str, np.ndarray]) -> tuple[dict[str, np.ndarray], np.ndarray | None]:
    """A part and the mask of its rows to keep (None: all), its DROPPED rows left out."""
    if DROPPED not in part:
        return part, None
    part = dict(part)
    return part, ~part.pop(DROPPED)


def _concatenated(parts: list[tuple[dict[str, np.ndarray], np.ndarray | None]],
                  names: Sequence[str]) -> dict[str, np.ndarray]:
    """The kept rows of every (part, keep mask or None) in one array per column, each part's rows written
    straight into their place (no filtered copy of a part is made first); a part's one-element arrays are
    constant columns."""
    counts = [part["area_no"].size for part, _ in parts]
    sizes = [count if keep is None else int(np.count_nonzero(keep)) for (_, keep), count in zip(parts, counts,
                                                                                                 strict=True)]
    bounds = np.cumsum([0, *sizes])
    out = {}
    for name in names:
        dtype = np.result_type(*(part[name] for part, _ in parts))
        column = np.empty(int(bounds[-1]), dtype=np.int32 if name in _NARROW and dtype.kind == "i" else dtype)
        for (part, keep), count, start, stop in zip(parts, counts, bounds[:-1], bounds[1:], strict=True):
            values = part[name]
            if values.size != count:
                column[start:stop] = values[0]
            elif keep is None:
                column[start:stop] = values
            else:
                np.compress(keep, values, out=column[start:stop])
        out[name] = column
    return out


def roll_up(base: dict[str, np.ndarray], scotland_area: int, hscp_of: np.ndarray,
            board_of: np.ndarray) -> dict[str, np.ndarray]:
    """ROLLED_COLUMNS for every practice, cluster, HSCP, board and Scotland row of the base rows (what
    compile.ROLLUP_SQL gives).

    `base` holds BASE_COLUMNS as arrays; `hscp_of` and `board_of` give, by area number, a cluster's home HSCP
    and board and an HSCP's board (0 when unknown: the areas' practices then give them).
    """
    return _concatenated([_kept(part) for part in _parts(base, scotland_area, hscp_of, board_of)], ROLLED_COLUMNS)


def valued_roll_up(base: dict[str, np.ndarray], definitions: Sequence[Definition], scotland_area: int,
                   hscp_of: np.ndarray, board_of: np.ndarray) -> dict[str, np.ndarray]:
    """roll_up's rows as `valued` makes them, each part filtered before the one concatenation."""
    positions = _period_positions(base["indicator_no"], base["period_no"], len(definitions))
    parts = [_levels_and_changes(part, definitions, positions)
             for part in _parts(base, scotland_area, hscp_of, board_of)]
    return _with_values(_concatenated(parts, ROLLED_COLUMNS), definitions)


def valued(rolled: dict[str, np.ndarray], definitions: Sequence[Definition]) -> dict[str, np.ndarray]:
    """The rows at the levels each definition asks for, with their value by measure type. A 'change'
    indicator compares each area's total with its total in the immediately preceding period of the
    indicator (the previous row of the area's own series); its first period has nothing to change from."""
    positions = _period_positions(rolled["indicator_no"], rolled["period_no"], len(definitions))
    return _with_values(_concatenated([_levels_and_changes(rolled, definitions, positions)],
                                      ROLLED_COLUMNS), definitions)


def _period_positions(indicator: np.ndarray, day: np.ndarray, indicators: int):
    """A function giving each (indicator, day) the period's position among the indicator's own periods
    (1: its first)."""
    period_at, periods = period_index(day)
    width = max(periods, 1)
    first = int(day.min(initial=0))
    slot = np.full(int(day.max(initial=0)) - first + 1, -1, dtype=np.int64)  # day -> period index
    slot[day - first] = period_at
    seen = np.zeros(indicators * width, dtype=bool)
    seen[indicator.astype(np.int64) * width + period_at] = True
    position = np.cumsum(seen.reshape(indicators, width), axis=1)
    return lambda which, days: position[which, slot[days - first]]


def _levels_and_changes(rows: dict[str, np.ndarray], definitions: Sequence[Definition],
                        positions) -> tuple[dict[str, np.ndarray], np.ndarray | None]:
    """The rows with 'change' rows made changes, and the mask of those to keep (None: all): the rows at the
    definitions' levels, less a 'change' indicator's first period."""
    rows, dropped = _kept(rows)
    size = rows["area_no"].size
    indicator = rows["indicator_no"]
    level = np.broadcast_to(rows["level_no"], (size,))
    wanted = np.zeros((len(definitions), len(LEVELS)), dtype=bool)
    for number, definition in enumerate(definitions):
        wanted[number, [LEVELS.index(name) for name in definition.levels]] = True
    keep = wanted[indicator, level]
    if dropped is not None:
        keep &= dropped
    change = np.array([d.measure_type == "change" for d in definitions])[indicator]
    if change.any():
        rows = _changed(rows, np.flatnonzero(change), level, positions)
        keep[change & (positions(indicator, rows["period_no"]) == 1)] = False
    return rows, None if keep.all() else keep


def _with_values(rows: dict[str, np.ndarray], definitions: Sequence[Definition]) -> dict[str, np.ndarray]:
    indicator = rows["indicator_no"]
    count = np.array([d.measure_type == "count" for d in definitions])[indicator]
    multiplier = np.array([float(d.multiplier) for d in definitions])[indicator]
    with np.errstate(divide="ignore", invalid="ignore"):
        value = np.where(count, rows["numerator"], rows["numerator"] / rows["denominator"] * multiplier)
    rows["value"] = np.where(rows["usable"], value, np.nan)
    return rows


def _changed(rows: dict[str, np.ndarray], at: np.ndarray, level: np.ndarray, positions) -> dict[str, np.ndarray]:
    """Rows `at` (of 'change' indicators) made changes from the previous period of their series (numerator:
    the difference; denominator: the previous total; usable only when that period immediately precedes)."""
    indicator, area, day = (rows[name][at] for name in ("indicator_no", "area_no", "period_no"))
    level = level[at]
    position = positions(indicator, day)
    order = np.lexsort((day, area, level, indicator))
    same = np.zeros(at.size, dtype=bool)
    same[1:] = ((indicator[order][1:] == indicator[order][:-1]) & (level[order][1:] == level[order][:-1])
                & (area[order][1:] == area[order][:-1]))
    previous = np.full(at.size, -1, dtype=np.int64)  # the series' previous row, by position in `at`
    previous[order[1:][same[1:]]] = order[:-1][same[1:]]
    has = previous >= 0
    before = np.maximum(previous, 0)
    numerator, usable = rows["numerator"][at], rows["usable"][at]
    previous_numerator = np.where(has, numerator[before], np.nan)
    out = dict(rows)
    for name, values in (("numerator", numerator - previous_numerator), ("denominator", previous_numerator),
                         ("usable", usable & has & usable[before] & (position[before] == position - 1)
                          & (previous_numerator > 0))):
        column = np.array(np.broadcast_to(rows[name], rows["area_no"].shape))  # a copy: the part may be shared
        column[at] = values
        out[name] = column
    return out
