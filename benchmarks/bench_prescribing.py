"""Prescribing at national scale: 12 months of synthetic Prescriptions in the Community (about 1.2 million
rows a month, the real PHS layout) through the loader, every prescribing measure at every level, and the
Spark engine against DuckDB on the same data.

Baselines measured in the same run: DuckDB's own read_csv of the same files into a table (no checks, no
ordering: the floor for any DuckDB loader) and pandas read_csv (pyarrow engine) of the same files.

    .venv/bin/python benchmarks/bench_prescribing.py [--months 12] [--no-spark] [--keep DIR]
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import tempfile
import time
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
from bench_indicators import timed  # the same median-of-runs timer as the indicator benchmark


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--months", type=int, default=12)
    parser.add_argument("--no-spark", action="store_true")
    parser.add_argument("--keep", type=Path, help="reuse/keep the synthetic files in this folder")
    args = parser.parse_args()

    from gpcluster.indicators.definition import load_catalogue
    from gpcluster.indicators.engine import compute_frame
    from gpcluster.prescribing.ingest import load_prescribing
    from gpcluster.synthetic import write_synthetic_scotland
    from gpcluster.warehouse import load_sourced, open_warehouse

    work = Path(tempfile.mkdtemp(prefix="bench-rx-"))
    files_dir = args.keep or work / "files"
    try:
        marker = files_dir / "prescribing_truth.csv"
        start = time.perf_counter()
        reused = marker.exists()
        if reused:  # files kept by an earlier run with --keep
            written = write_synthetic_scotland(files_dir, prescribing_months=0)
            rx_files = sorted(files_dir.glob("pitc*.csv"))[-args.months:]
        else:
            written = write_synthetic_scotland(files_dir, prescribing_months=args.months)
            rx_files = [p for s, p in written if s == "prescriptions"]
            written = [(s, p) for s, p in written if s != "prescriptions"]
        generate = time.perf_counter() - start
        rows = sum(duckdb.execute("SELECT count(*) FROM read_csv(?)", [str(p)]).fetchall()[0][0] for p in rx_files)
        size = sum(p.stat().st_size for p in rx_files) / 1e6
        print(f"{os.cpu_count()} CPU(s) shared with other work, load average at start {os.getloadavg()[0]:.1f}")
        print(f"synthetic prescribing: {len(rx_files)} months, {rows:,} rows ({rows / len(rx_files):,.0f} a month), "
              f"{size:,.0f} MB of CSV; " + ("reused from --keep (not timed)" if reused else
                                             f"generated with the synthetic Scotland in {generate:.1f} s"))

        warehouse = work / "warehouse.duckdb"
        load_sourced(written, synthetic=True, warehouse=warehouse)

        # baseline 1: DuckDB's raw read_csv of the same files into a table
        def raw() -> None:
            con = duckdb.connect(str(work / "raw.duckdb"))
            for i, path in enumerate(rx_files):
                con.execute(f"CREATE OR REPLACE TABLE raw_{i} AS SELECT * FROM read_csv(?)", [str(path)])
            con.close()
        raw_s, _ = timed(raw, 1)
        (work / "raw.duckdb").unlink()

        con = open_warehouse(warehouse)
        ingest_s, loads = timed(lambda: load_prescribing(rx_files, synthetic=True, con=con), 1)
        ingest_peak = peak_mb()
        print(f"ingest (validate, classify, write one transaction per month): {ingest_s:.1f} s for "
              f"{len(loads)} months = {ingest_s / len(loads):.2f} s a month; DuckDB raw read_csv of the same "
              f"files {raw_s:.1f} s -> {ingest_s / raw_s:.2f}x (target <= 2x)")

        definitions = [d for d in load_catalogue() if d.id.startswith("rx_")]
        compute_frame(con, definitions)  # warm
        compute_s, frame = timed(lambda: compute_frame(con, definitions), repeat=3)
        compute_peak = peak_mb()
        print(f"all {len(definitions)} prescribing measures, every level and quarter, with CIs, funnels and SPC: "
              f"{compute_s:.2f} s (median of 3; target <= 5 s; load average now {os.getloadavg()[0]:.1f}), "
              f"{len(frame):,} result rows")
        print(f"peak memory (this process, ingest + compute): {max(ingest_peak, compute_peak):,.0f} MB "
              "(target <= 2,048 MB)")

        # baseline 2: pandas (pyarrow engine) reading the same files, as an analyst would
        def with_pandas() -> int:
            total = 0
            for path in rx_files:
                frame_ = pd.read_csv(path, engine="pyarrow", dtype={"GPPractice": str, "BNFItemCode": str})
                total += len(frame_)
                del frame_
            return total
        pandas_s, _ = timed(with_pandas, 1)
        print(f"pandas read_csv (pyarrow engine) of the same files, no checks: {pandas_s:.1f} s -> ingest is "
              f"{ingest_s / pandas_s:.2f}x pandas' bare read; peak memory with pandas {peak_mb():,.0f} MB")

        if not args.no_spark:
            from gpcluster.prescribing.spark import compute_frame_spark, spark_session

            spark = spark_session("local[2]")
            try:
                compute_frame_spark(con, definitions[:1], spark, work_dir=work)  # start-up and warm-up
                spark_s, sframe = timed(lambda: compute_frame_spark(con, definitions, spark, work_dir=work), 1)
            finally:
                spark.stop()
            key = ["indicator_id", "period", "level", "area_code"]
            # compute_frame's strings are categoricals, Spark's plain strings: compared as strings
            a, b = (f.assign(period=pd.to_datetime(f["period"]).astype("datetime64[ns]"))
                    .astype({c: "str" for c in f.select_dtypes("category").columns}).sort_values(key)
                    .reset_index(drop=True) for f in (frame, sframe))
            same_keys = len(a) == len(b) and a[key].equals(b[key])
            values = a["value"].to_numpy(float), b["value"].to_numpy(float)
            diff = (np.nanmax(np.abs(values[0] - values[1]) / np.maximum(np.abs(values[0]), 1e-300))
                    if same_keys else np.nan)
            labels = same_keys and all(a[c].fillna("-").tolist() == b[c].fillna("-").tolist()
                                       for c in ("funnel_scotland", "funnel_hscp", "spc_signal", "spc_rule"))
            print(f"Spark local[2] on the same data: {spark_s:.1f} s against DuckDB {compute_s:.2f} s "
                  f"({spark_s / compute_s:.0f}x; Spark pays for export, JVM and shuffles on 2 cores); results: "
                  f"same {len(b):,} rows {same_keys}, max relative value difference {diff:.1e}, "
                  f"identical funnel and SPC labels {labels}")
        con.close()
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
