"""An Apache Spark engine for the same indicator definitions, for data that outgrows one machine
(multi-year national prescribing, or UK scale: England publishes about 18 million rows a month).

Only the set-based part is engine-specific: each definition's per-practice base rows, values by measure
type, national rank and decile, and the comparators. The roll-up over the organisation tree is the DuckDB
engine's own GROUPING SETS query (gpcluster.indicators.compile.ROLLUP_SQL), which is also Spark SQL. The
statistics (confidence intervals, funnels, SPC) are gpcluster.indicators.statistics' compute_statistics,
exactly as in the DuckDB engine, so both engines give the same results (tested).

The warehouse tables a run needs are exported to Parquet (by DuckDB) in a working folder Spark reads; on
a cluster that folder must be on storage every executor can reach (the ``spark_work_dir`` setting).
Definition values reach Spark as DataFrame literals and joined tables, never as SQL text. The ``sql``
series kind is DuckDB SQL; it, GP headcount placement, 'change' measures and indirect standardisation are
refused here (check_supported) and stay with the DuckDB engine.
"""

from __future__ import annotations

import shutil
import tempfile
import warnings
from functools import reduce
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd

from gpcluster import config
from gpcluster.errors import UserError
from gpcluster.indicators.compile import ROLLUP_SQL, SCOTLAND_CODE
from gpcluster.indicators.definition import (
    LEVELS,
    ActivitySeries,
    Definition,
    PopulationSeries,
    PracticeAttributeSeries,
    PrescribingSeries,
    WeightedPopulationSeries,
)
from gpcluster.indicators.engine import RESULT_COLUMNS
from gpcluster.indicators.statistics import (
    FUNNEL_LABELS,
    INPUT_COLUMNS,
    SPC_RULES,
    SPC_SIGNALS,
    compute_statistics,
    decode,
)
from gpcluster.prescribing.bnf import FIRST_APPLIANCE_CHAPTER, GENERIC_PRODUCT, prefix_ranges

# Tables a run reads, exported from the warehouse. practice_period is the evaluated view.
_EXPORTS = {
    "practice_period": "SELECT * FROM practice_period",
    "list_population": "SELECT * FROM list_population",
    "practice_activity": "SELECT * FROM practice_activity",
    "prescribing": "SELECT month, practice_code, bnf_code, items, quantity, cost FROM prescribing",
    "prescribing_practice_total": "SELECT * FROM prescribing_practice_total",
    "prescribing_month": "SELECT month FROM prescribing_month",
    "cluster": "SELECT cluster_id, hscp_code FROM cluster",
    "hscp": "SELECT hscp_code, board_code FROM hscp",
}

# The DuckDB engine's AREA_PARENT_SQL as a Spark SELECT: a cluster's HSCP and board comparators are those of
# its home HSCP; an HSCP's board is the one it belongs to.
AREA_PARENT_SQL = """
SELECT a.area_no, h.area_no AS hscp_area, b.area_no AS board_area
FROM indicator_area a
JOIN cluster c ON a.level_no = 1 AND c.cluster_id = a.area_code
LEFT JOIN hscp hs ON hs.hscp_code = c.hscp_code
LEFT JOIN indicator_area h ON h.level_no = 2 AND h.area_code = c.hscp_code
LEFT JOIN indicator_area b ON b.level_no = 3 AND b.area_code = hs.board_code
UNION ALL
SELECT a.area_no, NULL, b.area_no
FROM indicator_area a
JOIN hscp hs ON a.level_no = 2 AND hs.hscp_code = a.area_code
LEFT JOIN indicator_area b ON b.level_no = 3 AND b.area_code = hs.board_code
"""

VALUED_SQL = """
SELECT r.*, r.area_no AS series_no, datediff(r.period, DATE '1970-01-01') AS period_no,
       CASE WHEN NOT r.usable THEN NULL WHEN m.measure_type = 'count' THEN r.numerator
            ELSE r.numerator / r.denominator * m.multiplier END AS value
FROM indicator_rolled r JOIN indicator_meta m ON m.indicator_no = r.indicator_no
WHERE array_contains(m.level_nos, r.level_no)
"""

SCORED_SQL = """
WITH area_value AS (SELECT indicator_no, period_no, level_no, area_no, value FROM indicator_valued WHERE level_no > 0),
ranked AS (
    SELECT indicator_no, series_no, period_no,
           rank() OVER (PARTITION BY indicator_no, period_no ORDER BY value DESC) AS national_rank,
           1 + floor(10 * (rank() OVER (PARTITION BY indicator_no, period_no ORDER BY value ASC) - 1)
                     / count(*) OVER (PARTITION BY indicator_no, period_no)) AS national_decile
    FROM indicator_valued WHERE level_no = 0 AND value IS NOT NULL
)
SELECT v.*, k.national_rank, k.national_decile,
       CASE WHEN v.level_no = 0 THEN c.value END AS cluster_value,
       CASE WHEN v.level_no <= 1 THEN h.value END AS hscp_value,
       CASE WHEN v.level_no <= 2 THEN b.value END AS board_value,
       s.value AS scotland_value
FROM indicator_valued v
LEFT JOIN ranked k ON k.indicator_no = v.indicator_no AND k.series_no = v.series_no AND k.period_no = v.period_no
LEFT JOIN area_value c ON c.indicator_no = v.indicator_no AND c.period_no = v.period_no AND c.area_no = v.cluster_area
LEFT JOIN area_value h ON h.indicator_no = v.indicator_no AND h.period_no = v.period_no AND h.area_no = v.hscp_area
LEFT JOIN area_value b ON b.indicator_no = v.indicator_no AND b.period_no = v.period_no AND b.area_no = v.board_area
LEFT JOIN area_value s ON s.indicator_no = v.indicator_no AND s.period_no = v.period_no AND s.level_no = 4
"""


def spark_session(master: str | None = None):
    """A Spark session on `master` (default: the spark_master setting; local[*] when empty)."""
    from pyspark.sql import SparkSession

    builder = (SparkSession.builder.appName("gpcluster").master(master or config.get("spark_master") or "local[*]")
               .config("spark.sql.session.timeZone", "UTC")
               .config("spark.sql.shuffle.partitions", str(config.get("spark_shuffle_partitions")))
               .config("spark.driver.memory", "2g")
               .config("spark.sql.autoBroadcastJoinThreshold", str(64 * 1024 * 1024))
               .config("spark.ui.enabled", "false")
               .config("spark.ui.showConsoleProgress", "false"))
    session = builder.getOrCreate()
    session.sparkContext.setLogLevel("ERROR")
    return session


def _export(con: duckdb.DuckDBPyConnection, folder: Path) -> None:
    for name, query in _EXPORTS.items():
        con.execute(f"COPY ({query}) TO '{folder / name}.parquet' (FORMAT parquet)")  # folder is ours, not input
    con.execute(f"COPY (SELECT bnf_code, description, is_generic FROM bnf_hierarchy) "
                f"TO '{folder / 'bnf'}.parquet' (FORMAT parquet)")


class _SparkRun:
    def __init__(self, spark, folder: Path, con: duckdb.DuckDBPyConnection):
        from pyspark.sql import functions as F

        self.F, self.spark, self.con = F, spark, con
        self.t = {name: spark.read.parquet(str(folder / f"{name}.parquet")) for name in (*_EXPORTS, "bnf")}
        self._bnf = con.execute("SELECT bnf_code, description, is_generic FROM bnf_hierarchy").fetchall()

    def series(self, series):
        """A DataFrame (period, practice_code, value) for one series, like compile.series_query."""
        F, t = self.F, self.t
        if isinstance(series, PopulationSeries):
            rows = t["list_population"].where((F.col("sex") == F.lit(series.sex))
                                              & F.col("age_band").isin(list(series.age_bands)))
            return rows.groupBy(F.col("release_date").alias("period"), "practice_code").agg(
                F.sum("population").cast("double").alias("value"))
        if isinstance(series, WeightedPopulationSeries):
            weights = self.spark.createDataFrame(
                [(sex, band, float(w)) for sex, bands in series.weights.items() for band, w in bands.items()],
                "sex string, age_band string, weight double")
            rows = t["list_population"].join(weights, ["sex", "age_band"])
            return rows.groupBy(F.col("release_date").alias("period"), "practice_code").agg(
                F.sum(F.col("population") * F.col("weight")).cast("double").alias("value"))
        if isinstance(series, PracticeAttributeSeries):
            p, column = t["practice_period"], F.col(series.attribute)
            p = p.where(column.isNotNull() & F.col("list_size").isNotNull())
            value = (F.col("list_size") * column) if series.equals is None else \
                F.when(column == F.lit(series.equals), F.col("list_size")).otherwise(F.lit(0))
            return p.select(F.col("release_date").alias("period"), "practice_code", value.cast("double").alias("value"))
        if isinstance(series, ActivitySeries):
            rows = t["practice_activity"].where(F.col("measure") == F.lit(series.measure))
            return rows.select("period", "practice_code", F.col("value").cast("double").alias("value"))
        if isinstance(series, PrescribingSeries):
            return self._prescribing(series)
        raise UserError(f"the Spark engine cannot run {series.kind!r} series; use the DuckDB engine")

    def _prescribing(self, series: PrescribingSeries):
        F, t = self.F, self.t
        quarter = F.date_trunc("quarter", F.col("month")).cast("date")
        months = t["prescribing_month"].withColumn("q", quarter)
        complete = months.groupBy("q").agg(F.countDistinct("month").alias("n")).where(F.col("n") == 3)
        good = months.join(complete, "q", "left_semi").select("month")
        column = series.value  # closed list: items | quantity | cost
        totals = (t["prescribing_practice_total"].join(good, "month", "left_semi")
                  .groupBy(quarter.alias("period"), "practice_code")
                  .agg(F.sum(column).cast("double").alias("value")))
        selections = series.selections()
        if len(selections) == 1 and selections[0].selects_everything:
            return totals
        rows = t["prescribing"]
        if all(s.by_code_only for s in selections):  # code ranges: Parquet row groups outside them are skipped
            rows = rows.where(self._code_filter(selections))
        else:
            codes = sorted({code for code, description, _ in self._bnf
                            if any(s.matches(code, description or "") for s in selections)})
            chosen = self.spark.createDataFrame([(c,) for c in codes], "bnf_code string")
            rows = rows.join(F.broadcast(chosen), "bnf_code", "left_semi")
        by_month = rows.groupBy("month", "practice_code").agg(F.sum(column).cast("double").alias("s"))
        selected = by_month.groupBy(quarter.alias("period"), "practice_code").agg(F.sum("s").alias("s"))
        return (totals.join(selected, ["period", "practice_code"], "left")
                .select("period", "practice_code", F.coalesce(F.col("s"), F.lit(0.0)).alias("value")))

    def _code_filter(self, selections):
        """The rule of gpcluster.prescribing.bnf.code_selection_sql as a Spark column expression."""
        F, code = self.F, self.F.col("bnf_code")

        def in_ranges(prefixes):
            tests = [(code >= F.lit(low)) & (code < F.lit(high)) for low, high in prefix_ranges(prefixes)]
            return reduce(lambda a, b: a | b, tests)

        parts = []
        for s in selections:
            test = F.lit(True)
            if s.include:
                test = test & in_ranges(s.include)
            if s.exclude:
                test = test & ~in_ranges(s.exclude)
            if s.generic is not None:
                drug = (F.length(code) == 15) & (F.substring(code, 1, 2) < F.lit(FIRST_APPLIANCE_CHAPTER))
                test = test & drug & ((F.substring(code, 10, 2) == F.lit(GENERIC_PRODUCT)) == F.lit(s.generic))
            parts.append(test)
        return reduce(lambda a, b: a | b, parts)

    def base(self, definition: Definition, number: int, areas):
        F = self.F
        num = self.series(definition.numerator).withColumnRenamed("value", "numerator")
        rows = areas.join(num, (areas.release_date == num.period) & (areas.practice_code == num.practice_code)) \
            .drop(num.practice_code).drop("period")
        if definition.denominator is not None:
            den = self.series(definition.denominator).withColumnRenamed("value", "denominator")
            rows = rows.join(den, (rows.release_date == den.period) & (rows.practice_code == den.practice_code),
                             "left").drop(den.practice_code).drop("period")
            usable = F.col("numerator").isNotNull() & F.col("denominator").isNotNull() & (F.col("denominator") > 0)
        else:
            rows = rows.withColumn("denominator", F.lit(None).cast("double"))
            usable = F.col("numerator").isNotNull()
        return rows.select(F.lit(number).cast("int").alias("indicator_no"), F.col("release_date").alias("period"),
                           "practice_area", "cluster_area", "hscp_area", "board_area", "case_deprivation",
                           "case_rurality", "numerator", "denominator",
                           F.coalesce(usable, F.lit(False)).alias("usable"),
                           # no series Spark runs is dated, and none has expected counts (refused above)
                           F.lit(None).cast("date").alias("numerator_date"),
                           F.lit(None).cast("date").alias("denominator_date"),
                           F.lit(None).cast("double").alias("expected"))


def compute_frame_spark(con: duckdb.DuckDBPyConnection, definitions: list[Definition], spark=None,
                        work_dir: Path | str | None = None) -> pd.DataFrame:
    """Every indicator for every level and period, computed on Spark, with the same columns (RESULT_COLUMNS)
    and values as gpcluster.indicators.engine.compute_frame."""
    if not definitions:
        return pd.DataFrame(columns=RESULT_COLUMNS)
    spark = spark or spark_session()
    root = Path(work_dir or config.get("spark_work_dir") or tempfile.gettempdir())
    root.mkdir(parents=True, exist_ok=True)
    folder = Path(tempfile.mkdtemp(prefix="gpcluster-spark-", dir=root))
    try:
        _export(con, folder)
        with warnings.catch_warnings():  # pyspark warns that it has not yet certified pandas 3
            warnings.filterwarnings("ignore", category=FutureWarning, module="pyspark")
            return _compute(spark, con, folder, definitions)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _areas(run: _SparkRun):
    """indicator_area (area_no by level and code, as in the DuckDB engine) and the practices' area numbers."""
    F, p = run.F, run.t["practice_period"]
    levels = [(0, "practice_code"), (1, "cluster_id"), (2, "hscp_code"), (3, "board_code")]
    parts = [p.where(F.col(c).isNotNull()).select(F.lit(n).alias("level_no"), F.col(c).alias("area_code")).distinct()
             for n, c in levels]
    scotland = run.spark.createDataFrame([(4, SCOTLAND_CODE)], "level_no int, area_code string")
    union = parts[0]
    for part in [*parts[1:], scotland]:
        union = union.unionByName(part)
    run.spark.createDataFrame(union.toPandas()).createOrReplaceTempView("area_codes")
    area = run.spark.sql("SELECT row_number() OVER (ORDER BY level_no, area_code) AS area_no, level_no, area_code "
                         "FROM area_codes")
    area = run.spark.createDataFrame(area.toPandas())  # small: fixed once so every join sees the same numbers
    area.createOrReplaceTempView("indicator_area")
    practice_areas = p.select("release_date", "practice_code", "cluster_id", "hscp_code", "board_code",
                              F.col("simd_quintile").alias("case_deprivation"),
                              F.coalesce(F.col("urban_rural_8"), F.col("urban_rural_6")).alias("case_rurality"))
    for n, column, alias in ((0, "practice_code", "practice_area"), (1, "cluster_id", "cluster_area"),
                             (2, "hscp_code", "hscp_area"), (3, "board_code", "board_area")):
        lookup = area.where(F.col("level_no") == n).select(F.col("area_code").alias(column), F.col("area_no").alias(alias))
        practice_areas = practice_areas.join(lookup, column, "inner" if n == 0 else "left")
    return area, practice_areas.select("release_date", "practice_code", "practice_area", "cluster_area",
                                       "hscp_area", "board_area", "case_deprivation", "case_rurality")


def check_supported(definitions: list[Definition]) -> None:
    """Refuse, all at once, what the Spark engine does not run: DuckDB SQL series, headcount placement,
    'change' measures and indirect standardisation (use the DuckDB engine for those)."""
    problems = []
    for d in definitions:
        kinds = {s.kind for s in (d.numerator, d.denominator) if s is not None}
        if kinds & {"sql", "gp_headcount"}:
            problems.append(f"{d.id}: {', '.join(sorted(kinds & {'sql', 'gp_headcount'}))} series")
        if d.measure_type == "change":
            problems.append(f"{d.id}: measure type 'change'")
        if d.expected is not None:
            problems.append(f"{d.id}: expected counts (indirect standardisation)")
    if problems:
        raise UserError("the Spark engine cannot compute " + "; ".join(problems) + ": use the DuckDB engine")


def _compute(spark, con, folder: Path, definitions: list[Definition]) -> pd.DataFrame:
    ids = [d.id for d in definitions]
    if len(set(ids)) != len(ids):
        raise UserError("two definitions share an id")
    check_supported(definitions)
    run = _SparkRun(spark, folder, con)
    for name in ("cluster", "hscp"):
        run.t[name].createOrReplaceTempView(name)
    area, practice_areas = _areas(run)
    spark.sql(AREA_PARENT_SQL).createOrReplaceTempView("indicator_area_parent")
    practice_areas = practice_areas.cache()
    bases = [run.base(d, n, practice_areas) for n, d in enumerate(definitions)]
    base = bases[0]
    for more in bases[1:]:
        base = base.unionByName(more)
    base.localCheckpoint().createOrReplaceTempView("indicator_base")  # cut the plan before the roll-up
    spark.sql(ROLLUP_SQL).createOrReplaceTempView("indicator_rolled")
    meta = pd.DataFrame({"indicator_no": range(len(definitions)),
                         "measure_type": [d.measure_type for d in definitions],
                         "multiplier": [float(d.multiplier) for d in definitions],
                         "level_nos": [[LEVELS.index(level) for level in d.levels] for d in definitions]})
    spark.createDataFrame(meta).createOrReplaceTempView("indicator_meta")
    spark.sql(VALUED_SQL).createOrReplaceTempView("indicator_valued")
    scored = spark.sql(SCORED_SQL).toPandas()
    return _finish(scored, area.toPandas(), definitions)


_FLOATS = ("numerator", "denominator", "value", "expected", "hscp_value", "scotland_value")


def _finish(scored: pd.DataFrame, area: pd.DataFrame, definitions: list[Definition]) -> pd.DataFrame:
    """Statistics from compute_statistics, codes joined back: the DuckDB engine's result frame."""
    def floats(name: str) -> np.ndarray:
        return pd.to_numeric(scored[name], errors="coerce").to_numpy(dtype=float)

    # as the DuckDB engine hands them over: NULL measures are NaN, NULL keys and case-mix groups 0
    cols = {name: floats(name) if name in _FLOATS
            else pd.to_numeric(scored[name], errors="coerce").fillna(0).to_numpy(dtype=np.int64)
            for name in dict.fromkeys(["indicator_no", "series_no", "period_no", *INPUT_COLUMNS])}
    stats, _ = compute_statistics(cols, definitions)
    code = dict(zip(area["area_no"], area["area_code"], strict=True))

    def codes(column: str) -> list:
        return [code.get(int(v)) if pd.notna(v) else None for v in scored[column]]

    out = pd.DataFrame({
        "indicator_id": [definitions[i].id for i in cols["indicator_no"]],
        "version": [definitions[i].version for i in cols["indicator_no"]],
        "period": pd.to_datetime(scored["period"]).astype("datetime64[us]"),
        "level": [LEVELS[i] for i in cols["level_no"]],
        "area_code": codes("area_no"), "cluster_id": codes("cluster_area"), "hscp_code": codes("hscp_area"),
        "board_code": codes("board_area"),
        "numerator": cols["numerator"], "denominator": cols["denominator"],
        "numerator_date": None, "denominator_date": None, "note": None, "value": cols["value"],
        "lower95": stats["lower95"], "upper95": stats["upper95"], "lower998": stats["lower998"],
        "upper998": stats["upper998"], "expected": stats["expected"], "z_score": stats["z_score"],
        "cluster_value": floats("cluster_value"), "hscp_value": cols["hscp_value"],
        "board_value": floats("board_value"), "scotland_value": cols["scotland_value"],
        "funnel_scotland": decode(stats["funnel_scotland"], FUNNEL_LABELS),
        "funnel_hscp": decode(stats["funnel_hscp"], FUNNEL_LABELS),
        "spc_signal": decode(stats["spc_signal"], SPC_SIGNALS), "spc_rule": decode(stats["spc_rule"], SPC_RULES),
        "national_rank": pd.array(scored["national_rank"], dtype="Int32"),
        "national_decile": pd.array(scored["national_decile"], dtype="Int32"),
    })
    return out[RESULT_COLUMNS]
