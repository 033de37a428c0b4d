"""Indicator engine: compute the catalogue for every level and period, set-based in DuckDB, then
attach the statistics from gpcluster.stats and store the results with each definition's version.

Pipeline (all indicators, levels and periods at once; temporary tables on the caller's connection):
base rows per practice and period -> one GROUPING SETS roll-up over the organisation tree -> values by
measure type -> national rank/decile (window functions) and comparators (joins) -> CIs, funnels and SPC
in numpy via gpcluster.stats -> joined back and stored, or returned as a frame.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa

from gpcluster.errors import UserError
from gpcluster.indicators.compile import (
    AREA_PARENT_SQL,
    AREA_SQL,
    NOTE_SQL,
    PRACTICE_AREAS_SQL,
    PRACTICE_PERIOD_SQL,
    ROLLUP_SQL,
    base_query,
)
from gpcluster.indicators.definition import LEVELS, Definition
from gpcluster.indicators.quality import rebuild_quality_notes
from gpcluster.indicators.statistics import (
    FUNNEL_LABELS,
    INPUT_COLUMNS,
    SPC_RULES,
    SPC_SIGNALS,
    compute_statistics,
)
from gpcluster.indicators.stored import stored_definitions  # noqa: F401 - where callers have found it
from gpcluster.indicators.suppression import rebuild_suppression
from gpcluster.signals import rebuild_signals

RESULT_COLUMNS = [
    "indicator_id", "version", "period", "level", "area_code", "cluster_id", "hscp_code", "board_code",
    "numerator", "denominator", "numerator_date", "denominator_date", "note",
    "value", "lower95", "upper95", "lower998", "upper998", "expected", "z_score",
    "cluster_value", "hscp_value", "board_value", "scotland_value", "funnel_scotland", "funnel_hscp",
    "spc_signal", "spc_rule", "national_rank", "national_decile",
]  # fmt: skip

# indicator_no, series_no (= area_no, one per area) and period_no key every row of a run.
_KEY = ("indicator_no", "series_no", "period_no")
_STEPS = [
    # value by measure type, only at the levels the definition asks for. A 'change' indicator compares each
    # area's total with its total in the immediately preceding period (lag over the area's own series).
    """CREATE OR REPLACE TEMP TABLE indicator_valued AS
    WITH change_rows AS (
        SELECT r.* FROM indicator_rolled r JOIN indicator_meta m USING (indicator_no)
        WHERE m.measure_type = 'change'
    ),
    period_index AS (
        SELECT indicator_no, period, row_number() OVER (PARTITION BY indicator_no ORDER BY period) AS period_index
        FROM (SELECT DISTINCT indicator_no, period FROM change_rows)
    ),
    lagged AS (
        SELECT r.*, i.period_index, lag(r.numerator) OVER w AS previous_numerator,
               lag(i.period_index) OVER w AS previous_index, lag(r.usable) OVER w AS previous_usable
        FROM change_rows r JOIN period_index i USING (indicator_no, period)
        WINDOW w AS (PARTITION BY r.indicator_no, r.level_no, r.area_no ORDER BY r.period)
    ),
    changed AS (
        SELECT * EXCLUDE (period_index, previous_numerator, previous_index, previous_usable) REPLACE (
            numerator - previous_numerator AS numerator,
            previous_numerator AS denominator,
            usable AND coalesce(previous_usable, FALSE) AND previous_index = period_index - 1
                   AND previous_numerator > 0 AS usable)
        FROM lagged WHERE period_index > 1  -- the first period has nothing to change from
    ),
    all_rows AS (
        SELECT r.* FROM indicator_rolled r JOIN indicator_meta m USING (indicator_no)
        WHERE m.measure_type <> 'change'
        UNION ALL BY NAME SELECT * FROM changed
    )
    SELECT r.*, m.indicator_id, m.version, r.area_no AS series_no,
           (r.period - DATE '1970-01-01') AS period_no,
           CASE WHEN NOT r.usable THEN NULL
                WHEN m.measure_type = 'count' THEN r.numerator
                ELSE r.numerator / r.denominator * m.multiplier END AS value
    FROM all_rows r JOIN indicator_meta m USING (indicator_no)
    WHERE list_contains(m.level_nos, r.level_no)""",
    """CREATE OR REPLACE TEMP TABLE indicator_area_value AS
    SELECT indicator_no, period_no, level_no, area_no, value FROM indicator_valued WHERE level_no > 0""",
    # national rank (1 = highest) and decile (1 = lowest tenth) among practices with a value; ties share
    """CREATE OR REPLACE TEMP TABLE indicator_rank AS
    SELECT indicator_no, series_no, period_no,
           rank() OVER (PARTITION BY indicator_no, period_no ORDER BY value DESC) AS national_rank,
           1 + floor(10 * (rank() OVER (PARTITION BY indicator_no, period_no ORDER BY value ASC) - 1)
                     / count(*) OVER (PARTITION BY indicator_no, period_no)) AS national_decile
    FROM indicator_valued WHERE level_no = 0 AND value IS NOT NULL""",
    # comparators: the value of the row's cluster, HSCP, board and Scotland in the same period
    """CREATE OR REPLACE TEMP TABLE indicator_scored AS
    SELECT v.*, k.national_rank, k.national_decile,
           CASE WHEN v.level_no = 0 THEN c.value END AS cluster_value,
           CASE WHEN v.level_no <= 1 THEN h.value END AS hscp_value,
           CASE WHEN v.level_no <= 2 THEN b.value END AS board_value,
           s.value AS scotland_value
    FROM indicator_valued v
    LEFT JOIN indicator_rank k USING (indicator_no, series_no, period_no)
    LEFT JOIN indicator_area_value c ON c.indicator_no = v.indicator_no AND c.period_no = v.period_no
         AND c.area_no = v.cluster_area
    LEFT JOIN indicator_area_value h ON h.indicator_no = v.indicator_no AND h.period_no = v.period_no
         AND h.area_no = v.hscp_area
    LEFT JOIN indicator_area_value b ON b.indicator_no = v.indicator_no AND b.period_no = v.period_no
         AND b.area_no = v.board_area
    LEFT JOIN indicator_area_value s ON s.indicator_no = v.indicator_no AND s.period_no = v.period_no
         AND s.level_no = 4""",
]

# Codes are joined back from indicator_area; statistics come back as int8 codes into bound label lists.
_RESULT_SQL = """
SELECT s.indicator_id, s.version, s.period, list_extract($levels, s.level_no + 1) AS level,
       a.area_code, ac.area_code AS cluster_id, ah.area_code AS hscp_code, ab.area_code AS board_code,
       s.numerator, s.denominator, s.numerator_date, s.denominator_date, n.note, s.value,
       t.lower95, t.upper95, t.lower998, t.upper998, t.expected, t.z_score,
       s.cluster_value, s.hscp_value, s.board_value, s.scotland_value,
       list_extract($funnel, t.funnel_scotland + 1) AS funnel_scotland,
       list_extract($funnel, t.funnel_hscp + 1) AS funnel_hscp,
       list_extract($signals, t.spc_signal + 1) AS spc_signal,
       list_extract($rules, t.spc_rule + 1) AS spc_rule,
       s.national_rank::INTEGER AS national_rank, s.national_decile::INTEGER AS national_decile
FROM indicator_scored s
JOIN indicator_statistics t USING (indicator_no, series_no, period_no)
JOIN indicator_area a ON a.area_no = s.area_no
LEFT JOIN indicator_area ac ON ac.area_no = s.cluster_area
LEFT JOIN indicator_area ah ON ah.area_no = s.hscp_area
LEFT JOIN indicator_area ab ON ab.area_no = s.board_area
LEFT JOIN indicator_note n ON n.indicator_no = s.indicator_no AND n.period = s.period AND n.area_no = s.area_no
"""
_LABEL_PARAMS = {"levels": list(LEVELS), "funnel": list(FUNNEL_LABELS), "signals": list(SPC_SIGNALS),
                 "rules": list(SPC_RULES)}
_FLOAT_INPUTS = ("numerator", "denominator", "value", "expected", "hscp_value", "scotland_value")
_TEMP_TABLES = ("indicator_base", "indicator_rolled", "indicator_meta", "indicator_area", "indicator_area_parent",
                "indicator_note", "indicator_valued",
                "indicator_area_value", "indicator_rank", "indicator_scored", "indicator_statistics",
                "indicator_practice_period", "practice_period", "indicator_model")


@dataclass(frozen=True)
class ComputeSummary:
    """What a compute run wrote."""

    indicators: int
    rows: int
    periods: int


def _meta_frame(definitions: list[Definition]) -> pd.DataFrame:
    return pd.DataFrame({
        "indicator_no": range(len(definitions)),
        "indicator_id": [d.id for d in definitions],
        "version": [d.version for d in definitions],
        "measure_type": [d.measure_type for d in definitions],
        "multiplier": [float(d.multiplier) for d in definitions],
        "level_nos": [[LEVELS.index(level) for level in d.levels] for d in definitions],
    })


def _build_base(con: duckdb.DuckDBPyConnection, definitions: list[Definition]) -> None:
    """Stack every definition's per-practice rows into indicator_base with one statement."""
    queries = [base_query(d, number) for number, d in enumerate(definitions)]
    try:
        con.execute("CREATE OR REPLACE TEMP TABLE indicator_base AS "
                    + " UNION ALL ".join(f"({q.sql})" for q in queries),
                    [p for q in queries for p in q.params])
    except duckdb.Error:
        for definition, query in zip(definitions, queries, strict=True):  # find the culprit for the message
            try:
                con.execute(f"SELECT count(*) FROM ({query.sql})", query.params)
            except duckdb.Error as exc:
                raise UserError(f"{definition.path}: numerator/denominator query failed: {exc}") from exc
        raise


def _plain(name: str, column) -> np.ndarray:
    """A fetched column as a plain array: NULL -> NaN for measures (keys are never NULL)."""
    if np.ma.isMaskedArray(column):
        return column.filled(np.nan) if name in _FLOAT_INPUTS else column.filled(0)
    return np.asarray(column)


def _drop_temp_tables(con: duckdb.DuckDBPyConnection) -> None:
    for table in _TEMP_TABLES:
        con.execute(f"DROP TABLE IF EXISTS temp.{table}")


def _compute_into_temp(con: duckdb.DuckDBPyConnection, definitions: list[Definition]) -> None:
    """Leave indicator_scored and indicator_statistics ready for _RESULT_SQL."""
    if not definitions:
        raise UserError("no indicators to compute")
    ids = [d.id for d in definitions]
    if len(set(ids)) != len(ids):
        raise UserError("two definitions share an id")
    for statement in (PRACTICE_PERIOD_SQL, AREA_SQL, AREA_PARENT_SQL, PRACTICE_AREAS_SQL):
        con.execute(statement)
    _build_base(con, definitions)
    con.execute("CREATE OR REPLACE TEMP TABLE indicator_rolled AS " + ROLLUP_SQL)
    con.register("indicator_meta_frame", _meta_frame(definitions))
    try:
        con.execute("CREATE OR REPLACE TEMP TABLE indicator_meta AS SELECT * FROM indicator_meta_frame")
    finally:
        con.unregister("indicator_meta_frame")
    for step in _STEPS:
        con.execute(step)
    con.execute(NOTE_SQL)
    columns = ", ".join(dict.fromkeys([*_KEY, *INPUT_COLUMNS]))
    fetched = con.execute(f"SELECT {columns} FROM indicator_scored").fetchnumpy()
    cols = {name: _plain(name, fetched[name]) for name in fetched}
    stats, models = compute_statistics(cols, definitions)
    con.register("indicator_statistics_frame", pa.table({**{k: cols[k] for k in _KEY}, **stats}))
    con.register("indicator_model_frame", models)
    try:
        con.execute("CREATE OR REPLACE TEMP TABLE indicator_statistics AS SELECT * FROM indicator_statistics_frame")
        con.execute("CREATE OR REPLACE TEMP TABLE indicator_model AS SELECT * FROM indicator_model_frame")
    finally:
        con.unregister("indicator_statistics_frame")
        con.unregister("indicator_model_frame")


def compute_table(con: duckdb.DuckDBPyConnection, definitions: list[Definition],
                  table: str = "indicator_result") -> int:
    """Compute into a temporary table `table` (RESULT_COLUMNS) on this connection; returns its row count.

    The caller reads it (and may drop it); nothing is written to the warehouse file.
    """
    if not table.isidentifier():
        raise UserError(f"not a table name: {table!r}")
    try:
        _compute_into_temp(con, definitions)
        con.execute(f"CREATE OR REPLACE TEMP TABLE {table} AS {_RESULT_SQL}", _LABEL_PARAMS)
    finally:
        _drop_temp_tables(con)
    return con.execute(f"SELECT count(*) FROM {table}").fetchone()[0]


def compute_frame(con: duckdb.DuckDBPyConnection, definitions: list[Definition]) -> pd.DataFrame:
    """Every indicator for every level and period, with CIs, comparators, funnels, SPC, rank and decile.

    Returns a frame with RESULT_COLUMNS, in no particular order. Nothing is written to the warehouse.
    """
    if not definitions:
        return pd.DataFrame(columns=RESULT_COLUMNS)
    try:
        _compute_into_temp(con, definitions)
        # via Arrow: several times faster than .df() for a million rows of short strings
        frame = con.sql(_RESULT_SQL, params=_LABEL_PARAMS).to_arrow_table().to_pandas(date_as_object=False)
    finally:
        _drop_temp_tables(con)
    for column in ("national_rank", "national_decile"):
        frame[column] = frame[column].astype("Int32")
    return frame


# Columns added to indicator_value after its first release; a warehouse made earlier gains them (NULL)
# before new results are stored, so stored results of other indicators are kept.
_ADDED_COLUMNS = (("numerator_date", "DATE"), ("denominator_date", "DATE"), ("note", "VARCHAR"),
                  ("expected", "DOUBLE"), ("z_score", "DOUBLE"))


def _ensure_results_tables(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(resources.files("gpcluster.indicators").joinpath("results.sql").read_text(encoding="utf-8"))
    present = {r[0] for r in con.execute("SELECT column_name FROM duckdb_columns() WHERE table_name = "
                                         "'indicator_value' AND schema_name = 'main'").fetchall()}
    for column, kind in _ADDED_COLUMNS:
        if column not in present:
            con.execute(f"ALTER TABLE indicator_value ADD COLUMN {column} {kind}")


def _definitions_frame(definitions: list[Definition]) -> pd.DataFrame:
    return pd.DataFrame({
        "indicator_id": [d.id for d in definitions],
        "version": [d.version for d in definitions],
        "title": [d.title for d in definitions],
        "description": [d.description for d in definitions],
        "why_it_matters": [d.why_it_matters for d in definitions],
        "measure_type": [d.measure_type for d in definitions],
        "multiplier": [float(d.multiplier) for d in definitions],
        "unit": [d.unit for d in definitions],
        "polarity": [d.polarity for d in definitions],
        "synthetic": [d.synthetic for d in definitions],
        "definition": [d.text for d in definitions],
    })


_MODEL_SQL = """
INSERT INTO funnel_model
SELECT m.indicator_id, m.version, (DATE '1970-01-01' + CAST(f.period_no AS INTEGER)) AS period,
       list_extract($levels, f.level_no + 1) AS level, f.scale, f.units, f.phi, f.tau2, f.adjusted, f.target
FROM temp.indicator_model f JOIN temp.indicator_meta m USING (indicator_no)
"""


def _store(con: duckdb.DuckDBPyConnection, definitions: list[Definition], values_table: str,
           params: dict | None = None, models: bool = False) -> None:
    """Replace the stored results of these indicators with the rows of `values_table`, in one transaction."""
    _ensure_results_tables(con)
    ids = [d.id for d in definitions]
    con.register("new_definitions", _definitions_frame(definitions))
    try:
        con.execute("BEGIN TRANSACTION")
        con.execute("DELETE FROM indicator_value WHERE list_contains(?, indicator_id)", [ids])
        con.execute(
            "DELETE FROM indicator_definition d USING new_definitions n "
            "WHERE d.indicator_id = n.indicator_id AND d.version = n.version"
        )
        con.execute(
            "INSERT INTO indicator_definition (indicator_id, version, title, description, why_it_matters, "
            "measure_type, multiplier, unit, polarity, synthetic, definition) "
            "SELECT indicator_id, version, title, description, why_it_matters, measure_type, multiplier, "
            "unit, polarity, synthetic, definition FROM new_definitions"
        )
        columns = ", ".join(RESULT_COLUMNS)
        # stored area by area: a page reading one practice's or area's history reads one row group
        con.execute(f"INSERT INTO indicator_value ({columns}) SELECT {columns} FROM {values_table} "
                    "ORDER BY level, area_code, indicator_id, period", params)
        con.execute("DELETE FROM funnel_model WHERE list_contains(?, indicator_id)", [ids])
        if models:
            con.execute(_MODEL_SQL, {"levels": list(LEVELS)})
        con.execute("COMMIT")
    except Exception:
        con.execute("ROLLBACK")
        raise
    finally:
        con.unregister("new_definitions")


def store_results(con: duckdb.DuckDBPyConnection, definitions: list[Definition], frame: pd.DataFrame) -> None:
    """Replace the stored results of these indicators with `frame` (RESULT_COLUMNS), in one transaction."""
    con.register("indicator_values_frame", frame[RESULT_COLUMNS])
    try:
        _store(con, definitions, "indicator_values_frame")
    finally:
        con.unregister("indicator_values_frame")


def compute(con: duckdb.DuckDBPyConnection, definitions: list[Definition]) -> ComputeSummary:
    """Compute the given definitions over the warehouse and store the results (replacing old ones)."""
    try:
        _compute_into_temp(con, definitions)
        rows, periods = con.execute("SELECT count(*), count(DISTINCT period) FROM indicator_scored").fetchone()
        _store(con, definitions, f"({_RESULT_SQL})", _LABEL_PARAMS, models=True)
    finally:
        _drop_temp_tables(con)
    rebuild_quality_notes(con)
    stored = stored_definitions(con)
    rebuild_suppression(con, stored)
    rebuild_signals(con, stored)
    return ComputeSummary(indicators=len(definitions), rows=rows, periods=periods)
