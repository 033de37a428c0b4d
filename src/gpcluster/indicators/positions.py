"""Where each row of a compute run stands: its national rank and decile among practices, and its comparators
(the values of its cluster, HSCP, board and Scotland in the same period).

Works on the run's numpy columns (indicator_no, level_no, area_no, period_no, the parent area numbers and
value), set-based: rows are found by sorting and binary search on one integer key per
(indicator, period, area), never by a loop over rows. Results equal the SQL they replace:
`rank() OVER (PARTITION BY indicator, period ORDER BY value DESC)` among practices with a value,
`1 + floor(10 * (ascending rank - 1) / count)`, and left joins of each row to its areas' rows.
"""

from __future__ import annotations

import numpy as np

NO_AREA = 0  # area numbers start at 1; a row without a cluster (HSCP, board) has 0
PRACTICE, CLUSTER, HSCP, BOARD, SCOTLAND = range(5)  # level_no, as definition.LEVELS


class _AreaKeys:
    """One int64 key per (indicator, period, area), and the rows of every area (level > practice)."""

    def __init__(self, cols: dict[str, np.ndarray]):
        self.indicator = cols["indicator_no"].astype(np.int64)
        self.periods, self.period_at = np.unique(cols["period_no"], return_inverse=True)
        self.areas = int(max(cols["area_no"].max(initial=0), cols["cluster_area"].max(initial=0),
                             cols["hscp_area"].max(initial=0), cols["board_area"].max(initial=0))) + 1
        self.group = self.indicator * self.periods.size + self.period_at
        area_rows = np.flatnonzero(cols["level_no"] > PRACTICE)
        keys = self.key(cols["area_no"], area_rows)
        order = np.argsort(keys, kind="stable")
        self.sorted_keys, self.sorted_rows = keys[order], area_rows[order]

    def key(self, area: np.ndarray, rows: np.ndarray | None = None) -> np.ndarray:
        group = self.group if rows is None else self.group[rows]
        area = area if rows is None else area[rows]
        return group * self.areas + area.astype(np.int64)

    def value_of(self, value: np.ndarray, area: np.ndarray, applies: np.ndarray) -> np.ndarray:
        """Each row's value of `area` in the same indicator and period where `applies` (else NaN)."""
        out = np.full(value.size, np.nan)
        rows = np.flatnonzero(applies & (area != NO_AREA))
        if not rows.size or not self.sorted_keys.size:
            return out
        wanted = self.key(area, rows)
        found = np.minimum(np.searchsorted(self.sorted_keys, wanted), self.sorted_keys.size - 1)
        hit = self.sorted_keys[found] == wanted
        out[rows[hit]] = value[self.sorted_rows[found[hit]]]
        return out


def comparators(cols: dict[str, np.ndarray], scotland_area: int) -> dict[str, np.ndarray]:
    """cluster_value (practice rows), hscp_value (practice and cluster rows), board_value (up to HSCP rows)
    and scotland_value (every row), NaN where the area has no row or no value."""
    keys = _AreaKeys(cols)
    level, value = cols["level_no"], cols["value"]
    return {
        "cluster_value": keys.value_of(value, cols["cluster_area"], level == PRACTICE),
        "hscp_value": keys.value_of(value, cols["hscp_area"], level <= CLUSTER),
        "board_value": keys.value_of(value, cols["board_area"], level <= HSCP),
        "scotland_value": keys.value_of(value, np.full(value.size, scotland_area, dtype=np.int64),
                                        np.ones(value.size, dtype=bool)),
    }


def _min_rank(group: np.ndarray, value: np.ndarray) -> np.ndarray:
    """Rank of each value within its group, ascending, ties sharing the lowest rank (SQL rank())."""
    order = np.argsort(value, kind="stable")
    order = order[np.argsort(group[order], kind="stable")]  # by group, then value (as np.lexsort, faster)
    g, v = group[order], value[order]
    position = np.arange(order.size)
    new_group = np.ones(order.size, dtype=bool)
    new_group[1:] = g[1:] != g[:-1]
    new_run = new_group.copy()
    new_run[1:] |= v[1:] != v[:-1]
    group_start = np.maximum.accumulate(np.where(new_group, position, 0))
    run_start = np.maximum.accumulate(np.where(new_run, position, 0))
    rank = np.empty(order.size, dtype=np.int64)
    rank[order] = run_start - group_start + 1
    return rank


def national_positions(cols: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(rows, rank, decile): the practice rows with a value, their national rank in the indicator and period
    (1 = highest) and decile (1 = lowest tenth; ties share a rank and a decile)."""
    rows = np.flatnonzero((cols["level_no"] == PRACTICE) & ~np.isnan(cols["value"]))
    if not rows.size:
        empty = np.empty(0, dtype=np.int64)
        return rows, empty, empty
    _, period_at = np.unique(cols["period_no"][rows], return_inverse=True)
    group = cols["indicator_no"][rows].astype(np.int64) * (int(period_at.max()) + 1) + period_at
    value = cols["value"][rows]
    rank = _min_rank(group, -value)
    ascending = _min_rank(group, value)
    count = np.bincount(group)[group]
    decile = 1 + np.floor(10 * (ascending - 1) / count)
    return rows, rank, decile.astype(np.int64)
