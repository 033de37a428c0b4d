"""Planner speed: a whole-Scotland scenario comparison (every role of the roster, per capita against
rurality-aware), in process and from the command line.

In process: reading the practices, age-sex table and roster (once), then allocating under both models
and comparing them, the median of --repeat runs; the target (issue 12) is <= 0.5 s for the comparison.
Also what the web planner works out once per planning area and data version before its first comparison
(every shipped model allocated over every role and summarised, per role and for all roles), and one
comparison of two models derived from those summaries (what each comparison page then costs).
From the command line: `gpcluster plan compare per_capita rurality_aware` end to end, against
`gpcluster --help` measured the same way in the same run (the floor any command pays: interpreter start
and the CLI's imports).

    .venv/bin/python benchmarks/bench_planner.py [--warehouse PATH] [--repeat 7]

Needs a warehouse with a roster (`gpcluster demo --no-serve` builds one).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

TARGET_SECONDS = 0.5


def median_seconds(action, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        action()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--warehouse", type=Path, default=None)
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    from gpcluster import config
    from gpcluster.warehouse import open_warehouse
    from gpcluster.workforce.allocate import allocate_roles
    from gpcluster.workforce.compare import compare, compare_summaries, practices_with_need, summarise_roles
    from gpcluster.workforce.coverage import roster_budgets
    from gpcluster.workforce.params import load_assumptions, model_names
    from gpcluster.workforce.store import read_agesex, read_practices, read_roster_tables

    warehouse = args.warehouse or config.warehouse_path()
    if not warehouse.exists():
        raise SystemExit(f"no warehouse at {warehouse}: run `gpcluster demo --no-serve` first")
    con = open_warehouse(warehouse, read_only=True)
    start = time.perf_counter()
    practices, agesex = read_practices(con), read_agesex(con)
    posts, sessions = read_roster_tables(con, None)
    read = time.perf_counter() - start
    con.close()
    a = load_assumptions()
    budgets = roster_budgets(posts, sessions, practices, a)

    def allocate_a():
        return allocate_roles(practices, agesex, "per_capita", budgets, a)

    def allocate_b():
        return allocate_roles(practices, agesex, "rurality_aware", budgets, a)

    first, second = allocate_a(), allocate_b()  # warm: assumptions and models parsed once

    def whole():
        return compare(allocate_a(), allocate_b(), practices, agesex, a)

    t_whole = median_seconds(whole, args.repeat)
    t_a = median_seconds(allocate_a, args.repeat)
    t_b = median_seconds(allocate_b, args.repeat)
    t_compare = median_seconds(lambda: compare(first, second, practices, agesex, a), args.repeat)
    def every_model():
        prepared = practices_with_need(practices, agesex)
        return prepared, {m: summarise_roles(allocate_roles(practices, agesex, m, budgets, a), prepared, a)
                          for m in model_names()}

    t_every = median_seconds(every_model, max(3, args.repeat // 2))
    prepared, summaries = every_model()
    t_pair = median_seconds(lambda: compare_summaries(summaries["per_capita"][None], summaries["rurality_aware"][None],
                                                      prepared), args.repeat)
    roles = budgets["role"].nunique()
    print(f"warehouse {warehouse}: {len(practices):,} practices, {len(posts):,} roster posts, {roles} roles; "
          f"median of {args.repeat}")
    print(f"in process: whole-Scotland comparison {t_whole:.3f} s (allocate per capita {t_a:.3f} s, "
          f"rurality-aware {t_b:.3f} s, compare {t_compare:.3f} s); reading inputs once {read:.3f} s; "
          f"target <= {TARGET_SECONDS} s: {'met' if t_whole <= TARGET_SECONDS else 'NOT met'}")
    print(f"web planner, once per area and data version: all {len(model_names())} models x {roles} roles allocated and "
          f"summarised {t_every:.3f} s; then each comparison of two models from the summaries {t_pair * 1000:.1f} ms")
    env = {**os.environ, "GPCLUSTER_WAREHOUSE": str(warehouse), "COLUMNS": "200"}
    cli = [sys.executable, "-m", "gpcluster.cli"]

    def run(*words: str):
        return lambda: subprocess.run([*cli, *words], env=env, capture_output=True, check=True)

    repeat = max(3, args.repeat // 2)
    t_cli = median_seconds(run("plan", "compare", "per_capita", "rurality_aware"), repeat)
    t_help = median_seconds(run("--help"), repeat)
    print(f"command line: `gpcluster plan compare per_capita rurality_aware` {t_cli:.2f} s; `gpcluster --help` "
          f"{t_help:.2f} s (the floor, same run); median of {repeat}; load average {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
