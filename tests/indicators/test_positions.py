"""National rank, decile and comparators (gpcluster.indicators.positions) against pandas' own rank and
merges, the reference an analyst would use, on data with ties, missing values and missing areas."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from gpcluster.indicators.positions import comparators, national_positions


def _rows(seed: int) -> dict[str, np.ndarray]:
    """Two indicators x three periods; practices 1-40 in clusters 41-44 (practice 40 in none), HSCPs 45-46,
    board 47, Scotland 48. Values are rounded so ties are common; some are missing."""
    rng = np.random.default_rng(seed)
    rows = []
    for indicator in (0, 1):
        for period in (18_000, 18_091, 18_182):
            for practice in range(1, 41):
                cluster = 0 if practice == 40 else 41 + practice % 4
                hscp = 45 + practice % 2
                rows.append((indicator, 0, practice, period, cluster, hscp, 47))
            for cluster in (41, 42, 43):  # cluster 44 has no row of its own: its practices get no comparator
                rows.append((indicator, 1, cluster, period, 0, 45, 47))
            rows += [(indicator, 2, 45, period, 0, 0, 47), (indicator, 2, 46, period, 0, 0, 47),
                     (indicator, 3, 47, period, 0, 0, 0), (indicator, 4, 48, period, 0, 0, 0)]
    table = np.array(rows, dtype=np.int64)
    value = np.round(rng.normal(50, 10, len(table)), -1)
    value[rng.random(len(table)) < 0.15] = np.nan
    names = ("indicator_no", "level_no", "area_no", "period_no", "cluster_area", "hscp_area", "board_area")
    return {**{name: table[:, i] for i, name in enumerate(names)}, "value": value}


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_rank_and_decile_match_pandas_min_rank(seed):
    cols = _rows(seed)
    frame = pd.DataFrame(cols)
    practices = frame[(frame.level_no == 0) & frame.value.notna()]
    grouped = practices.groupby(["indicator_no", "period_no"])["value"]
    expected_rank = grouped.rank(method="min", ascending=False).astype(int)
    ascending = grouped.rank(method="min", ascending=True)
    expected_decile = (1 + np.floor(10 * (ascending - 1) / grouped.transform("count"))).astype(int)

    rows, rank, decile = national_positions(cols)

    assert list(rows) == list(practices.index)
    assert list(rank) == list(expected_rank)
    assert list(decile) == list(expected_decile)
    assert (rank == 1).sum() >= 6  # every indicator and period has a top practice (ties share it)


@pytest.mark.parametrize("seed", [1, 2])
def test_comparators_match_a_merge_on_indicator_period_and_area(seed):
    cols = _rows(seed)
    frame = pd.DataFrame(cols)
    areas = frame[frame.level_no > 0][["indicator_no", "period_no", "area_no", "value"]]

    def merged(column: str, levels: tuple[int, ...]) -> np.ndarray:
        lookup = areas.rename(columns={"area_no": column, "value": "found"})
        out = frame.merge(lookup, on=["indicator_no", "period_no", column], how="left")["found"]
        return out.where(frame.level_no.isin(levels)).to_numpy()

    got = comparators(cols, scotland_area=48)

    np.testing.assert_array_equal(got["cluster_value"], merged("cluster_area", (0,)))
    np.testing.assert_array_equal(got["hscp_value"], merged("hscp_area", (0, 1)))
    np.testing.assert_array_equal(got["board_value"], merged("board_area", (0, 1, 2)))
    scotland = frame.assign(s=48).merge(areas.rename(columns={"area_no": "s", "value": "found"}),
                                        on=["indicator_no", "period_no", "s"], how="left")["found"]
    np.testing.assert_array_equal(got["scotland_value"], scotland.to_numpy())
    # practice 40 has no cluster; cluster 44 has no row: neither gets a cluster comparator
    no_cluster = (frame.level_no == 0) & frame.cluster_area.isin([0, 44])
    assert np.isnan(got["cluster_value"][no_cluster.to_numpy()]).all()
    assert np.isfinite(got["cluster_value"]).sum() > 100


@pytest.mark.parametrize("indicators", [3, 30_000])
def test_rank_and_decile_match_pandas_with_many_ties_in_large_groups(indicators):
    # large enough that numpy's unstable sort reorders tied values: ranks must not depend on that order.
    # 3 indicators x 3 periods give group keys that fit 16 bits (sorted by radix), 30,000 give keys above
    # 65,535 (sorted as int64)
    rng = np.random.default_rng(7)
    n = 60_000
    cols = {"indicator_no": rng.integers(0, indicators, n), "level_no": np.zeros(n, dtype=np.int64),
            "period_no": rng.choice([18_000, 18_091, 18_182], n), "value": np.round(rng.normal(50, 10, n), 0)}
    cols["value"][rng.random(n) < 0.05] = np.nan
    frame = pd.DataFrame(cols)
    practices = frame[frame.value.notna()]
    grouped = practices.groupby(["indicator_no", "period_no"])["value"]
    ascending = grouped.rank(method="min", ascending=True)

    rows, rank, decile = national_positions(cols)

    assert list(rows) == list(practices.index)
    np.testing.assert_array_equal(rank, grouped.rank(method="min", ascending=False).astype(int).to_numpy())
    np.testing.assert_array_equal(
        decile, (1 + np.floor(10 * (ascending - 1) / grouped.transform("count"))).astype(int).to_numpy())
