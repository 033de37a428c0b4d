"""Compile definitions into set-based SQL: one query over all indicators and all levels.

Each definition becomes a *base* SELECT (one row per practice per period, with the membership in
force from ``practice_period``); the bases are stacked and rolled up over the organisation tree in a
single GROUPING SETS query. Definition values are bound parameters; the only identifiers placed in
SQL come from closed lists validated in gpcluster.indicators.definition.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from gpcluster import config
from gpcluster.indicators.definition import (
    ActivitySeries,
    Definition,
    HeadcountSeries,
    PopulationSeries,
    PracticeAttributeSeries,
    PrescribingSeries,
    Series,
    SqlSeries,
    WeightedPopulationSeries,
)

SCOTLAND_CODE = "S92000003"


@dataclass
class Query:
    """SQL text plus its positional parameters, in order. `dated`: the SELECT also yields `as_of`, the
    date the value describes when it differs from the period it is placed at."""

    sql: str
    params: list = field(default_factory=list)
    dated: bool = False


# Designation words -> role; a designation without REGISTRAR or RETAINEE is a qualified GP.
_ROLE_SQL = ("CASE WHEN designation LIKE '%REGISTRAR%' THEN 'registrar' "
             "WHEN designation LIKE '%RETAIN%' THEN 'retainee' ELSE 'qualified' END")

# Each headcount snapshot placed at the nearest list-size release, if within the tolerance (days).
HEADCOUNT_PLACEMENT_SQL = """
SELECT s.snapshot_date,
       arg_min(r.release_date, abs(date_diff('day', r.release_date, s.snapshot_date))) AS period,
       min(abs(date_diff('day', r.release_date, s.snapshot_date))) AS gap_days
FROM (SELECT DISTINCT snapshot_date FROM gp_headcount) s
CROSS JOIN (SELECT DISTINCT release_date FROM list_population) r
GROUP BY s.snapshot_date
"""


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
    if isinstance(series, HeadcountSeries):
        return Query(
            "SELECT n.period, g.practice_code, SUM(g.headcount)::DOUBLE AS value, g.snapshot_date AS as_of "
            f"FROM gp_headcount g JOIN ({HEADCOUNT_PLACEMENT_SQL}) n USING (snapshot_date) "
            f"WHERE n.gap_days <= ? AND list_contains(?::VARCHAR[], {_ROLE_SQL}) "
            "GROUP BY n.period, g.practice_code, g.snapshot_date",
            [int(config.get("max_date_gap_days")), list(series.roles)], dated=True,
        )
    if isinstance(series, PrescribingSeries):
        return prescribing_series_query(series)
    if isinstance(series, SqlSeries):
        return Query(
            "SELECT period::DATE AS period, practice_code::VARCHAR AS practice_code, value::DOUBLE AS value "
            f"FROM ({series.sql})"
        )
    raise TypeError(f"unknown series {type(series).__name__}")


def expected_query(definition: Definition) -> Query:
    """Indirect standardisation: each practice's list by sex and age band times Scotland's rates."""
    return Query(
        "SELECT l.release_date AS period, l.practice_code, SUM(l.population * r.rate)::DOUBLE AS value "
        "FROM list_population l JOIN reference_rate r "
        "ON r.period = l.release_date AND r.sex = l.sex AND r.age_band = l.age_band "
        "WHERE r.measure = ? GROUP BY l.release_date, l.practice_code",
        [definition.expected.measure],
    )


# Months of quarters with all three months of prescribing loaded (a quarter's start is its period).
COMPLETE_PRESCRIBING_MONTHS_SQL = ("SELECT month FROM prescribing_month WHERE date_trunc('quarter', month) IN "
              "(SELECT date_trunc('quarter', month) FROM prescribing_month GROUP BY 1 HAVING count(DISTINCT month) = 3)")


def prescribing_series_query(series: PrescribingSeries) -> Query:
    """Per practice and complete quarter: the selected presentations' items, quantity or cost (0 when the
    practice prescribed that quarter but nothing selected). `series.value` is from a closed list."""
    from gpcluster.prescribing.bnf import code_selection_sql, selection_sql

    column = series.value
    totals = (f"SELECT date_trunc('quarter', t.month)::DATE AS period, t.practice_code, "
              f"sum(t.{column})::DOUBLE AS value FROM prescribing_practice_total t "
              f"WHERE t.month IN ({COMPLETE_PRESCRIBING_MONTHS_SQL}) GROUP BY ALL")
    selections = series.selections()
    if len(selections) == 1 and selections[0].selects_everything:
        return Query(totals)
    source = "prescribing"
    if all(s.by_code_only and all(len(c) == 2 for c in (*s.include, *s.exclude)) for s in selections):
        # whole chapters (and generic or not): the chapter summary has every figure needed, in few rows
        source = "prescribing_practice_chapter"
        condition, params = code_selection_sql(selections, "f.chapter", generic_column="f.is_generic")
        chosen = f"WHERE {condition}"
    elif all(s.by_code_only for s in selections):  # filter the scan in place: no join
        condition, params = code_selection_sql(selections, "f.bnf_code")
        chosen = f"WHERE {condition}"
    else:
        condition, params = selection_sql(selections, "b")
        chosen = f"SEMI JOIN (SELECT b.bnf_code FROM bnf_hierarchy b WHERE {condition}) c ON c.bnf_code = f.bnf_code"
    return Query(
        f"SELECT a.period, a.practice_code, coalesce(s.value, 0)::DOUBLE AS value FROM ({totals}) a "
        # months are summed first and made quarters after: a date_trunc per row cost more than the sums
        "LEFT JOIN (SELECT date_trunc('quarter', m.month)::DATE AS period, m.practice_code, sum(m.value) AS value "
        f"FROM (SELECT f.month, f.practice_code, sum(f.{column})::DOUBLE AS value FROM {source} f {chosen} "
        "GROUP BY ALL) m GROUP BY ALL) s "  # months of incomplete quarters find no row in `a`
        "ON s.period = a.period AND s.practice_code = a.practice_code",
        params,
    )


# Every series of a run read from list_population (population, weighted population, and the expected counts
# of indirect standardisation) summed in one pass over list_population, one column per series: the weights
# and each measure's reference rates are joined as one row per sex and age band (one column per series), so
# no list row is repeated. A series has a row where its column is not NULL (population is NOT NULL, so a SUM
# over no matching rows is the only NULL), exactly the rows its own query would give; an expected count is
# NULL where the quarter has no reference rates, as the LEFT JOIN of its own query gives.
POPULATION_TABLE = "indicator_population"


def _population_key(series: PopulationSeries | WeightedPopulationSeries | Definition) -> tuple:
    if isinstance(series, PopulationSeries):
        return "population", series.sex, tuple(series.age_bands)
    if isinstance(series, WeightedPopulationSeries):
        return "weighted", tuple((sex, tuple(bands.items())) for sex, bands in series.weights.items())
    return "expected", series.expected.measure


def population_columns(definitions: list[Definition]) -> tuple[Query | None, dict[tuple, str]]:
    """The statement creating POPULATION_TABLE for the list-population series and expected counts of these
    definitions, and the column of each (by `_population_key`); (None, {}) when there are none."""
    columns: dict[tuple, str] = {}
    population: list[tuple[str, PopulationSeries]] = []
    weighted: list[tuple[str, WeightedPopulationSeries]] = []
    expected: list[tuple[str, str]] = []
    for definition in definitions:
        wanted = [s for s in (definition.numerator, definition.denominator)
                  if isinstance(s, (PopulationSeries, WeightedPopulationSeries))]
        if definition.expected is not None:
            wanted.append(definition)
        for item in wanted:
            key = _population_key(item)
            if key in columns:
                continue
            columns[key] = name = f"population_{len(columns)}"
            if isinstance(item, PopulationSeries):
                population.append((name, item))
            elif isinstance(item, WeightedPopulationSeries):
                weighted.append((name, item))
            else:
                expected.append((name, item.expected.measure))
    if not columns:
        return None, {}
    sums, joins, join_params = [], [], []
    # a population series is a weighted one whose weight is 1 in its sex and age bands and NULL elsewhere (a
    # SUM over no such row is NULL, as its own query has no row): one join of the weights, no filter per series
    # (lists are whole numbers, so their sums as doubles are exact)
    weights = [(name, {series.sex: dict.fromkeys(series.age_bands, 1.0)}) for name, series in population]
    weights += [(name, series.weights) for name, series in weighted]
    if weights:
        cells = sorted({(sex, band) for _, table in weights for sex, bands in table.items() for band in bands})
        row = ", ".join(["?::VARCHAR", "?::VARCHAR"] + ["?::DOUBLE"] * len(weights))
        joins.append(f"LEFT JOIN (VALUES {', '.join([f'({row})'] * len(cells))}) "
                     f"AS w(sex, age_band, {', '.join(name for name, _ in weights)}) "
                     "ON w.sex = l.sex AND w.age_band = l.age_band")
        join_params += [item for sex, band in cells
                        for item in (sex, band, *(table.get(sex, {}).get(band) for _, table in weights))]
        sums += [f"SUM(l.population * w.{name})::DOUBLE AS {name}" for name, _ in weights]
    if expected:
        rates = ", ".join(f"any_value(rate) FILTER (WHERE measure = ?) AS {name}" for name, _ in expected)
        joins.append(f"LEFT JOIN (SELECT period, sex, age_band, {rates} FROM reference_rate "
                     "WHERE list_contains(?::VARCHAR[], measure) GROUP BY period, sex, age_band) r "
                     "ON r.period = l.release_date AND r.sex = l.sex AND r.age_band = l.age_band")
        join_params += [measure for _, measure in expected] + [[measure for _, measure in expected]]
        sums += [f"SUM(l.population * r.{name})::DOUBLE AS {name}" for name, _ in expected]
    return Query(f"CREATE OR REPLACE TEMP TABLE {POPULATION_TABLE} AS SELECT l.release_date AS period, "
                 f"l.practice_code, {', '.join(sums)} FROM list_population l {' '.join(joins)} "
                 "GROUP BY l.release_date, l.practice_code", join_params), columns


# The membership in force with every column of POPULATION_TABLE beside it (NULL where a practice has no
# list rows that quarter): the engine's base queries read their population series, denominators and
# expected counts as columns of this one table instead of each joining POPULATION_TABLE again. As
# POPULATION_TABLE has one row per quarter and practice, the left join repeats no row, and a column is NULL
# exactly where the series' own query has no row (or a NULL value).
PRACTICE_POPULATION_TABLE = "indicator_practice_population"
PRACTICE_POPULATION_SQL = (
    f"CREATE OR REPLACE TEMP TABLE {PRACTICE_POPULATION_TABLE} AS "
    f"SELECT p.*, l.* EXCLUDE (period, practice_code) FROM indicator_practice_period p "
    f"LEFT JOIN {POPULATION_TABLE} l ON l.period = p.release_date AND l.practice_code = p.practice_code"
)


def _population_column(series: Series | Definition | None, population: dict[tuple, str]) -> str | None:
    """The column of POPULATION_TABLE holding this series (or this definition's expected counts), if any."""
    if isinstance(series, (PopulationSeries, WeightedPopulationSeries)) or (
            isinstance(series, Definition) and series.expected is not None):
        return population.get(_population_key(series))
    return None


_ONE_ROW_PER_PRACTICE = (PopulationSeries, WeightedPopulationSeries, PracticeAttributeSeries, ActivitySeries,
                         PrescribingSeries)


def base_query(definition: Definition, indicator_no: int, population: dict[tuple, str] | None = None) -> Query:
    """One row per practice per period where the numerator exists, with membership in force.

    `indicator_no` (the definition's position in the run) keys the rows: integers group faster than ids.
    `population` maps population series to their columns of POPULATION_TABLE (see population_columns);
    when it is not empty the query reads PRACTICE_POPULATION_TABLE (PRACTICE_POPULATION_SQL), which must
    exist, and takes those series as its columns, with no join.
    """
    population = population or {}
    source = PRACTICE_POPULATION_TABLE if population else "indicator_practice_period"
    params: list = [indicator_no]
    joins, where = [], ""
    if (column := _population_column(definition.numerator, population)) is not None:
        num_col, num_date, where = f"p.{column}", "NULL::DATE", f"WHERE p.{column} IS NOT NULL"
    else:
        num = series_query(definition.numerator)
        params += num.params
        joins.append(f"JOIN ({num.sql}) n ON n.period = p.release_date AND n.practice_code = p.practice_code")
        num_col, num_date = "n.value", "n.as_of" if num.dated else "NULL::DATE"
    if definition.denominator is not None:
        if (column := _population_column(definition.denominator, population)) is not None:
            den_col, den_date = f"p.{column}", "NULL::DATE"
        else:
            den = series_query(definition.denominator)
            params += den.params
            joins.append(f"LEFT JOIN ({den.sql}) d ON d.period = p.release_date AND d.practice_code = p.practice_code")
            den_col, den_date = "d.value", "d.as_of" if den.dated else "NULL::DATE"
        usable = f"{num_col} IS NOT NULL AND {den_col} IS NOT NULL AND {den_col} > 0"
    else:
        den_col, den_date, usable = "NULL::DOUBLE", "NULL::DATE", f"{num_col} IS NOT NULL"
    exp_col = "NULL::DOUBLE"
    if definition.expected is not None:
        if (column := _population_column(definition, population)) is not None:
            exp_col = f"p.{column}"
        else:
            exp = expected_query(definition)
            params += exp.params
            joins.append(f"LEFT JOIN ({exp.sql}) e ON e.period = p.release_date AND e.practice_code = p.practice_code")
            exp_col = "e.value"
    # series that are one row per practice and period by construction (grouped, or keyed so in the warehouse)
    unique = all(isinstance(series, _ONE_ROW_PER_PRACTICE) for series in (definition.numerator,
                                                                          definition.denominator)
                 if series is not None)
    sql = (
        f"SELECT ?::INTEGER AS indicator_no, {unique} AS practice_unique, p.release_date AS period, "
        "p.practice_area, p.cluster_area, "
        "p.hscp_area, p.board_area, p.case_deprivation, p.case_rurality, "
        f"{num_col} AS numerator, {den_col} AS denominator, ({usable}) AS usable, "
        f"{num_date} AS numerator_date, {den_date} AS denominator_date, {exp_col} AS expected "
        f"FROM {source} p {' '.join(joins)} {where}"
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
       a2.area_no AS hscp_area, a3.area_no AS board_area,
       p.simd_quintile AS case_deprivation, coalesce(p.urban_rural_8, p.urban_rural_6) AS case_rurality
FROM temp.practice_period p
JOIN indicator_area a0 ON a0.level_no = 0 AND a0.area_code = p.practice_code
LEFT JOIN indicator_area a1 ON a1.level_no = 1 AND a1.area_code = p.cluster_id
LEFT JOIN indicator_area a2 ON a2.level_no = 2 AND a2.area_code = p.hscp_code
LEFT JOIN indicator_area a3 ON a3.level_no = 3 AND a3.area_code = p.board_code
"""

# A cluster's HSCP and board comparators are those of its home HSCP (cluster.hscp_code), even when some of
# its practices sit in a neighbouring HSCP; an HSCP's board is the one it belongs to.
AREA_PARENT_SQL = """
CREATE OR REPLACE TEMP TABLE indicator_area_parent AS
SELECT a.area_no, h.area_no AS hscp_area, b.area_no AS board_area
FROM indicator_area a
JOIN main.cluster c ON a.level_no = 1 AND c.cluster_id = a.area_code
LEFT JOIN main.hscp hs ON hs.hscp_code = c.hscp_code
LEFT JOIN indicator_area h ON h.level_no = 2 AND h.area_code = c.hscp_code
LEFT JOIN indicator_area b ON b.level_no = 3 AND b.area_code = hs.board_code
UNION ALL
SELECT a.area_no, NULL, b.area_no
FROM indicator_area a
JOIN main.hscp hs ON a.level_no = 2 AND hs.hscp_code = a.area_code
LEFT JOIN indicator_area b ON b.level_no = 3 AND b.area_code = hs.board_code
"""

def _rollup_select(practice: bool) -> str:
    """The aggregates of the roll-up: a practice row keeps its own values even when unusable; areas sum
    their usable practices only. With `practice` False the grouping sets hold no practice set."""
    own = "GROUPING(practice_area) = 0" if practice else "FALSE"
    own_area = "WHEN GROUPING(practice_area) = 0 THEN practice_area " if practice else ""
    return f"""
    SELECT
        indicator_no,
        period,
        CASE WHEN {own} THEN 0
             WHEN GROUPING(cluster_area) = 0 THEN 1
             WHEN GROUPING(hscp_area) = 0 THEN 2
             WHEN GROUPING(board_area) = 0 THEN 3
             ELSE 4 END AS level_no,
        CASE {own_area}WHEN GROUPING(cluster_area) = 0 THEN cluster_area
             WHEN GROUPING(hscp_area) = 0 THEN hscp_area
             WHEN GROUPING(board_area) = 0 THEN board_area END AS grouped_area,
        any_value(cluster_area) AS any_cluster,
        any_value(hscp_area) AS any_hscp,
        any_value(board_area) AS any_board,
        CASE WHEN {own} THEN any_value(numerator)
             ELSE SUM(numerator) FILTER (WHERE usable) END AS numerator,
        CASE WHEN {own} THEN any_value(denominator)
             ELSE SUM(denominator) FILTER (WHERE usable) END AS denominator,
        -- an area's expected count only when every practice counted in it has one (O and E alike)
        CASE WHEN {own} THEN any_value(expected)
             WHEN count(*) FILTER (WHERE usable AND expected IS NULL) > 0 THEN NULL
             ELSE SUM(expected) FILTER (WHERE usable) END AS expected,
        CASE WHEN {own} THEN any_value(case_deprivation) END AS case_deprivation,
        CASE WHEN {own} THEN any_value(case_rurality) END AS case_rurality,
        min(numerator_date) FILTER (WHERE usable) AS numerator_date,
        min(denominator_date) FILTER (WHERE usable) AS denominator_date,
        bool_or(usable) AS usable
    FROM indicator_base"""


_AREA_SETS = """
        (indicator_no, period, cluster_area),
        (indicator_no, period, hscp_area),
        (indicator_no, period, board_area),
        (indicator_no, period)"""

_ROLLUP_OUTER = """
SELECT
    r.indicator_no, r.period, r.level_no,
    CASE WHEN r.level_no = 4 THEN (SELECT area_no FROM indicator_area WHERE level_no = 4)
         ELSE r.grouped_area END AS area_no,
    CASE WHEN r.level_no <= 1 THEN r.any_cluster END AS cluster_area,
    CASE WHEN r.level_no = 0 THEN r.any_hscp WHEN r.level_no = 1 THEN coalesce(p.hscp_area, r.any_hscp)
         END AS hscp_area,
    CASE WHEN r.level_no = 0 THEN r.any_board WHEN r.level_no <= 2 THEN coalesce(p.board_area, r.any_board)
         END AS board_area,
    r.numerator, r.denominator, r.expected, r.case_deprivation, r.case_rurality, r.usable, r.numerator_date,
    r.denominator_date
FROM rolled r
LEFT JOIN indicator_area_parent p ON r.level_no IN (1, 2) AND p.area_no = r.grouped_area
-- practices with no cluster (or HSCP, board) form no area, but count in every level above they belong to
WHERE r.level_no = 4 OR r.grouped_area IS NOT NULL
"""

# The roll-up in one GROUPING SETS query over indicator_base (also Spark SQL: gpcluster.prescribing.spark).
ROLLUP_SQL = f"""
WITH rolled AS ({_rollup_select(practice=True)}
    GROUP BY GROUPING SETS (
        (indicator_no, period, practice_area),{_AREA_SETS}
    )
)""" + _ROLLUP_OUTER

# Notes that travel with a figure: a practice's change in list size when it absorbed a practice that closed,
# or continues one under a new code (from practice_event), by period (days since 1970-01-01) and practice
# area number; the engine attaches them to the practice rows of 'change' indicators.
NOTE_SQL = """
SELECT (e.release_date - DATE '1970-01-01') AS period_no, a.area_no,
       string_agg(CASE e.event WHEN 'merged_into' THEN 'absorbed practice ' || e.practice_code || ', which closed'
                               ELSE 'continues practice ' || e.practice_code || ' under a new code' END,
                  '; ' ORDER BY e.practice_code) AS note
FROM main.practice_event e
JOIN indicator_area a ON a.level_no = 0 AND a.area_code = e.detail
WHERE e.event IN ('merged_into', 'recoded_as')
GROUP BY ALL
"""
