"""Benchmark: the whole indicator catalogue, every level and period of the synthetic history, with all
statistics; against a straightforward pandas implementation of the same computation, in the same run.

    .venv/bin/python benchmarks/bench_indicators.py [--seed N] [--repeat 3] [--keep DIR] [--scale K]
                                                    [--skip-baseline] [--frame-only]

Builds the synthetic Scotland (about 930 practices x 36 quarters; with --scale K, K synthetic Scotlands side
by side: 8 is about England) in a temporary warehouse, in a child process so that the peak RSS printed is
the engine's own (not timed), then times:
  * engine (DuckDB):  gpcluster.indicators.engine.compute_table, results in a DuckDB temporary table;
  * engine (frame):   gpcluster.indicators.engine.compute_frame, results as a pandas frame (the figure
                      held to the targets, as the baseline also ends with a pandas frame);
  * engine (batches): gpcluster.indicators.engine.compute_batches, the same rows as Arrow record batches
                      consumed one at a time (timed first, so its peak RSS is its own);
  * engine (stored):  gpcluster.indicators.engine.compute, results written to the warehouse;
  * pandas baseline:  per indicator, merges and one groupby per level, comparators by merge, ranks by
                      groupby-rank, the project's public vectorised CI and funnel functions, and SPC by one
                      pivot and one call of the project's batch XmR per indicator (what a competent analyst
                      would write; no per-series loop).
Both read their inputs from the same warehouse. Targets (issue 12): at 1x, engine (frame) <= 1.5 s wall,
>= 5x faster than the fair pandas baseline and peak RSS <= 600 MB; at 8x, <= 15 s and <= 3 GB. The script
also checks that both give the same values and SPC labels (unless --skip-baseline, for large scales).
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from gpcluster.indicators.compile import SCOTLAND_CODE, series_query
from gpcluster.indicators.definition import LEVELS, Definition, load_catalogue
from gpcluster.indicators.engine import (
    STORE_CHUNK_ROWS,
    compute,
    compute_batches,
    compute_frame,
    compute_table,
)
from gpcluster.stats import ci, funnel, spc

TARGET_SECONDS = 1.5  # per Scotland-worth at 1x; 15 s at 8x (England)
TARGET_SPEEDUP = 5.0
TARGET_RSS_MB = 600  # at 1x; 3 GB at 8x
TARGETS_AT_8X = (15.0, 3072)
IMPROVEMENT = {"higher_is_better": "increase", "higher_is_worse": "decrease", "neither": "neutral"}


def build_warehouse(folder: Path, seed: int, scale: int = 1) -> Path:
    from gpcluster.synthetic import write_synthetic_scotland
    from gpcluster.warehouse import load_sourced

    path = folder / "warehouse.duckdb"
    if not path.exists():
        written = write_synthetic_scotland(folder / "files", seed, scale=scale)
        load_sourced(written, synthetic=True, warehouse=path)
    return path


def build_in_child(folder: Path, seed: int, scale: int) -> Path:
    """build_warehouse in a child process, so this process's peak RSS is the engine's alone."""
    import subprocess

    code = ("import sys; sys.path.insert(0, sys.argv[1]); from pathlib import Path; "
            "from bench_indicators import build_warehouse; "
            "build_warehouse(Path(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]))")
    subprocess.run([sys.executable, "-c", code, str(Path(__file__).parent), str(folder), str(seed), str(scale)],
                   check=True)
    return folder / "warehouse.duckdb"


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# --- the pandas baseline -------------------------------------------------------------------------
def _series(con, series) -> pd.DataFrame:
    query = series_query(series)
    return con.execute(query.sql, query.params).df()


def _level_rows(base: pd.DataFrame, level: str, key: str | None) -> pd.DataFrame:
    usable = base[base["usable"]]
    if level == "practice":
        rows = base[["period", "practice_code", "cluster_id", "hscp_code", "board_code", "numerator",
                     "denominator", "usable"]].copy()
        return rows.rename(columns={"practice_code": "area_code"})
    if key is None:
        rows = usable.groupby("period", as_index=False)[["numerator", "denominator"]].sum()
        rows["area_code"] = SCOTLAND_CODE
    else:
        rows = usable.groupby(["period", key], as_index=False).agg(
            numerator=("numerator", "sum"), denominator=("denominator", "sum"),
            hscp_any=("hscp_code", "first"), board_any=("board_code", "first"))
        rows = rows.rename(columns={key: "area_code"})
        rows["cluster_id"] = rows["area_code"] if level == "cluster" else None
        rows["hscp_code"] = rows["hscp_any"] if level in ("cluster", "hscp") else None
        rows["board_code"] = rows["board_any"]
        rows = rows.drop(columns=["hscp_any", "board_any"])
    rows["usable"] = True
    return rows


def _limits(d: Definition, num: np.ndarray, den: np.ndarray, level: float):
    """CI limits with the project's public interval functions (Wilson; OHID exact/Byar's for rates)."""
    if d.measure_type == "proportion":
        lower, upper = ci.wilson(num, den, level=level)
        return lower * d.multiplier, upper * d.multiplier
    return ci.rate(num, den, d.multiplier, level, method="ohid")


def _spc(out: pd.DataFrame, d: Definition) -> None:
    """SPC the way an analyst would vectorise it: one pivot (series x period) and one call of the project's
    batch XmR per indicator; too few points and series that never change labelled as the engine does."""
    grid = out.pivot(index=["level", "area_code"], columns="period", values="value")
    values = grid.to_numpy(float)
    valid = ~np.isnan(values)
    enough = valid.sum(axis=1) >= spc.MIN_POINTS_FOR_LIMITS
    varies = np.nan_to_num(np.abs(np.diff(values, axis=1)), nan=0.0).max(axis=1, initial=0.0) > 0
    row = grid.index.get_indexer(pd.MultiIndex.from_frame(out[["level", "area_code"]]))
    col = grid.columns.get_indexer(out["period"])
    present = out["value"].notna().to_numpy()
    labels = np.full(len(out), None, dtype=object)
    rules = np.full(len(out), None, dtype=object)
    labels[present & ~enough[row]] = "too_few_points"
    labels[present & enough[row] & ~varies[row]] = "common_cause"
    charted = enough & varies
    if charted.any():
        result = spc.xmr_signals_batch(values[charted], improvement=IMPROVEMENT[d.polarity])
        position = np.full(len(grid), -1)
        position[charted] = np.arange(int(charted.sum()))
        at = position[row] >= 0
        types = result.point_type[position[row][at], col[at]]
        found = types >= 0
        where = np.flatnonzero(at)[found]
        labels[where] = np.array(spc.POINT_TYPES, dtype=object)[types[found]]
        rule_labels = np.array([label or None for label in spc.MDC_RULE_LABELS], dtype=object)
        rules[where] = rule_labels[result.rule[position[row][at], col[at]][found]]
    out["spc_signal"] = labels
    out["spc_rule"] = rules


def pandas_indicator(con, practice_period: pd.DataFrame, d: Definition) -> pd.DataFrame:
    num = _series(con, d.numerator).rename(columns={"value": "numerator"})
    base = practice_period.merge(num, left_on=["release_date", "practice_code"], right_on=["period", "practice_code"])
    if d.denominator is not None:
        den = _series(con, d.denominator).rename(columns={"value": "denominator", "period": "release_date"})
        base = base.merge(den, on=["release_date", "practice_code"], how="left")
        base["usable"] = base["numerator"].notna() & base["denominator"].notna() & (base["denominator"] > 0)
    else:
        base["denominator"] = np.nan
        base["usable"] = base["numerator"].notna()
    keys = {"practice": None, "cluster": "cluster_id", "hscp": "hscp_code", "board": "board_code", "scotland": None}
    frames = []
    for level in d.levels:
        rows = _level_rows(base, level, keys[level])
        rows["level"] = level
        frames.append(rows)
    out = pd.concat(frames, ignore_index=True)
    if d.measure_type == "count":
        out["value"] = out["numerator"].where(out["usable"])
    else:
        out["value"] = (out["numerator"] / out["denominator"] * d.multiplier).where(out["usable"])
    areas = out[out["level"] != "practice"][["period", "level", "area_code", "value"]]
    for level, column, levels in (("cluster", "cluster_id", ["practice"]),
                                  ("hscp", "hscp_code", ["practice", "cluster"]),
                                  ("board", "board_code", ["practice", "cluster", "hscp"])):
        lookup = areas[areas["level"] == level][["period", "area_code", "value"]].rename(
            columns={"area_code": column, "value": f"{level}_value"})
        out = out.merge(lookup, on=["period", column], how="left")
        out.loc[~out["level"].isin(levels), f"{level}_value"] = np.nan
    scot = areas[areas["level"] == "scotland"][["period", "value"]].rename(columns={"value": "scotland_value"})
    out = out.merge(scot, on="period", how="left")
    practice = (out["level"] == "practice") & out["value"].notna()
    grouped = out[practice].groupby("period")["value"]
    out.loc[practice, "national_rank"] = grouped.rank(method="min", ascending=False)
    ascending = grouped.rank(method="min", ascending=True)
    out.loc[practice, "national_decile"] = 1 + np.floor(10 * (ascending - 1) / grouped.transform("count"))
    for column in ("lower95", "upper95", "lower998", "upper998"):
        out[column] = np.nan
    out["funnel_scotland"] = None
    out["funnel_hscp"] = None
    if d.has_ci and len(out):
        ok = out["value"].notna() & (out["denominator"] > 0)
        for level, low, high in ((0.95, "lower95", "upper95"), (0.998, "lower998", "upper998")):
            lo, hi = _limits(d, out.loc[ok, "numerator"].to_numpy(float), out.loc[ok, "denominator"].to_numpy(float), level)
            out.loc[ok, low], out.loc[ok, high] = lo, hi
        for column, target, levels in (("funnel_scotland", "scotland_value", ["practice", "cluster", "hscp", "board"]),
                                       ("funnel_hscp", "hscp_value", ["practice", "cluster"])):
            use = ok & out["level"].isin(levels) & out[target].notna()
            out.loc[use, column] = funnel.classify_interval(
                out.loc[use, target], out.loc[use, "lower95"], out.loc[use, "upper95"],
                out.loc[use, "lower998"], out.loc[use, "upper998"])
    out["spc_signal"] = None
    out["spc_rule"] = None
    if d.is_performance:
        _spc(out, d)
    out["indicator_id"] = d.id
    return out


def pandas_version(con, definitions: list[Definition]) -> pd.DataFrame:
    practice_period = con.execute("SELECT * FROM practice_period").df()
    return pd.concat([pandas_indicator(con, practice_period, d) for d in definitions], ignore_index=True)


# --- the planted signals of the synthetic data --------------------------------------------------------
SIGNAL_INDICATORS = {"emergency_admissions": "emergency_admission_rate", "ae_attendances": "ae_attendance_rate",
                     "gp_consultations": "gp_consultation_rate", "mdt_consultations": "mdt_consultation_rate",
                     "high_risk_rx_patients": "high_risk_prescribing"}


def planted_found(con, seed: int) -> tuple[int, int]:
    """Planted steps/trends with an SPC special cause from their start, and whole-period outliers flagged
    high by the funnel against Scotland in most periods, out of all planted signals."""
    from gpcluster.synthetic import planted_signals

    signals = planted_signals(seed)
    found = 0
    for signal in signals:
        indicator = SIGNAL_INDICATORS[signal.measure]
        if signal.start is None:
            share = con.execute(
                "SELECT avg((funnel_scotland LIKE 'high%')::INTEGER) FROM indicator_value "
                "WHERE indicator_id = ? AND level = 'practice' AND area_code = ?",
                [indicator, signal.practice_code]).fetchone()[0]
            found += bool(share and share > 0.5)
        else:
            hits = con.execute(
                "SELECT count(*) FROM indicator_value WHERE indicator_id = ? AND level = 'practice' "
                "AND area_code = ? AND period >= ? AND spc_signal NOT IN ('common_cause')",
                [indicator, signal.practice_code, signal.start]).fetchone()[0]
            found += hits > 0
    return found, len(signals)


# --- the run ---------------------------------------------------------------------------------------
def timed(fn, repeat: int) -> tuple[float, object]:
    times, result = [], None
    for _ in range(repeat):
        result = None  # the previous result is freed first: the peak RSS is one run's, not two
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


def agreement(engine: pd.DataFrame, baseline: pd.DataFrame) -> tuple[int, float, int]:
    """Rows compared, the largest relative difference in value, and rows whose SPC labels differ."""
    keys = ["indicator_id", "level", "area_code", "period"]
    merged = engine.merge(baseline[[*keys, "value", "spc_signal", "national_rank"]], on=keys, suffixes=("", "_pd"))
    a, b = merged["value"].to_numpy(float), merged["value_pd"].to_numpy(float)
    both = np.isfinite(a) & np.isfinite(b)
    rel = np.abs(a[both] - b[both]) / np.maximum(np.abs(b[both]), 1e-12)
    # the engine's strings are categoricals: compared as strings
    spc_diff = int((merged["spc_signal"].astype("str").fillna("") != merged["spc_signal_pd"].fillna("")).sum())
    return len(merged), float(rel.max(initial=0.0)), spc_diff


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=20180401)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--keep", type=Path, help="Folder for the synthetic warehouse (reused if present).")
    parser.add_argument("--scale", type=int, default=1, help="Synthetic Scotlands side by side (8 is about England).")
    parser.add_argument("--skip-baseline", action="store_true", help="Time the engine only (no pandas, no agreement).")
    parser.add_argument("--frame-only", action="store_true",
                        help="Time the batch and frame paths only (no temporary table, no store, no planted "
                             "signals): keeps a large --scale run short.")
    args = parser.parse_args()
    folder = args.keep or Path(tempfile.mkdtemp(prefix="bench-indicators-"))
    folder.mkdir(parents=True, exist_ok=True)
    print(f"building the synthetic warehouse (scale {args.scale}) in {folder} (not timed) ...", flush=True)
    path = build_in_child(folder, args.seed, args.scale)
    definitions = load_catalogue()
    import duckdb  # after gpcluster, which sets DuckDB's allocator up (gpcluster/__init__.py)

    con = duckdb.connect(str(path))
    con.execute("SET enable_progress_bar = false")
    practices, periods = con.execute(
        "SELECT count(DISTINCT practice_code), count(DISTINCT release_date) FROM practice_period").fetchone()
    print(f"{len(definitions)} indicators, {practices} practices, {periods} periods, levels {', '.join(LEVELS)}; "
          f"{os.cpu_count()} CPU(s), load average {os.getloadavg()[0]:.1f}, median of {args.repeat}")
    target_s, target_mb = (TARGET_SECONDS, TARGET_RSS_MB) if args.scale == 1 else TARGETS_AT_8X

    start_rss = peak_rss_mb()
    # the batch path first: its peak RSS is then its own (the figure only grows)
    def streamed() -> int:
        return sum(batch.num_rows for batch in compute_batches(con, definitions))

    streamed()  # warm-up: file cache and DuckDB plans
    batches_s, _ = timed(streamed, args.repeat)
    batches_rss = peak_rss_mb()
    engine_s, frame = timed(lambda: compute_frame(con, definitions), args.repeat)
    engine_rss = peak_rss_mb()  # the frame path alone (the figure held to the target)
    rows = len(frame)
    if args.skip_baseline:
        del frame
    if not args.frame_only:
        table_s, _ = timed(lambda: compute_table(con, definitions), args.repeat)
        con.execute("DROP TABLE IF EXISTS temp.indicator_result")
        stored_s, _ = timed(lambda: compute(con, definitions), args.repeat)
        all_rss = peak_rss_mb()  # before the baseline runs
    print(f"engine (frame):   {engine_s:7.2f} s  ({rows:,} result rows as pandas)   target <= {target_s:.1f} s")
    print(f"engine (batches): {batches_s:7.2f} s  (the same rows as Arrow record batches of "
          f"{STORE_CHUNK_ROWS:,}, in stored order, consumed one at a time)")
    if not args.frame_only:
        print(f"engine (DuckDB):  {table_s:7.2f} s  (results in a temporary table)")
        print(f"engine (stored):  {stored_s:7.2f} s  (same, written to indicator_value; with the suppression "
              "pattern and signals rebuilt)")
    print(f"peak RSS:         {engine_rss:7.0f} MB after the frame runs (process at start, with its imports and "
          f"the open warehouse: {start_rss:.0f} MB); target <= {target_mb} MB")
    print(f"                  {batches_rss:7.0f} MB after the batch runs alone (measured first)")
    if not args.frame_only:
        print(f"                  {all_rss:7.0f} MB after the temporary-table and stored runs too, before the "
              "baseline")
    ok = engine_s <= target_s and engine_rss <= target_mb
    if not args.skip_baseline:
        pandas_s, baseline = timed(lambda: pandas_version(con, definitions), 1)
        rows, max_rel, spc_diff = agreement(frame, baseline)
        speedup = pandas_s / engine_s
        print(f"pandas baseline:  {pandas_s:7.2f} s  ({len(baseline):,} result rows)")
        print(f"speed-up:         {speedup:7.1f} x   target >= {TARGET_SPEEDUP:.0f} x")
        print(f"agreement:        {rows:,} rows compared, max relative difference in value {max_rel:.2e}, "
              f"{spc_diff} SPC label(s) differ")
        ok = ok and speedup >= TARGET_SPEEDUP and max_rel < 1e-9 and spc_diff == 0
    if not args.frame_only:
        found, planted = planted_found(con, args.seed)
        print(f"planted signals:  {found} of {planted} found (steps/trends by SPC, outliers by the funnel)")
    print(f"load average now {os.getloadavg()[0]:.1f} (other processes share the CPUs)")
    print("RESULT: " + ("targets met" if ok else "targets NOT met"))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
