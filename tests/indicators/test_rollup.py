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
