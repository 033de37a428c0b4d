"""The engine's roll-up (practice rows taken as they are where a series has one row per practice) gives
exactly the rows of the plain GROUPING SETS roll-up it replaces, including a series that repeats a practice."""

from __future__ import annotations

import pandas as pd

from gpcluster.indicators import engine
from gpcluster.indicators.compile import (
    AREA_PARENT_SQL,
    AREA_SQL,
    ENGINE_ROLLUP_SQL,
    PRACTICE_AREAS_SQL,
    PRACTICE_PERIOD_SQL,
    ROLLUP_SQL,
)
from gpcluster.indicators.definition import load_catalogue

KEY = ["indicator_no", "level_no", "area_no", "period"]


def _rolled(con, sql: str) -> pd.DataFrame:
    frame = con.execute(sql).df()
    return frame.sort_values(KEY).reset_index(drop=True)


def _prepare(con, definitions) -> None:
    for statement in (PRACTICE_PERIOD_SQL, AREA_SQL, AREA_PARENT_SQL, PRACTICE_AREAS_SQL):
        con.execute(statement)
    engine._build_base(con, definitions)


def test_engine_rollup_equals_grouping_sets_rollup_on_the_catalogue(fixture_con):
    definitions = load_catalogue()
    _prepare(fixture_con, definitions)
    kinds = fixture_con.execute("SELECT bool_and(practice_unique), bool_or(practice_unique) "
                                "FROM indicator_base").fetchone()
    assert kinds == (False, True)  # both paths are exercised (GP headcount and SQL series are grouped)

    expected, got = _rolled(fixture_con, ROLLUP_SQL), _rolled(fixture_con, ENGINE_ROLLUP_SQL)

    assert len(got) > 1000
    pd.testing.assert_frame_equal(got[expected.columns], expected, check_exact=False, rtol=1e-12)


def test_a_series_that_repeats_a_practice_keeps_one_practice_row(fixture_con):
    definitions = load_catalogue()
    _prepare(fixture_con, definitions)
    number = [d.id for d in definitions].index("aged_65_plus")
    # the same rows twice, as a SQL series could return them: not one row per practice
    fixture_con.execute("UPDATE indicator_base SET practice_unique = false WHERE indicator_no = ?", [number])
    fixture_con.execute("INSERT INTO indicator_base SELECT * FROM indicator_base WHERE indicator_no = ?", [number])

    expected, got = _rolled(fixture_con, ROLLUP_SQL), _rolled(fixture_con, ENGINE_ROLLUP_SQL)

    pd.testing.assert_frame_equal(got[expected.columns], expected, check_exact=False, rtol=1e-12)
    practice_rows = got[(got.indicator_no == number) & (got.level_no == 0)]
    assert not practice_rows.duplicated(KEY).any()
