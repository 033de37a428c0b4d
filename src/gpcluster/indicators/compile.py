"""Compile definitions into set-based SQL: one query over all indicators and all levels.

Each definition becomes a *base* SELECT (one row per practice per period, with the membership in
force from ``practice_period``); the bases are stacked and rolled up over the organisation tree in a
single GROUPING SETS query. Definition values are bound parameters; the only identifiers placed in
SQL come from closed lists validated in gpcluster.indicators.definition.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from gpcluster.indicators.definition import (
    ActivitySeries,
    Definition,
    PopulationSeries,
    PracticeAttributeSeries,
    Series,
    SqlSeries,
    WeightedPopulationSeries,
)

SCOTLAND_CODE = "S92000003"


@dataclass
class Query:
    """SQL text plus its positional parameters, in order."""

    sql: str
    params: list = field(default_factory=list)


def series_query(series: Series) -> Query:
    """A SELECT yielding (period DATE, practice_code VARCHAR, value DOUBLE) for one series."""
    if isinstance(series, PopulationSeries):
        return Query(
            "SELECT release_date AS period, practice_code, SUM(population)::DOUBLE AS value "
            "FROM list_population WHERE sex = ? AND list_contains(?::VARCHAR[], age_band) "
            "GROUP BY release_date, practice_code",
            [series.sex, list(series.age_bands)],
        )
    if isinstance(series, WeightedPopulationSeries):
        rows = [(sex, band, weight) for sex, bands in series.weights.items() for band, weight in bands.items()]
        values = ", ".join(["(?::VARCHAR, ?::VARCHAR, ?::DOUBLE)"] * len(rows))
        return Query(
            "SELECT l.release_date AS period, l.practice_code, SUM(l.population * w.weight)::DOUBLE AS value "
            f"FROM list_population l JOIN (VALUES {values}) AS w(sex, age_band, weight) "
            "ON l.sex = w.sex AND l.age_band = w.age_band GROUP BY l.release_date, l.practice_code",
            [item for row in rows for item in row],
        )
    if isinstance(series, PracticeAttributeSeries):
        column = series.attribute  # one of PRACTICE_ATTRIBUTES (validated), never free text
        if series.equals is None:
            return Query(
                f"SELECT release_date AS period, practice_code, (list_size * {column})::DOUBLE AS value "
                f"FROM practice_period WHERE {column} IS NOT NULL AND list_size IS NOT NULL"
            )
        return Query(
            f"SELECT release_date AS period, practice_code, "
            f"(CASE WHEN {column} = ? THEN list_size ELSE 0 END)::DOUBLE AS value "
            f"FROM practice_period WHERE {column} IS NOT NULL AND list_size IS NOT NULL",
            [series.equals],
        )
    if isinstance(series, ActivitySeries):
        return Query(
            "SELECT period, practice_code, value::DOUBLE AS value FROM practice_activity WHERE measure = ?",
            [series.measure],
        )
    if isinstance(series, SqlSeries):
        return Query(
            "SELECT period::DATE AS period, practice_code::VARCHAR AS practice_code, value::DOUBLE AS value "
            f"FROM ({series.sql})"
        )
    raise TypeError(f"unknown series {type(series).__name__}")


def base_query(definition: Definition, indicator_no: int) -> Query:
    """One row per practice per period where the numerator exists, with membership in force.

    `indicator_no` (the definition's position in the run) keys the rows: integers group faster than ids.
    """
    num = series_query(definition.numerator)
    params: list = [indicator_no, *num.params]
    if definition.denominator is not None:
        den = series_query(definition.denominator)
        params += den.params
        den_join = f"LEFT JOIN ({den.sql}) d ON d.period = p.release_date AND d.practice_code = p.practice_code"
        den_col = "d.value"
        usable = "n.value IS NOT NULL AND d.value IS NOT NULL AND d.value > 0"
    else:
        den_join, den_col, usable = "", "NULL::DOUBLE", "n.value IS NOT NULL"
    sql = (
        "SELECT ?::INTEGER AS indicator_no, p.release_date AS period, p.practice_area, p.cluster_area, "
        f"p.hscp_area, p.board_area, n.value AS numerator, {den_col} AS denominator, ({usable}) AS usable "
        f"FROM indicator_practice_period p JOIN ({num.sql}) n "
        "ON n.period = p.release_date AND n.practice_code = p.practice_code "
        f"{den_join}"
    )
    return Query(sql, params)


# practice_period evaluated once per run (its view has ASOF joins) into a temporary table of the
# same name, which shadows the view on this connection (for series too) until the run drops it.
PRACTICE_PERIOD_SQL = "CREATE OR REPLACE TEMP TABLE practice_period AS SELECT * FROM main.practice_period"

# Every area of the run gets an integer (area_no): the roll-up, comparators and SPC series work on
# integers, and codes are joined back once at the end. level_no indexes definition.LEVELS.
AREA_SQL = f"""
CREATE OR REPLACE TEMP TABLE indicator_area AS
SELECT row_number() OVER (ORDER BY level_no, area_code) AS area_no, level_no, area_code
FROM (
    SELECT DISTINCT 0 AS level_no, practice_code AS area_code FROM temp.practice_period
    UNION SELECT DISTINCT 1, cluster_id FROM temp.practice_period WHERE cluster_id IS NOT NULL
    UNION SELECT DISTINCT 2, hscp_code FROM temp.practice_period WHERE hscp_code IS NOT NULL
    UNION SELECT DISTINCT 3, board_code FROM temp.practice_period WHERE board_code IS NOT NULL
    UNION SELECT 4, '{SCOTLAND_CODE}'
)
"""

# The membership in force as area numbers: what every base query joins to.
PRACTICE_AREAS_SQL = """
CREATE OR REPLACE TEMP TABLE indicator_practice_period AS
SELECT p.release_date, p.practice_code, a0.area_no AS practice_area, a1.area_no AS cluster_area,
       a2.area_no AS hscp_area, a3.area_no AS board_area
FROM temp.practice_period p
JOIN indicator_area a0 ON a0.level_no = 0 AND a0.area_code = p.practice_code
LEFT JOIN indicator_area a1 ON a1.level_no = 1 AND a1.area_code = p.cluster_id
LEFT JOIN indicator_area a2 ON a2.level_no = 2 AND a2.area_code = p.hscp_code
LEFT JOIN indicator_area a3 ON a3.level_no = 3 AND a3.area_code = p.board_code
"""

ROLLUP_SQL = """
WITH rolled AS (
    SELECT
        indicator_no,
        period,
        CASE WHEN GROUPING(practice_area) = 0 THEN 0
             WHEN GROUPING(cluster_area) = 0 THEN 1
             WHEN GROUPING(hscp_area) = 0 THEN 2
             WHEN GROUPING(board_area) = 0 THEN 3
             ELSE 4 END AS level_no,
        CASE WHEN GROUPING(practice_area) = 0 THEN practice_area
             WHEN GROUPING(cluster_area) = 0 THEN cluster_area
             WHEN GROUPING(hscp_area) = 0 THEN hscp_area
             WHEN GROUPING(board_area) = 0 THEN board_area END AS grouped_area,
        any_value(cluster_area) AS any_cluster,
        any_value(hscp_area) AS any_hscp,
        any_value(board_area) AS any_board,
        -- a practice row keeps its own values even when unusable; areas sum usable practices only
        CASE WHEN GROUPING(practice_area) = 0 THEN any_value(numerator)
             ELSE SUM(numerator) FILTER (WHERE usable) END AS numerator,
        CASE WHEN GROUPING(practice_area) = 0 THEN any_value(denominator)
             ELSE SUM(denominator) FILTER (WHERE usable) END AS denominator,
        bool_or(usable) AS usable
    FROM indicator_base
    GROUP BY GROUPING SETS (
        (indicator_no, period, practice_area),
        (indicator_no, period, cluster_area),
        (indicator_no, period, hscp_area),
        (indicator_no, period, board_area),
        (indicator_no, period)
    )
)
SELECT
    indicator_no, period, level_no,
    CASE WHEN level_no = 4 THEN (SELECT area_no FROM indicator_area WHERE level_no = 4)
         ELSE grouped_area END AS area_no,
    CASE WHEN level_no <= 1 THEN any_cluster END AS cluster_area,
    CASE WHEN level_no <= 2 THEN any_hscp END AS hscp_area,
    CASE WHEN level_no <= 3 THEN any_board END AS board_area,
    numerator, denominator, usable
FROM rolled
WHERE level_no = 4 OR grouped_area IS NOT NULL  -- practices with no cluster (or HSCP, board) form no area
"""
