"""The engine's roll-up in numpy (gpcluster.indicators.rollup) gives exactly the rows of the plain GROUPING
SETS roll-up in SQL (compile.ROLLUP_SQL, what Spark runs), including a series that repeats a practice; and
'change' values follow each area's previous period."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from gpcluster.indicators import engine
from gpcluster.indicators.compile import (
    AREA_PARENT_SQL,
    AREA_SQL,
    PRACTICE_AREAS_SQL,
    PRACTICE_PERIOD_SQL,
    ROLLUP_SQL,
)
from gpcluster.indicators.definition import LEVELS, load_catalogue, load_definition
from gpcluster.indicators.rollup import NO_DATE, ROLLED_COLUMNS, roll_up, valued

KEY = ["indicator_no", "level_no", "area_no", "period"]


def _prepare(con, definitions) -> None:
    for statement in (PRACTICE_PERIOD_SQL, AREA_SQL, AREA_PARENT_SQL, PRACTICE_AREAS_SQL):
        con.execute(statement)
    query = engine.base_statement(con, definitions)
    con.execute("CREATE OR REPLACE TEMP TABLE indicator_base AS " + query.sql, query.params)


def _sql_rolled(con) -> pd.DataFrame:
    frame = con.execute(ROLLUP_SQL).df()
    return frame.sort_values(KEY).reset_index(drop=True)


def _numpy_rolled(con) -> pd.DataFrame:
    """roll_up's rows in the SQL's form: dates as dates, missing areas, classes and dates as NULL."""
    _, scotland, hscp_of, board_of = engine.area_lookups(con)
    rolled = roll_up(engine.base_rows(con, "indicator_base"), scotland, hscp_of, board_of)
    frame = pd.DataFrame({name: rolled[name] for name in ROLLED_COLUMNS})
    frame["period"] = pd.to_datetime(frame.pop("period_no"), unit="D")
    for name in ("numerator_date", "denominator_date"):
        days = frame[name].where(frame[name] != NO_DATE)
        frame[name] = pd.to_datetime(days, unit="D")
    for name in ("cluster_area", "hscp_area", "board_area", "case_deprivation", "case_rurality"):
        frame[name] = frame[name].where(frame[name] != 0)
    return frame.sort_values(KEY).reset_index(drop=True)


def _assert_same(got: pd.DataFrame, expected: pd.DataFrame) -> None:
    assert len(got) == len(expected)
    for column in expected.columns:
        left, right = got[column], expected[column]
        if column in ("period", "numerator_date", "denominator_date"):
            same = (pd.to_datetime(left) == pd.to_datetime(right)) | (left.isna() & right.isna())
            assert same.all(), column
        elif column == "usable":
            assert (left.to_numpy(bool) == right.to_numpy(bool)).all(), column
        else:
            np.testing.assert_allclose(left.to_numpy(float), right.to_numpy(float), rtol=1e-12, atol=0,
                                       equal_nan=True, err_msg=column)


def test_numpy_rollup_equals_grouping_sets_rollup_on_the_catalogue(fixture_con):
    definitions = load_catalogue()
    _prepare(fixture_con, definitions)
    kinds = fixture_con.execute("SELECT bool_and(practice_unique), bool_or(practice_unique), "
                                "count(numerator_date) FROM indicator_base").fetchone()
    assert kinds[:2] == (False, True)  # both paths are exercised (GP headcount and SQL series are grouped)
    assert kinds[2] > 0  # and dated series (the headcount snapshot's date)

    expected, got = _sql_rolled(fixture_con), _numpy_rolled(fixture_con)

    assert len(got) > 1000
    assert set(expected.level_no) == set(range(len(LEVELS)))
    _assert_same(got, expected)


def test_a_series_that_repeats_a_practice_keeps_one_practice_row(fixture_con):
    definitions = load_catalogue()
    _prepare(fixture_con, definitions)
    number = [d.id for d in definitions].index("aged_65_plus")
    # the same rows twice, as a SQL series could return them: not one row per practice
    fixture_con.execute("UPDATE indicator_base SET practice_unique = false WHERE indicator_no = ?", [number])
    fixture_con.execute("INSERT INTO indicator_base SELECT * FROM indicator_base WHERE indicator_no = ?", [number])

    expected, got = _sql_rolled(fixture_con), _numpy_rolled(fixture_con)

    _assert_same(got, expected)
    practice_rows = got[(got.indicator_no == number) & (got.level_no == 0)]
    assert len(practice_rows) and not practice_rows.duplicated(KEY).any()
    # the areas count both copies (a repeated practice is summed twice, as in SQL), its practice row once
    scotland = got[(got.indicator_no == number) & (got.level_no == 4)].set_index("period").numerator
    once = practice_rows[practice_rows.usable].groupby("period").numerator.sum()
    np.testing.assert_allclose(scotland.loc[once.index].to_numpy(), 2 * once.to_numpy(), rtol=1e-12)


def _rows(**columns) -> dict[str, np.ndarray]:
    n = len(columns["period_no"])
    rows = {"indicator_no": np.zeros(n, dtype=np.int32), "level_no": np.zeros(n, dtype=np.int32),
            "area_no": np.ones(n, dtype=np.int64), "cluster_area": np.zeros(n, dtype=np.int64),
            "hscp_area": np.zeros(n, dtype=np.int64), "board_area": np.zeros(n, dtype=np.int64),
            "denominator": np.full(n, np.nan), "expected": np.full(n, np.nan),
            "case_deprivation": np.zeros(n, dtype=np.int32), "case_rurality": np.zeros(n, dtype=np.int32),
            "numerator_date": np.full(n, NO_DATE), "denominator_date": np.full(n, NO_DATE)}
    rows.update({name: np.asarray(values) for name, values in columns.items()})
    return rows


def test_change_compares_with_the_immediately_preceding_period_of_the_same_area():
    definition = load_definition("list_size_change")
    assert definition.measure_type == "change" and "practice" in definition.levels
    # practice 1 over four quarters, one missing (day 200); practice 2 only from the second quarter
    rows = _rows(period_no=[0, 100, 300, 100, 200, 300, 400], area_no=[1, 1, 1, 2, 2, 2, 2],
                 numerator=[1000.0, 1100.0, 1210.0, 50.0, 0.0, 10.0, 20.0],
                 usable=[True, True, True, True, True, True, False])
    got = valued(rows, [definition])
    table = pd.DataFrame(got).set_index(["area_no", "period_no"]).sort_index()
    assert 0 not in table.index.get_level_values("period_no")  # the indicator's first period: nothing to compare
    assert table.loc[(1, 100), "numerator"] == 100.0 and table.loc[(1, 100), "denominator"] == 1000.0
    assert table.loc[(1, 100), "value"] == pytest.approx(100.0 / 1000.0 * definition.multiplier)
    # day 300 follows day 100 in practice 1's own series, but the indicator had a period between: no value
    assert np.isnan(table.loc[(1, 300), "value"])
    assert np.isnan(table.loc[(2, 100), "value"])  # practice 2's first row: nothing before it
    assert np.isnan(table.loc[(2, 300), "value"])  # the previous total is 0: no rate of change from nothing
    assert np.isnan(table.loc[(2, 400), "value"])  # unusable rows stay without a value
    assert table.loc[(2, 200), "numerator"] == -50.0 and table.loc[(2, 200), "value"] == pytest.approx(
        -50.0 / 50.0 * definition.multiplier)


def _base(**columns) -> dict[str, np.ndarray]:
    n = len(columns["practice_area"])
    base = {"indicator_no": np.zeros(n, dtype=np.int32), "practice_unique": np.ones(n, dtype=bool),
            "period_no": np.full(n, 19_000), "cluster_area": np.zeros(n, dtype=np.int64),
            "hscp_area": np.zeros(n, dtype=np.int64), "board_area": np.zeros(n, dtype=np.int64),
            "case_deprivation": np.zeros(n, dtype=np.int32), "case_rurality": np.zeros(n, dtype=np.int32),
            "denominator": np.full(n, np.nan), "expected": np.full(n, np.nan),
            "numerator_date": np.full(n, NO_DATE), "denominator_date": np.full(n, NO_DATE)}
    base.update({name: np.asarray(values) for name, values in columns.items()})
    return base


def _row(rolled: dict[str, np.ndarray], level: int, area: int) -> dict:
    at = np.flatnonzero((rolled["level_no"] == level) & (rolled["area_no"] == area))
    assert at.size == 1, (level, area)
    return {name: values[at[0]] for name, values in rolled.items()}


def test_rollup_by_hand_areas_parents_and_dates():
    # areas: practices 1-4; clusters 10 (home HSCP 20, board 30) and 11 (no home known); HSCPs 20, 21 (board
    # 30 known for 20 only); boards 30, 31; Scotland 99. Practice 3 of cluster 10 sits in HSCP 21.
    base = _base(practice_area=[1, 2, 3, 4], cluster_area=[10, 10, 10, 11], hscp_area=[20, 20, 21, 21],
                 board_area=[30, 30, 31, 31], numerator=[5.0, 7.0, 11.0, 13.0], denominator=[50.0, 70.0, 110.0, 130.0],
                 expected=[1.0, 2.0, np.nan, 4.0], usable=[True, True, False, False],
                 numerator_date=[18_990, 18_980, 18_970, NO_DATE])
    hscp_of, board_of = np.zeros(100, dtype=np.int64), np.zeros(100, dtype=np.int64)
    hscp_of[10], board_of[10], board_of[20] = 20, 30, 30
    rolled = roll_up(base, 99, hscp_of, board_of)

    assert sorted(zip(rolled["level_no"].tolist(), rolled["area_no"].tolist(), strict=True)) == [
        (0, 1), (0, 2), (0, 3), (0, 4), (1, 10), (1, 11), (2, 20), (2, 21), (3, 30), (3, 31), (4, 99)]
    # a practice keeps its own figures even when unusable, but no date then
    unusable = _row(rolled, 0, 3)
    assert unusable["numerator"] == 11.0 and not unusable["usable"] and unusable["numerator_date"] == NO_DATE
    assert _row(rolled, 0, 2)["numerator_date"] == 18_980
    # cluster 10 sums its usable practices only (1 and 2); its dates are their earliest
    cluster = _row(rolled, 1, 10)
    assert (cluster["numerator"], cluster["denominator"], cluster["expected"]) == (12.0, 120.0, 3.0)
    assert cluster["usable"] and cluster["numerator_date"] == 18_980
    # ... and its HSCP and board are its home ones, not those of any practice in it
    assert (cluster["cluster_area"], cluster["hscp_area"], cluster["board_area"]) == (10, 20, 30)
    # cluster 11 has no usable practice: a row with nothing summed (NULL, not 0), parents from its practice
    empty = _row(rolled, 1, 11)
    assert np.isnan(empty["numerator"]) and np.isnan(empty["denominator"]) and np.isnan(empty["expected"])
    assert not empty["usable"] and empty["numerator_date"] == NO_DATE
    assert (empty["hscp_area"], empty["board_area"]) == (21, 31)
    # HSCP rows carry only a board (known for 20; from the practices for 21); boards and Scotland none
    assert (_row(rolled, 2, 20)["cluster_area"], _row(rolled, 2, 20)["hscp_area"], _row(rolled, 2, 20)["board_area"]) \
        == (0, 0, 30)
    assert _row(rolled, 2, 21)["board_area"] == 31
    assert [_row(rolled, 3, 30)[c] for c in ("cluster_area", "hscp_area", "board_area")] == [0, 0, 0]
    scotland = _row(rolled, 4, 99)
    assert (scotland["numerator"], scotland["denominator"], scotland["expected"]) == (12.0, 120.0, 3.0)
    # an expected count only when every usable practice has one
    base["usable"][:] = [True, True, True, False]
    assert np.isnan(_row(roll_up(base, 99, hscp_of, board_of), 1, 10)["expected"])
    assert _row(roll_up(base, 99, hscp_of, board_of), 1, 10)["numerator"] == 23.0
