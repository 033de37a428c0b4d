"""Benchmark: how long the monthly packs of every cluster of the demo take to build, HTML and PDF.

    .venv/bin/python benchmarks/bench_packs.py [--warehouse FILE] [--workers N] [--seed S]

Without --warehouse the demo's synthetic Scotland (the demo's seed, start and quarters) is written, loaded
and computed first, through the real loaders and the indicator engine (not timed). Then, for the latest
period, in this one run:

* **baseline: one pack**: the first cluster's pack built alone in this process, as a CQL would ask for it:
  the period's shared figures read from the warehouse, then its content, charts and file.
* **every cluster**: gpcluster.packs.build.build_many over the cores (one process per core; each reads
  the shared figures once), the way `gpcluster pack build --all` and `gpcluster pack publish --all` run.

For HTML and for PDF (the PDF run makes the HTML too: the PDF is drawn from it) it prints the wall-clock
times, the time per pack, and two ratios against the baseline: all packs / one pack, and the speed-up over
building every pack one after another at the baseline's per-pack cost. Targets (issue 14): every HTML pack
in under 30 s and every PDF pack in under 3 min on 2 cores.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from datetime import date
from functools import partial
from pathlib import Path

TARGETS = {"html": 30.0, "pdf": 180.0}


def _no_loop(content: dict, digest: str, as_of: date) -> dict:
    """The loop part of a pack without a store (the loop adds a few rows; the figures are the cost)."""
    from gpcluster.packs.loop import snapshot

    return snapshot(None, content, as_of=as_of, content_hash=digest)


def build_demo_warehouse(folder: Path, seed: int | None) -> Path:
    from gpcluster import config
    from gpcluster.indicators.definition import load_catalogue
    from gpcluster.indicators.engine import compute
    from gpcluster.synthetic import write_synthetic_scotland
    from gpcluster.warehouse import load_sourced, open_warehouse

    seed = int(config.get("synthetic_seed")) if seed is None else seed
    # as `gpcluster demo` writes it, prescribing included: without it every pack is about half the work
    written = write_synthetic_scotland(folder / "files", seed,
                                       prescribing_months=int(config.get("demo_prescribing_months")))
    path = folder / "warehouse.duckdb"
    load_sourced(written, synthetic=True, warehouse=path)
    with open_warehouse(path) as con:
        compute(con, load_catalogue())
    return path


def one_pack(warehouse: Path, cluster_id: str, formats: tuple[str, ...], state_for) -> tuple[float, float, float, int]:
    """Seconds to read the shared figures and build one pack in this process; seconds of the build alone;
    processor seconds of the build (what other work on the machine does not inflate); file size in bytes."""
    from gpcluster.packs.build import render_pack
    from gpcluster.packs.source import PackSource
    from gpcluster.web.data import WebData

    started = time.perf_counter()
    data = WebData(warehouse)
    source = PackSource.open(data)
    read, cpu = time.perf_counter(), time.process_time()
    built = render_pack(source, cluster_id, formats, state_for)
    finished, cpu = time.perf_counter(), time.process_time() - cpu
    data.close()
    size = len(built.pdf) if "pdf" in formats else len(built.html.encode("utf-8"))
    return finished - started, finished - read, cpu, size


def every_pack(warehouse: Path, clusters: list[str], formats: tuple[str, ...], state_for, workers: int):
    """Wall-clock seconds for every cluster's pack over the workers, the packs, their sizes, and the processor
    seconds the worker processes used (each pack's, and each worker's start-up: imports and shared reads)."""
    from gpcluster.packs.build import build_many

    started = time.perf_counter()
    built = build_many(warehouse, None, clusters, formats, state_for, workers=workers)
    seconds = time.perf_counter() - started
    kind = formats[-1]
    sizes = [len(b.pdf) if kind == "pdf" else len(b.html.encode("utf-8")) for b in built]
    cpu = sum(b.cpu_seconds + b.extra.get("startup_cpu_seconds", 0.0) for b in built)
    return seconds, built, sizes, cpu


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--warehouse", type=Path, help="an existing warehouse (default: build the demo's)")
    parser.add_argument("--workers", type=int, help="processes (default: one per core)")
    parser.add_argument("--seed", type=int, help="seed of the synthetic Scotland (default: the demo's)")
    parser.add_argument("--formats", default="html,pdf", help="html, pdf or html,pdf")
    parser.add_argument("--limit", type=int, help="only the first N clusters (a quick look; the targets are for all)")
    args = parser.parse_args(argv)

    from gpcluster.packs.build import default_workers
    from gpcluster.packs.render import pdf_unavailable
    from gpcluster.web.data import WebData

    workers = args.workers or default_workers()
    formats = [f for f in args.formats.split(",") if f]
    if "pdf" in formats and (reason := pdf_unavailable()):
        print(f"PDF packs cannot be made here ({reason}); timing HTML only", file=sys.stderr)
        formats = [f for f in formats if f != "pdf"]
    with tempfile.TemporaryDirectory(prefix="bench-packs-") as tmp:
        warehouse = args.warehouse
        if warehouse is None:
            started = time.perf_counter()
            warehouse = build_demo_warehouse(Path(tmp), args.seed)
            print(f"demo warehouse written, loaded and computed in {time.perf_counter() - started:.0f} s (not timed below)")
        data = WebData(warehouse)
        period = data.latest_period
        present = set(data.values(period=period, levels=["practice"])["cluster_id"].dropna())
        clusters = [c for c in data.clusters if c in present][:args.limit]
        data.close()
        state_for = partial(_no_loop, as_of=period)
        print(f"{len(clusters)} clusters, period {period:%Y-%m}, {workers} worker processes, "
              f"{os.cpu_count()} cores on the machine (shared: other work running meanwhile slows every figure)")
        print()
        print(f"{'format':<6} {'one pack':>9} {'(build)':>8} {'all packs':>10} {'per pack':>9} "
              f"{'all/one':>8} {'speed-up':>9} {'target':>8}  {'file size (median)':>18}")
        met = True
        for kind in formats:
            chosen = ("html",) if kind == "html" else ("pdf",)
            load_before = os.getloadavg()[0]
            one_total, one_build, one_cpu, _ = one_pack(warehouse, clusters[0], chosen, state_for)
            seconds, built, sizes, all_cpu = every_pack(warehouse, clusters, chosen, state_for, workers)
            load_after = os.getloadavg()[0]
            serial = one_build * len(clusters)  # every pack one after another at the baseline's cost
            sizes.sort()
            ok = seconds < TARGETS[kind] and args.limit is None
            met &= ok
            print(f"{kind:<6} {one_total:>8.2f}s {one_build:>7.2f}s {seconds:>9.1f}s {seconds / len(built):>8.2f}s "
                  f"{seconds / one_total:>7.1f}x {serial / seconds:>8.2f}x {TARGETS[kind]:>7.0f}s  "
                  f"{sizes[len(sizes) // 2] / 1024:>15.0f} kB  build cpu {one_cpu:.2f}s {'subset' if args.limit else 'met' if ok else 'MISSED'}")
            idle = all_cpu / workers  # the wall-clock time on idle cores (processor time shared over the workers)
            print(f"{'':6} processor time of every pack: {all_cpu:.1f} s over {workers} workers ({all_cpu / len(built):.2f} s "
                  f"a pack, start-up and shared reads included) = {idle:.1f} s on {workers} idle cores "
                  f"({'within' if idle < TARGETS[kind] else 'over'} the target); load average {load_before:.1f} "
                  f"before, {load_after:.1f} after")
        print()
        print("one pack: read the period's figures + build the first cluster's pack in one process; (build): the "
              "build alone.\nall/one: every cluster's packs against one pack; speed-up: one pack's build time x "
              "clusters / all packs' time.\nOn a shared machine the load average says how many processes "
              "competed for the cores; the processor times are what the packs cost whatever the load.")
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
