"""Where each row of a compute run stands: its national rank and decile among practices, and its comparators
(the values of its cluster, HSCP, board and Scotland in the same period).

Works on the run's numpy columns (indicator_no, level_no, area_no, period_no, the parent area numbers and
value), set-based: comparators are read from a dense (indicator, period, area) table of the area rows, ranks
come from sorting, never from a loop over rows. Results equal the SQL they replace:
`rank() OVER (PARTITION BY indicator, period ORDER BY value DESC)` among practices with a value,
`1 + floor(10 * (ascending rank - 1) / count)`, and left joins of each row to its areas' rows.
"""

from __future__ import annotations

import numpy as np

NO_AREA = 0  # area numbers start at 1; a row without a cluster (HSCP, board) has 0
PRACTICE, CLUSTER, HSCP, BOARD, SCOTLAND = range(5)  # level_no, as definition.LEVELS


def period_index(period_no: np.ndarray) -> tuple[np.ndarray, int]:
    """Each row's period as 0..P-1 (in date order) and P, by a lookup over the days spanned (no sort)."""
    if not period_no.size:
        return np.zeros(0, dtype=np.int64), 0
    first = int(period_no.min())
    present = np.bincount(period_no - first) > 0
    index_of = np.cumsum(present) - 1
    return index_of[period_no - first], int(present.sum())


class _AreaValues:
    """The value of every area row (level above practice) in a dense (indicator, period, area) table, whose
    last cell is NaN (what a row without such an area reads)."""

    def __init__(self, cols: dict[str, np.ndarray]):
        self.period_at, periods = period_index(cols["period_no"])
        rows = np.flatnonzero(cols["level_no"] > PRACTICE)
        top = int(max(cols[c].max(initial=0) for c in ("area_no", "cluster_area", "hscp_area", "board_area")))
        area_rows = cols["area_no"][rows]
        areas = np.flatnonzero(np.bincount(area_rows, minlength=top + 1))  # by a count (no sort)
        self.compact = np.full(top + 1, -1, dtype=np.int64)  # area number -> column of the table
        self.compact[areas] = np.arange(areas.size)
        self.group = (cols["indicator_no"].astype(np.int64) * periods + self.period_at) * areas.size
        self.table = np.full(int(cols["indicator_no"].max(initial=0) + 1) * periods * areas.size + 1, np.nan)
        self.table[self.group[rows] + self.compact[area_rows]] = cols["value"][rows]

    def value_of(self, area: np.ndarray, applies: np.ndarray | None) -> np.ndarray:
        """Each row's value of `area` in the same indicator and period where `applies` (None: every row; else
        NaN)."""
        column = self.compact[area]  # NO_AREA and areas without rows: -1
        at = self.group + column
        missing = column < 0
        if applies is not None:
            missing |= ~applies
        at[missing] = self.table.size - 1
        return self.table[at]


def comparators(cols: dict[str, np.ndarray], scotland_area: int) -> dict[str, np.ndarray]:
    """cluster_value (practice rows), hscp_value (practice and cluster rows), board_value (up to HSCP rows)
    and scotland_value (every row), NaN where the area has no row or no value."""
    areas = _AreaValues(cols)
    level = cols["level_no"]
    return {
        "cluster_value": areas.value_of(cols["cluster_area"], level == PRACTICE),
        "hscp_value": areas.value_of(cols["hscp_area"], level <= CLUSTER),
        "board_value": areas.value_of(cols["board_area"], level <= HSCP),
        "scotland_value": areas.value_of(np.full(level.size, scotland_area, dtype=np.int64), None),
    }


def _min_ranks(group: np.ndarray, value: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rank of each value within its group, descending and ascending, ties sharing the lowest rank (SQL
    rank() ORDER BY value DESC, and ASC), from one sort: a value's descending rank is one more than the
    number of larger values in its group, i.e. the rows after its run of ties."""
    # ranks depend on runs of equal values only, not on the order within a run: the value sort need not be
    # stable (numpy's default sort is several times faster on floats); the group sort must keep it
    order = np.argsort(value)
    # by group, then value (as np.lexsort, faster); groups (indicator x period) fit 16 bits in practice, and
    # numpy's stable sort of 16-bit integers is a radix sort, several times faster than on int64
    keys = group[order]
    if keys.size and keys.min() >= 0 and keys.max() <= np.iinfo(np.uint16).max:
        keys = keys.astype(np.uint16)
    order = order[np.argsort(keys, kind="stable")]
    del keys
    n = order.size
    g, v = group[order], value[order]
    new_group = np.ones(n, dtype=bool)
    new_group[1:] = g[1:] != g[:-1]
    new_run = new_group.copy()
    new_run[1:] |= v[1:] != v[:-1]
    del g, v
    # positions in 32 bits where they fit: these scans hold several arrays of the practice rows at once
    position = np.arange(n, dtype=np.int32 if n < np.iinfo(np.int32).max else np.int64)
    # the last position of each run and group: the same scan from the other end
    end_group = np.ones(n, dtype=bool)
    end_group[:-1] = new_group[1:]
    end_run = np.ones(n, dtype=bool)
    end_run[:-1] = new_run[1:]
    ascending = np.empty(n, dtype=np.int64)
    descending = np.empty(n, dtype=np.int64)
    ascending[order] = (np.maximum.accumulate(np.where(new_run, position, 0))
                        - np.maximum.accumulate(np.where(new_group, position, 0)) + 1)
    del new_run, new_group
    descending[order] = (np.minimum.accumulate(np.where(end_group, position, n)[::-1])[::-1]
                         - np.minimum.accumulate(np.where(end_run, position, n)[::-1])[::-1] + 1)
    return descending, ascending


def national_positions(cols: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(rows, rank, decile): the practice rows with a value, their national rank in the indicator and period
    (1 = highest) and decile (1 = lowest tenth; ties share a rank and a decile)."""
    rows = np.flatnonzero((cols["level_no"] == PRACTICE) & ~np.isnan(cols["value"]))
    if not rows.size:
        empty = np.empty(0, dtype=np.int64)
        return rows, empty, empty
    period_at, periods = period_index(cols["period_no"][rows])
    group = cols["indicator_no"][rows].astype(np.int64) * periods + period_at
    rank, ascending = _min_ranks(group, cols["value"][rows])
    count = np.bincount(group)[group]
    decile = 1 + np.floor(10 * (ascending - 1) / count)
    return rows, rank, decile.astype(np.int64)
