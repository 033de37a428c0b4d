"""Load-time benchmark: all real PHS files in ../shared/data/raw and the whole synthetic history.

Baselines measured in the same run: pandas.read_csv parse-only of the same files (the floor any loader
pays), and a naive row-by-row INSERT of one table (what set-based loading replaces).
Run: .venv/bin/python benchmarks/bench_load.py [--shared PATH] [--skip-synthetic]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from datetime import date
from pathlib import Path

import pandas as pd

from gpcluster.sources import read_file
from gpcluster.warehouse import load_paths, load_sourced, open_warehouse
from gpcluster.warehouse.loader import expand

REPO = Path(__file__).resolve().parents[1]
REAL_FOLDERS = ("phs_gp_practices", "phs_simd", "humaniverse_scot", "phs_geography", "phs_populations")
NAIVE_ROWS = 3000  # bounded: the row-by-row rate is measured on this many rows and extrapolated


def timed(action):
    start = time.perf_counter()
    result = action()
    return time.perf_counter() - start, result


def cpu_timed(action):
    """Wall seconds, process CPU seconds (every thread's, DuckDB's and Arrow's too) and the result. On a
    shared machine the wall time swings with the load; the CPU time is what the code itself costs."""
    wall, cpu = time.perf_counter(), time.process_time()
    result = action()
    return time.perf_counter() - wall, time.process_time() - cpu, result


def parse_only(files: list[Path], engine: str = "c") -> float:
    """pandas reading every file as text, nothing else: the floor any loader pays. pandas' default C parser,
    or its pyarrow engine (the faster choice a competent analyst might make)."""
    return parse_timed(files, engine)[0]


def parse_timed(files: list[Path], engine: str = "c") -> tuple[float, float]:
    """parse_only's wall and process CPU seconds."""
    wall, cpu, _ = cpu_timed(lambda: [pd.read_csv(f, dtype=str, sep="\t" if f.suffix == ".tsv" else ",",
                                                  encoding="utf-8-sig", engine=engine) for f in files])
    return wall, cpu


def naive_rate(population_file: Path) -> tuple[float, float, int]:
    """Rows per second: executemany row-by-row INSERT versus our set-based write of the same rows."""
    frame = read_file(population_file).tidy()
    rows = frame[["release_date", "practice_code", "sex", "age_band", "population"]].astype(
        {"population": int}).values.tolist()
    with tempfile.TemporaryDirectory() as tmp:
        con = open_warehouse(Path(tmp) / "naive.duckdb")
        sample = rows[:NAIVE_ROWS]
        naive, _ = timed(lambda: [con.execute("INSERT INTO list_population VALUES (?, ?, ?, ?, ?)", r)
                                  for r in sample])
        con.close()
        ours, _ = timed(lambda: load_paths([population_file], warehouse=Path(tmp) / "ours.duckdb"))
    return len(sample) / naive, len(rows) / ours, len(rows)


def main() -> None:
    import duckdb  # after gpcluster, which sets DuckDB's allocator up (gpcluster/__init__.py)

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", type=Path, default=REPO.parent / "shared")
    parser.add_argument("--skip-synthetic", action="store_true")
    args = parser.parse_args()
    raw = args.shared / "data" / "raw"
    print(f"duckdb {duckdb.__version__}, pandas {pd.__version__}; load average {os.getloadavg()[0]:.1f} "
          f"on {os.cpu_count()} CPU(s)")
    with tempfile.TemporaryDirectory() as tmp:
        if raw.exists():
            files, _ = expand([raw / f for f in REAL_FOLDERS], None)
            files.append(raw / "phs_gp_workforce" / "gp_contact_details_headcount_by_practice_2020.csv")
            rows = 0

            def load_real():
                report = load_paths([raw / f for f in REAL_FOLDERS], warehouse=Path(tmp) / "real.duckdb")
                extra = load_paths([files[-1]], warehouse=Path(tmp) / "real.duckdb", release_date=date(2020, 12, 1))
                return report.rows + extra.rows

            parse, parse_cpu = parse_timed(files)  # first, so both read the files from a warm page cache
            parse_arrow = parse_only(files, "pyarrow")
            seconds, load_cpu, rows = cpu_timed(load_real)
            print(f"real PHS files: {len(files)} files, {rows:,} source rows: load {seconds:.2f} s "
                  f"(validate + write + derive, into a new warehouse version)")
            print(f"  pandas parse-only (C parser, the default) {parse:.2f} s: ratio {seconds / parse:.1f}x "
                  "(target <= 3x)")
            print(f"  pandas parse-only (pyarrow engine) {parse_arrow:.2f} s: ratio {seconds / parse_arrow:.1f}x")
            print(f"  process CPU: load {load_cpu:.2f} s, pandas parse-only (C parser) {parse_cpu:.2f} s: ratio "
                  f"{load_cpu / parse_cpu:.1f}x (wall swings with the machine's load; CPU is the code's own cost)")
            naive, ours, n = naive_rate(raw / "phs_gp_practices" / "practice_listsizes_apr2024-open-data.csv")
            print(f"list_population rows/s ({n:,} rows): set-based load {ours:,.0f}; naive row-by-row INSERT "
                  f"{naive:,.0f} (measured on {NAIVE_ROWS:,} rows); speed-up {ours / naive:.0f}x")
        else:
            print(f"real data not found at {raw}; skipped")
        if not args.skip_synthetic:
            from gpcluster.synthetic import write_synthetic_scotland

            out = Path(tmp) / "synthetic"
            generate, written = timed(lambda: write_synthetic_scotland(out, 20180401))
            seconds, report = timed(lambda: load_sourced(written, synthetic=True,
                                                         warehouse=Path(tmp) / "synthetic.duckdb"))
            parse = parse_only([p for _, p in written])
            parse_arrow = parse_only([p for _, p in written], "pyarrow")
            con = duckdb.connect(str(Path(tmp) / "synthetic.duckdb"), read_only=True)
            releases = con.execute("SELECT count(DISTINCT release_date) FROM list_population").fetchall()[0][0]
            con.close()
            print(f"synthetic history: {len(written)} files, {releases} releases, {report.rows:,} source rows: "
                  f"generate {generate:.2f} s; load {seconds:.2f} s; pandas parse-only {parse:.2f} s (C parser), "
                  f"ratio {seconds / parse:.1f}x; {parse_arrow:.2f} s (pyarrow engine), ratio "
                  f"{seconds / parse_arrow:.1f}x")
    print(f"load average now {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
