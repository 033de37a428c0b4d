"""The engine's base rows read population series, denominators and expected counts as columns of one
membership x population table (compile.PRACTICE_POPULATION_SQL); they must equal the rows each series' own
query gives when joined on its own, including a practice with no list rows in a quarter."""

from __future__ import annotations

import pandas as pd
import pytest

from gpcluster.indicators.compile import (
    AREA_SQL,
    PRACTICE_AREAS_SQL,
    PRACTICE_PERIOD_SQL,
    PRACTICE_POPULATION_SQL,
    base_query,
    population_columns,
)
from gpcluster.indicators.definition import PopulationSeries, WeightedPopulationSeries, load_catalogue

KEY = ["period", "practice_area"]


def _rows(con, query) -> pd.DataFrame:
    return con.execute(query.sql, query.params).df().sort_values(KEY).reset_index(drop=True)


@pytest.fixture
def prepared(fixture_con):
    # one practice loses its list rows aged 65 and over for one quarter (it stays a member: its other rows
    # remain): those population columns are NULL there, so a 65-plus numerator has no row and a 65-plus
    # denominator makes the row unusable
    practice, quarter = fixture_con.execute(
        "SELECT practice_code, release_date FROM main.practice_period ORDER BY release_date DESC, practice_code "
        "LIMIT 1").fetchone()
    fixture_con.execute("DELETE FROM list_population WHERE practice_code = ? AND release_date = ? "
                        "AND age_band IN ('65-74', '75-84', '85+')", [practice, quarter])
    for statement in (PRACTICE_PERIOD_SQL, AREA_SQL, PRACTICE_AREAS_SQL):
        fixture_con.execute(statement)
    definitions = load_catalogue()
    population, columns = population_columns(definitions)
    fixture_con.execute(population.sql, population.params)
    fixture_con.execute(PRACTICE_POPULATION_SQL)
    return fixture_con, definitions, columns, quarter


def test_base_rows_from_the_population_table_equal_each_series_own_joins(prepared):
    con, definitions, columns, quarter = prepared
    population_kinds = (PopulationSeries, WeightedPopulationSeries)
    read_as_columns = [d for d in definitions if isinstance(d.numerator, population_kinds)
                       or isinstance(d.denominator, population_kinds) or d.expected is not None]
    assert len(read_as_columns) > 20  # numerators, denominators and expected counts are all exercised
    assert any(d.expected is not None for d in read_as_columns)
    rows_in_quarter, unusable_in_quarter = {}, 0
    for number, definition in enumerate(definitions):
        expected = _rows(con, base_query(definition, number))  # every series joined by its own query
        got = _rows(con, base_query(definition, number, columns))
        assert len(got) > 0, definition.id
        pd.testing.assert_frame_equal(got, expected, check_exact=False, rtol=1e-12, obj=definition.id)
        in_quarter = got["period"].dt.date == quarter
        rows_in_quarter[definition.id] = int(in_quarter.sum())
        unusable_in_quarter += int((~got["usable"] & in_quarter).sum())
    # the missing list rows removed a numerator's row and made a denominator unusable
    assert rows_in_quarter["aged_65_plus"] == rows_in_quarter["list_size"] - 1
    assert unusable_in_quarter > 0


def test_base_query_without_population_columns_needs_no_population_table(fixture_con):
    for statement in (PRACTICE_PERIOD_SQL, AREA_SQL, PRACTICE_AREAS_SQL):
        fixture_con.execute(statement)
    definition = next(d for d in load_catalogue() if isinstance(d.numerator, PopulationSeries))

    query = base_query(definition, 0)

    assert "indicator_practice_population" not in query.sql
    assert len(_rows(fixture_con, query)) > 0
