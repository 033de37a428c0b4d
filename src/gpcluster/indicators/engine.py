"""Indicator engine: compute the catalogue for every level and period, then attach the statistics from
gpcluster.stats and store the results with each definition's version.

Pipeline (all indicators, levels and periods at once; temporary tables on the caller's connection): base
rows per practice and period, set-based in DuckDB and fetched once as columns -> the roll-up over the
organisation tree and values by measure type (gpcluster.indicators.rollup, numpy on integer keys) ->
national rank/decile and comparators (gpcluster.indicators.positions) -> CIs, funnels and SPC in numpy via
gpcluster.stats -> codes and labels joined back, and stored, or returned as a frame or record batches.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import partial
from importlib import resources

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa

from gpcluster.errors import UserError
from gpcluster.indicators.compile import (
    AREA_PARENT_SQL,
    AREA_SQL,
    COMPLETE_PRESCRIBING_MONTHS_SQL,
    NOTE_SQL,
    PRACTICE_AREAS_SQL,
    PRACTICE_PERIOD_SQL,
    PRACTICE_POPULATION_SQL,
    Query,
    base_query,
    population_columns,
)
from gpcluster.indicators.definition import LEVELS, Definition, PrescribingSeries
from gpcluster.indicators.positions import comparators, national_positions
from gpcluster.indicators.quality import rebuild_quality_notes
from gpcluster.indicators.rollup import NO_DATE, valued_roll_up
from gpcluster.indicators.statistics import (
    FUNNEL_LABELS,
    NO_CODE,
    SPC_RULES,
    SPC_SIGNALS,
    compute_statistics,
)
from gpcluster.indicators.stored import stored_definitions
from gpcluster.indicators.suppression import rebuild_suppression
from gpcluster.signals import rebuild_signals

RESULT_COLUMNS = [
    "indicator_id", "version", "period", "level", "area_code", "cluster_id", "hscp_code", "board_code",
    "numerator", "denominator", "numerator_date", "denominator_date", "note",
    "value", "lower95", "upper95", "lower998", "upper998", "expected", "z_score",
    "cluster_value", "hscp_value", "board_value", "scotland_value", "funnel_scotland", "funnel_hscp",
    "spc_signal", "spc_rule", "national_rank", "national_decile",
]  # fmt: skip

# What numpy needs of every row (NULL numbers become NaN, NULL areas 0) and the dates, kept as Arrow.
_ROW_COLUMNS = ("indicator_no", "level_no", "area_no", "period_no", "cluster_area", "hscp_area", "board_area",
                "numerator", "denominator", "expected", "case_deprivation", "case_rurality", "value")
_DATE_COLUMNS = ("period", "numerator_date", "denominator_date")
# The base rows as the roll-up reads them (rollup.BASE_COLUMNS): dates as days, NULL numbers NaN, NULL areas
# and case-mix classes 0, NULL dates rollup.NO_DATE.
_BASE_SELECT = (
    "SELECT indicator_no, practice_unique, (period - DATE '1970-01-01')::INTEGER AS period_no, "
    "practice_area::INTEGER AS practice_area, coalesce(cluster_area, 0)::INTEGER AS cluster_area, "
    "coalesce(hscp_area, 0)::INTEGER AS hscp_area, coalesce(board_area, 0)::INTEGER AS board_area, "
    "coalesce(case_deprivation, 0) AS case_deprivation, coalesce(case_rurality, 0) AS case_rurality, "
    "coalesce(numerator, 'NaN'::DOUBLE) AS numerator, coalesce(denominator, 'NaN'::DOUBLE) AS denominator, "
    "coalesce(expected, 'NaN'::DOUBLE) AS expected, usable, "
    f"coalesce(numerator_date - DATE '1970-01-01', {NO_DATE})::INTEGER AS numerator_date, "
    f"coalesce(denominator_date - DATE '1970-01-01', {NO_DATE})::INTEGER AS denominator_date FROM "
)  # area numbers and days as 32-bit integers (rollup._NARROW)
_TEMP_TABLES = ("indicator_population", "indicator_practice_population", "indicator_meta", "indicator_area",
                "indicator_area_parent", "indicator_practice_period", "practice_period", "indicator_model", "indicator_result_chunk")
_STATISTICS = ("lower95", "upper95", "lower998", "upper998", "expected", "z_score")
# Rows written to the warehouse per INSERT: the results are streamed, never held twice in full.
STORE_CHUNK_ROWS = 131_072


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


def _has_prescribing(con: duckdb.DuckDBPyConnection, definitions: list[Definition]) -> bool:
    """Whether any prescribing numerator could have rows (True when unsure, e.g. no prescribing tables)."""
    if not any(isinstance(d.numerator, PrescribingSeries) for d in definitions):
        return True
    try:
        return con.execute(f"SELECT count(*) > 0 FROM ({COMPLETE_PRESCRIBING_MONTHS_SQL})").fetchall()[0][0]
    except duckdb.Error:
        return True


def _base_union(con: duckdb.DuckDBPyConnection, definitions: list[Definition]) -> list[tuple[Definition, Query]]:
    """Every definition's base query (per-practice rows, see compile.base_query), after creating the
    population tables they read."""
    population, columns = population_columns(definitions)
    if population is not None:
        con.execute(population.sql, population.params)
        con.execute(PRACTICE_POPULATION_SQL)  # what base_query reads when given population columns
    # a definition whose numerator has no data at all (no complete quarter of prescribing loaded) has no
    # rows: leaving its query out saves planning sixteen empty prescribing joins
    empty = () if _has_prescribing(con, definitions) else (PrescribingSeries,)
    return [(d, base_query(d, number, columns)) for number, d in enumerate(definitions)
            if not isinstance(d.numerator, empty)] or [(definitions[0], base_query(definitions[0], 0, columns))]


def _stacked(queries: list[tuple[Definition, Query]]) -> Query:
    return Query(" UNION ALL ".join(f"({q.sql})" for _, q in queries), [p for _, q in queries for p in q.params])


def base_statement(con: duckdb.DuckDBPyConnection, definitions: list[Definition]) -> Query:
    """One SELECT stacking every definition's per-practice rows (creates the population tables it reads)."""
    return _stacked(_base_union(con, definitions))


def _base_rows(con: duckdb.DuckDBPyConnection, definitions: list[Definition]) -> dict[str, np.ndarray]:
    """The stacked per-practice rows of every definition, straight to numpy (rollup.BASE_COLUMNS): never
    materialised as a table."""
    queries = _base_union(con, definitions)
    stacked = _stacked(queries)
    try:
        fetched = con.sql(f"{_BASE_SELECT}({stacked.sql})", params=stacked.params).to_arrow_table()
    except duckdb.Error:
        for definition, query in queries:  # find the culprit for the message
            try:
                con.execute(f"SELECT count(*) FROM ({query.sql})", query.params)
            except duckdb.Error as exc:
                raise UserError(f"{definition.path}: numerator/denominator query failed: {exc}") from exc
        raise
    return {name: fetched[name].to_numpy() for name in fetched.column_names}


def _drop_temp_tables(con: duckdb.DuckDBPyConnection) -> None:
    for table in _TEMP_TABLES:
        con.execute(f"DROP TABLE IF EXISTS temp.{table}")


def _positions_in(labels: pa.Array, codes: np.ndarray) -> np.ndarray:
    """Codes as int32 positions in `labels`, NO_CODE as the last label."""
    codes = codes.astype(np.int32, copy=False)
    if codes.size and codes.min() == NO_CODE:
        codes = np.where(codes == NO_CODE, len(labels) - 1, codes).astype(np.int32)
    return codes


def _indices(labels: pa.Array, codes: np.ndarray) -> pa.Array:
    """Codes as Arrow dictionary indices into `labels`, NO_CODE as the last label."""
    return pa.array(_positions_in(labels, codes))


def _categorical(labels: pa.Array, codes: np.ndarray) -> pd.Categorical:
    """A string column as a pandas categorical of `codes` into `labels` (NO_CODE: the last label): its
    categories are the labels it uses, in sorted order, so that it sorts as the strings do; a None label is
    missing."""
    positions = _positions_in(labels, codes)
    used = np.bincount(positions, minlength=len(labels)) > 0
    names = labels.to_pylist()
    categories = sorted({name for name, use in zip(names, used, strict=True) if use and name is not None})
    at = {name: number for number, name in enumerate(categories)}
    recoded = np.array([at.get(name, -1) for name in names], dtype=np.int32)  # unused and None: -1
    # the codes are in range by construction: pandas need not check every row again
    return pd.Categorical.from_codes(recoded[positions], dtype=pd.CategoricalDtype(pd.Index(categories, dtype="str")),
                                     validate=False)


@dataclass
class _Run:
    """One compute run in memory: a numpy column per row attribute (integers for indicators, levels,
    areas and periods; floats with NaN for missing numbers), the dates as Arrow, and what turns integers
    back into ids, codes, notes and labels."""

    definitions: list[Definition]
    cols: dict[str, np.ndarray]
    dates: dict[str, pa.Array]
    area_codes: pa.Array  # area_no -> code (index 0: no area)
    notes: dict[int, str]  # row -> note
    stats: dict[str, np.ndarray]
    models: pd.DataFrame
    rank_rows: np.ndarray
    rank: np.ndarray
    decile: np.ndarray

    @property
    def rows(self) -> int:
        return self.cols["value"].size

    def _labels_and_codes(self) -> dict[str, tuple[pa.Array, np.ndarray]]:
        """The string columns of RESULT_COLUMNS as (labels, one code per row into them, NO_CODE for the last
        label): codes are the run's integers, strings exist only once per label until a column is decoded."""
        cols, defs = self.cols, self.definitions
        note_rows = np.fromiter(self.notes, dtype=np.int64, count=len(self.notes))
        note_codes = np.full(self.rows, len(self.notes), dtype=np.int32)
        note_codes[note_rows] = np.arange(note_rows.size)

        def labelled(name: str, labels) -> tuple[pa.Array, np.ndarray]:
            return pa.array([*labels, None], pa.string()), self.stats[name]  # NO_CODE: the None label

        return {
            "indicator_id": (pa.array([d.id for d in defs], pa.string()), cols["indicator_no"]),
            "version": (pa.array([d.version for d in defs], pa.string()), cols["indicator_no"]),
            "level": (pa.array(LEVELS, pa.string()), cols["level_no"]),
            "area_code": (self.area_codes, cols["area_no"]),
            "cluster_id": (self.area_codes, cols["cluster_area"]),
            "hscp_code": (self.area_codes, cols["hscp_area"]),
            "board_code": (self.area_codes, cols["board_area"]),
            "note": (pa.array([*self.notes.values(), None], pa.string()), note_codes),
            "funnel_scotland": labelled("funnel_scotland", FUNNEL_LABELS),
            "funnel_hscp": labelled("funnel_hscp", FUNNEL_LABELS),
            "spc_signal": labelled("spc_signal", SPC_SIGNALS),
            "spc_rule": labelled("spc_rule", SPC_RULES),
        }

    def _numbers(self) -> dict[str, np.ndarray]:
        """The float columns of RESULT_COLUMNS (NaN where missing or not applicable)."""
        names = ("numerator", "denominator", "value", "cluster_value", "hscp_value", "board_value",
                 "scotland_value")
        return {**{name: self.cols[name] for name in names},
                **{name: self.stats[name] for name in
                   ("lower95", "upper95", "lower998", "upper998", "expected", "z_score")}}

    def _positions(self) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        """national_rank and national_decile as (int32 values, missing mask)."""
        out = {}
        for name, values in (("national_rank", self.rank), ("national_decile", self.decile)):
            full = np.zeros(self.rows, dtype=np.int32)
            full[self.rank_rows] = values
            missing = np.ones(self.rows, dtype=bool)
            missing[self.rank_rows] = False
            out[name] = full, missing
        return out

    def table(self, rows: np.ndarray | None = None) -> pa.Table:
        """RESULT_COLUMNS of `rows` (all rows, in run order, when None) as Arrow, strings dictionary-encoded
        (for DuckDB and record batches)."""
        take = (lambda a: a) if rows is None else (lambda a: a[rows])
        take_arrow = (lambda a: a) if rows is None else (lambda a: a.take(pa.array(rows)))
        columns = {name: pa.DictionaryArray.from_arrays(_indices(labels, take(codes)), labels)
                   for name, (labels, codes) in self._labels_and_codes().items()}
        columns.update({name: take_arrow(self.dates[name]) for name in _DATE_COLUMNS})
        # a missing number is NULL in Arrow (the statistics' NaN as well: DuckDB keeps NaN apart from NULL,
        # and the stored statistics have always been NaN where they do not apply)
        for name, values in self._numbers().items():
            values = take(values)
            columns[name] = pa.array(values) if name in _STATISTICS else pa.array(values, mask=np.isnan(values))
        for name, (values, missing) in self._positions().items():
            columns[name] = pa.array(take(values), mask=take(missing))
        return pa.table({name: columns[name] for name in RESULT_COLUMNS})

    def into_frame(self) -> pd.DataFrame:
        """All RESULT_COLUMNS as pandas, in run order, built column by column: numbers are the run's own
        arrays (no copy through Arrow), strings categoricals of the run's codes (no string is decoded per
        row). Spends the run: it lets go of its columns as they are taken."""
        encoded, numbers, positions, dates = self._labels_and_codes(), self._numbers(), self._positions(), self.dates
        self.cols, self.stats, self.dates = {}, {}, {}
        columns: dict[str, object] = {name: dates.pop(name).to_pandas(date_as_object=False)
                                      for name in _DATE_COLUMNS}
        seen: set[int] = set()
        for name, values in numbers.items():
            # the frame owns its columns and may write to them: no read-only Arrow view, no shared array
            if not values.flags.writeable or not values.flags.owndata or id(values) in seen:
                values = values.copy()
            seen.add(id(values))
            columns[name] = values
        for name, (values, missing) in positions.items():
            columns[name] = pd.arrays.IntegerArray(values, missing)
        columns.update({name: _categorical(*encoded.pop(name)) for name in list(encoded)})
        return pd.DataFrame({name: columns[name] for name in RESULT_COLUMNS}, copy=False)

    def stored_order(self) -> np.ndarray:
        """Rows in the order they are stored: by level (name), area code, indicator id and period."""
        level_rank = np.argsort(np.argsort(np.array(LEVELS)))  # level_no -> position of its name
        id_rank = np.argsort(np.argsort(np.array([d.id for d in self.definitions])))
        cols = self.cols
        # area numbers follow (level_no, area_code), so within a level they follow the code
        return np.lexsort((cols["period_no"], id_rank[cols["indicator_no"]], cols["area_no"],
                           level_rank[cols["level_no"]]))


def area_lookups(con: duckdb.DuckDBPyConnection) -> tuple[pa.Array, int, np.ndarray, np.ndarray]:
    """From indicator_area and indicator_area_parent: each area number's code, Scotland's area number, and by
    area number the home HSCP and board of a cluster (the board of an HSCP), 0 where there is none."""
    areas = con.execute("SELECT area_no, level_no, area_code FROM indicator_area ORDER BY area_no").fetchnumpy()
    top = int(areas["area_no"].max(initial=0)) + 1
    codes = np.full(top, None, dtype=object)
    codes[areas["area_no"]] = areas["area_code"]
    scotland = areas["area_no"][areas["level_no"] == LEVELS.index("scotland")]
    parent = con.execute("SELECT area_no, coalesce(hscp_area, 0) AS hscp_area, coalesce(board_area, 0) AS board_area "
                         "FROM indicator_area_parent").fetchnumpy()
    hscp_of, board_of = np.zeros(top, dtype=np.int64), np.zeros(top, dtype=np.int64)
    hscp_of[parent["area_no"]], board_of[parent["area_no"]] = parent["hscp_area"], parent["board_area"]
    return pa.array(codes, pa.string()), int(scotland[0]) if scotland.size else 0, hscp_of, board_of


def base_rows(con: duckdb.DuckDBPyConnection, table: str) -> dict[str, np.ndarray]:
    """rollup.BASE_COLUMNS of a table of stacked base rows (as base_statement gives them)."""
    fetched = con.sql(_BASE_SELECT + table).to_arrow_table()
    return {name: fetched[name].to_numpy() for name in fetched.column_names}


def _compute(con: duckdb.DuckDBPyConnection, definitions: list[Definition]) -> _Run:
    """Fetch every definition's per-practice rows from DuckDB in one statement, then roll up, value, rank,
    compare and attach the statistics in numpy. Leaves only indicator_model and indicator_meta on the
    connection (for storing)."""
    if not definitions:
        raise UserError("no indicators to compute")
    ids = [d.id for d in definitions]
    if len(set(ids)) != len(ids):
        raise UserError("two definitions share an id")
    for statement in (PRACTICE_PERIOD_SQL, AREA_SQL, AREA_PARENT_SQL, PRACTICE_AREAS_SQL):
        con.execute(statement)
    base = _base_rows(con, definitions)
    for table in ("indicator_population", "indicator_practice_population"):
        con.execute(f"DROP TABLE IF EXISTS temp.{table}")
    con.register("indicator_meta_frame", _meta_frame(definitions))
    try:
        con.execute("CREATE OR REPLACE TEMP TABLE indicator_meta AS SELECT * FROM indicator_meta_frame")
    finally:
        con.unregister("indicator_meta_frame")
    codes, scotland_area, hscp_of, board_of = area_lookups(con)
    rows = valued_roll_up(base, definitions, scotland_area, hscp_of, board_of)
    del base
    cols = {name: rows.pop(name) for name in _ROW_COLUMNS}
    dates = {"period": _dates(cols["period_no"]),
             **{name: _dates(rows.pop(name)) for name in ("numerator_date", "denominator_date")}}
    del rows
    cols["series_no"] = cols["area_no"]
    cols.update(comparators(cols, scotland_area))
    rank_rows, rank, decile = national_positions(cols)
    notes = _notes(con, cols, definitions)
    stats, models = compute_statistics(cols, definitions)
    con.register("indicator_model_frame", models)
    try:
        con.execute("CREATE OR REPLACE TEMP TABLE indicator_model AS SELECT * FROM indicator_model_frame")
    finally:
        con.unregister("indicator_model_frame")
    return _Run(definitions, cols, dates, codes, notes, stats, models, rank_rows, rank, decile)


def _dates(days: np.ndarray) -> pa.Array:
    """Days since 1970-01-01 (rollup.NO_DATE: missing) as an Arrow date array."""
    return pa.array(days.astype(np.int32), mask=days == NO_DATE).view(pa.date32())


def _notes(con: duckdb.DuckDBPyConnection, cols: dict[str, np.ndarray],
           definitions: list[Definition]) -> dict[int, str]:
    """Row -> note, for the few rows that carry one: the practice rows of 'change' indicators in a period
    with a practice event."""
    change = [number for number, d in enumerate(definitions) if d.measure_type == "change"]
    if not change:
        return {}
    found = con.execute(NOTE_SQL).fetchall()
    if not found:
        return {}
    wanted = {(int(p), int(a)): note for p, a, note in found}
    at = np.flatnonzero(np.isin(cols["area_no"], [a for _, a in wanted]) & (cols["level_no"] == 0)
                        & np.isin(cols["indicator_no"], change))
    return {int(r): wanted[key] for r in at
            if (key := (int(cols["period_no"][r]), int(cols["area_no"][r]))) in wanted}


def compute_table(con: duckdb.DuckDBPyConnection, definitions: list[Definition],
                  table: str = "indicator_result") -> int:
    """Compute into a temporary table `table` (RESULT_COLUMNS) on this connection; returns its row count.

    The caller reads it (and may drop it); nothing is written to the warehouse file.
    """
    if not table.isidentifier():
        raise UserError(f"not a table name: {table!r}")
    try:
        run = _compute(con, definitions)
        con.register("indicator_result_chunk", run.table(np.empty(0, dtype=np.int64)))
        try:
            con.execute(f"CREATE OR REPLACE TEMP TABLE {table} AS SELECT {', '.join(RESULT_COLUMNS)} "
                        "FROM indicator_result_chunk")
        finally:
            con.unregister("indicator_result_chunk")
        _insert_chunks(con, run, f"temp.{table}", np.arange(run.rows))
    finally:
        _drop_temp_tables(con)
    return run.rows


def compute_frame(con: duckdb.DuckDBPyConnection, definitions: list[Definition]) -> pd.DataFrame:
    """Every indicator for every level and period, with CIs, comparators, funnels, SPC, rank and decile.

    Returns a frame with RESULT_COLUMNS, in no particular order; its string columns are categoricals
    (categories in sorted order, so they sort as strings; missing is NaN: decode with astype("str") before
    filling). Nothing is written to the warehouse.
    """
    if not definitions:
        return pd.DataFrame(columns=RESULT_COLUMNS)
    try:
        run = _compute(con, definitions)
    finally:
        _drop_temp_tables(con)
    return run.into_frame()


def compute_batches(con: duckdb.DuckDBPyConnection, definitions: list[Definition],
                    rows: int = STORE_CHUNK_ROWS) -> Iterator[pa.RecordBatch]:
    """The rows of compute_frame as Arrow record batches of at most `rows` rows, in stored order (level,
    area code, indicator id, period), strings dictionary-encoded (a dictionary may hold a null entry: cast
    a column to its value type to decode it). Nothing is written to the warehouse.

    For consumers that can take the catalogue a batch at a time (a file, another store, a running
    aggregate): only the run's numbers are held, never the whole result with its strings at once.
    """
    if not definitions:
        return
    try:
        run = _compute(con, definitions)
    finally:
        _drop_temp_tables(con)
    order = run.stored_order()
    for first in range(0, order.size, rows):
        yield from run.table(order[first:first + rows]).to_batches()


def _insert_chunks(con: duckdb.DuckDBPyConnection, run: _Run, target: str, order: np.ndarray) -> None:
    """Append the rows of `run` to `target` in `order`, STORE_CHUNK_ROWS at a time."""
    columns = ", ".join(RESULT_COLUMNS)
    for first in range(0, max(order.size, 1), STORE_CHUNK_ROWS):
        con.register("indicator_result_chunk", run.table(order[first:first + STORE_CHUNK_ROWS]))
        try:
            con.execute(f"INSERT INTO {target} ({columns}) SELECT {columns} FROM indicator_result_chunk")
        finally:
            con.unregister("indicator_result_chunk")


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


def _store(con: duckdb.DuckDBPyConnection, definitions: list[Definition], insert_values: Callable[[], None],
           models: bool = False) -> None:
    """Replace the stored results of these indicators with the rows `insert_values` appends to
    indicator_value, in one transaction."""
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
        insert_values()
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
    columns = ", ".join(RESULT_COLUMNS)
    con.register("indicator_values_frame", frame[RESULT_COLUMNS])
    try:
        # stored area by area: a page reading one practice's or area's history reads one row group
        _store(con, definitions, lambda: con.execute(
            f"INSERT INTO indicator_value ({columns}) SELECT {columns} FROM indicator_values_frame "
            "ORDER BY level, area_code, indicator_id, period"))
    finally:
        con.unregister("indicator_values_frame")


def compute(con: duckdb.DuckDBPyConnection, definitions: list[Definition]) -> ComputeSummary:
    """Compute the given definitions over the warehouse and store the results (replacing old ones)."""
    try:
        run = _compute(con, definitions)
        periods = int(np.unique(run.cols["period_no"]).size)
        # stored area by area (level, area code, indicator, period), streamed in chunks: a page reading
        # one practice's or area's history reads one row group
        _store(con, definitions, partial(_insert_chunks, con, run, "indicator_value", run.stored_order()),
               models=True)
        rows = run.rows
    finally:
        _drop_temp_tables(con)
    rebuild_quality_notes(con)
    stored = stored_definitions(con)
    rebuild_suppression(con, stored)
    rebuild_signals(con, stored)
    return ComputeSummary(indicators=len(definitions), rows=rows, periods=periods)
