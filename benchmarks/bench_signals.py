"""Benchmark: do the signals find what was planted, and stay quiet when nothing was?

    .venv/bin/python benchmarks/bench_signals.py [--seeds 20] [--first-seed 1000] [--shown 5]

For each seed, the synthetic Scotland is built twice: with its planted signals (known practices,
indicators, start quarters and sizes: steps, trends and whole-period outliers) and as a null world with
none (same practices, lists, deprivation, seasonality, between-practice heterogeneity and drift). Both go
through the real loaders and the indicator engine; the six synthetic performance indicators are scored by

* **new**: gpcluster.signals (overdispersion-adjusted, standardised funnel level + confirmed SPC change
  against the practice's own baseline relative to its HSCP, ranked per cluster), and
* **baseline (today's)**: the unadjusted OHID funnel against Scotland (each practice's Wilson/Poisson
  99.8% or 95% interval excluding Scotland's value) or any Making Data Count special cause on the
  practice's own value series, ranked as the old cluster page did (concern first, 99.8% before 95%
  before SPC).

Printed, per method: recall of planted signals within two quarters of onset (onset: the first quarter of
a step or whole-period outlier; for a trend, the first quarter its effect reaches 20%), for planted effects
of at least 20%; precision of the per-cluster top-N lists (a listed practice x indicator is right when it
was planted, in the planted direction, from its onset on); and in the null world the signals flagged per
cluster per quarter (median, mean, 95th centile, every live signal, not only the top N).
Targets: recall >= 0.9, top-N precision >= 0.8, null median <= 1 per cluster per quarter.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from gpcluster.indicators.definition import load_catalogue
from gpcluster.indicators.engine import compute
from gpcluster.stats import funnel, spc
from gpcluster.synthetic.activity import TREND_QUARTERS, PlantedSignal
from gpcluster.synthetic.scotland import build_scotland

INDICATOR_OF = {
    "gp_consultations": ["gp_consultation_rate"],
    "mdt_consultations": ["mdt_consultation_rate", "mdt_share_of_consultations"],
    "emergency_admissions": ["emergency_admission_rate"],
    "ae_attendances": ["ae_attendance_rate"],
    "high_risk_rx_patients": ["high_risk_prescribing"],
}
PERFORMANCE = ["gp_consultation_rate", "mdt_consultation_rate", "mdt_share_of_consultations",
               "emergency_admission_rate", "ae_attendance_rate", "high_risk_prescribing"]
IMPROVEMENT = {"higher_is_better": "increase", "higher_is_worse": "decrease", "neither": "neutral"}
MIN_EFFECT = 0.2


def build(folder: Path, seed: int, planted: bool):
    """Write, load and compute one world; returns (results, signals, truth, periods, practice clusters)."""
    from gpcluster.synthetic import write_synthetic_scotland
    from gpcluster.warehouse import load_sourced, open_warehouse

    build_scotland.cache_clear()
    files = folder / f"{seed}-{'planted' if planted else 'null'}"
    written = write_synthetic_scotland(files, seed, plant_signals=planted)
    path = files / "warehouse.duckdb"
    load_sourced(written, synthetic=True, warehouse=path)
    definitions = [d for d in load_catalogue() if d.id in PERFORMANCE]
    with open_warehouse(path) as con:
        compute(con, definitions)
        results = con.execute("SELECT * FROM indicator_value WHERE level IN ('practice', 'scotland')").df()
        signals = con.execute("SELECT * FROM signal").df()
    truth = build_scotland(seed, plant_signals=planted).signals
    return results, signals, truth, {d.id: d for d in definitions}


def onset(signal: PlantedSignal, periods: list) -> int:
    if signal.kind == "outlier":
        return 0
    q0 = periods.index(pd.Timestamp(signal.start))
    if signal.kind == "step":
        return q0
    # a trend reaches the reportable size MIN_EFFECT after this many quarters
    steps = int(np.ceil(MIN_EFFECT / abs(signal.effect - 1) * TREND_QUARTERS))
    return min(q0 + steps - 1, len(periods) - 1)


# A planted change also moves the indicators built from the same counts: more GP consultations mean a
# smaller MDT share (the share's denominator is GP + MDT consultations).
CONSEQUENCES = {"gp_consultations": [("mdt_share_of_consultations", -1)]}


def planted_table(truth: list[PlantedSignal], periods: list) -> pd.DataFrame:
    """Planted effects of at least MIN_EFFECT, by indicator (recall is judged on the first indicator of
    each; a consequence only counts as right in the precision of the lists)."""
    rows = []
    for s in truth:
        if abs(s.effect - 1) < MIN_EFFECT:
            continue
        up = s.effect > 1
        targets = [(i, up, n == 0) for n, i in enumerate(INDICATOR_OF[s.measure])]
        targets += [(i, up == (sign > 0), False) for i, sign in CONSEQUENCES.get(s.measure, [])]
        for indicator, high, primary in targets:
            rows.append({"area_code": s.practice_code, "indicator_id": indicator, "onset": onset(s, periods),
                         "direction": "high" if high else "low", "primary": primary})
    return pd.DataFrame(rows)


def baseline_flags(results: pd.DataFrame, definitions: dict) -> pd.DataFrame:
    """Today's method: unadjusted OHID funnel (interval excludes Scotland) or any MDC special cause."""
    practice = results[results["level"] == "practice"].copy()
    scotland = results[results["level"] == "scotland"].set_index(["indicator_id", "period"])["value"]
    practice["scot"] = scotland.reindex(pd.MultiIndex.from_frame(practice[["indicator_id", "period"]])).to_numpy()
    label = funnel.classify_interval(practice["scot"], practice["lower95"], practice["upper95"],
                                     practice["lower998"], practice["upper998"])
    practice["funnel"] = np.where(practice["value"].isna(), None, label)
    practice["spc"] = None
    for indicator_id, rows in practice.groupby("indicator_id"):
        table = rows.pivot(index="area_code", columns="period", values="value")
        enough = table.notna().sum(axis=1) >= 2
        varies = table.std(axis=1, skipna=True) > 0
        ok = table[enough & varies]
        result = spc.xmr_signals_batch(ok.to_numpy(), improvement=IMPROVEMENT[definitions[indicator_id].polarity])
        types = np.array(spc.POINT_TYPES + ("",))[np.where(result.point_type < 0, len(spc.POINT_TYPES),
                                                            result.point_type)]
        long = pd.DataFrame(types, index=ok.index, columns=ok.columns).stack().rename("spc_type").reset_index()
        merged = rows[["area_code", "period"]].merge(long, on=["area_code", "period"], how="left")
        practice.loc[rows.index, "spc"] = merged["spc_type"].to_numpy()
    funnel_dir = pd.Series(np.where(practice["funnel"].isin(["high_998", "high_95"]), "high",
                                    np.where(practice["funnel"].isin(["low_998", "low_95"]), "low", "")),
                           index=practice.index)
    worse_is_high = practice["indicator_id"].map(lambda i: definitions[i].polarity != "higher_is_better")
    spc_type = practice["spc"].fillna("")
    spc_dir = pd.Series("", index=practice.index)
    spc_dir[spc_type == "special_cause_neutral_high"] = "high"
    spc_dir[spc_type == "special_cause_neutral_low"] = "low"
    concern, improvement = spc_type == "special_cause_concern", spc_type == "special_cause_improvement"
    spc_dir[concern] = np.where(worse_is_high[concern], "high", "low")
    spc_dir[improvement] = np.where(worse_is_high[improvement], "low", "high")
    practice["direction"] = funnel_dir.where(funnel_dir != "", spc_dir).replace("", None)
    practice["severity"] = np.where(practice["funnel"].isin(["high_998", "low_998"]), 0,
                                    np.where(practice["funnel"].isin(["high_95", "low_95"]), 1, 2))
    polarity = practice["indicator_id"].map(lambda i: definitions[i].polarity)
    worse = (practice["direction"] == "high") == (polarity == "higher_is_worse")
    practice["concern_rank"] = np.where(polarity == "neither", 2, np.where(worse, 0, 1))
    flagged = practice[practice["direction"].notna()]
    return flagged[["indicator_id", "area_code", "cluster_id", "period", "direction", "severity", "concern_rank"]]


def evaluate(periods, flags: pd.DataFrame, top: pd.DataFrame, planted: pd.DataFrame):
    """(recall hits, planted count, top-N true, top-N listed)."""
    index = {p: i for i, p in enumerate(periods)}
    flags = flags.assign(t=flags["period"].map(index))
    hits = 0
    for s in planted[planted["primary"]].itertuples():
        near = flags[(flags["area_code"] == s.area_code) & (flags["indicator_id"] == s.indicator_id)
                     & (flags["direction"] == s.direction) & flags["t"].between(s.onset, s.onset + 1)]
        hits += not near.empty
    top = top.assign(t=top["period"].map(index))
    key = top.merge(planted.drop(columns="primary"), on=["area_code", "indicator_id"], how="left",
                    suffixes=("", "_planted"))
    right = (key["direction"] == key["direction_planted"]) & (key["t"] >= key["onset"])
    return hits, int(planted["primary"].sum()), int(right.sum()), len(top)


def per_cluster(flags: pd.DataFrame, clusters: pd.DataFrame) -> np.ndarray:
    """Live signals per cluster and quarter, every cluster and quarter counted (zeros included)."""
    counts = flags.groupby(["cluster_id", "period"]).size()
    grid = pd.MultiIndex.from_frame(clusters[["cluster_id", "period"]].drop_duplicates())
    return counts.reindex(grid, fill_value=0).to_numpy()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, default=20)
    parser.add_argument("--first-seed", type=int, default=1000)
    parser.add_argument("--shown", type=int, default=5)
    args = parser.parse_args()
    tally = {m: {"hits": 0, "planted": 0, "right": 0, "listed": 0, "null": []} for m in ("new", "baseline")}
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        for seed in range(args.first_seed, args.first_seed + args.seeds):
            for planted_world in (True, False):
                results, signals, truth, definitions = build(Path(tmp), seed, planted_world)
                periods = sorted(results["period"].unique())
                clusters = results[(results["level"] == "practice") & results["cluster_id"].notna()]
                live = signals[(signals["level"] == "practice") & (signals["status"] != "resolved")]
                new_top = live[live["rank_in_cluster"] <= args.shown]
                base = baseline_flags(results, definitions)
                base = base[base["cluster_id"].notna()]
                base_top = (base.sort_values(["concern_rank", "severity", "area_code", "indicator_id"])
                            .groupby(["cluster_id", "period"]).head(args.shown))
                if planted_world:
                    truth_table = planted_table(truth, list(periods))
                    for method, flags, top in (("new", live, new_top), ("baseline", base, base_top)):
                        h, n, r, k = evaluate(list(periods), flags, top, truth_table)
                        tally[method]["hits"] += h
                        tally[method]["planted"] += n
                        tally[method]["right"] += r
                        tally[method]["listed"] += k
                else:
                    tally["new"]["null"].append(per_cluster(live, clusters))
                    tally["baseline"]["null"].append(per_cluster(base, clusters))
            print(f"seed {seed} done ({time.perf_counter() - started:.0f} s)", file=sys.stderr, flush=True)
            # The table so far, so that an interrupted run still leaves its figures behind.
            report(tally, seed - args.first_seed + 1, args.shown, started, file=sys.stderr)
    print()
    report(tally, args.seeds, args.shown, started)
    return 0


def report(tally: dict, seeds: int, shown: int, started: float, file=sys.stdout) -> None:
    def say(line: str) -> None:
        print(line, file=file, flush=True)

    say(f"bench_signals: {seeds} seeds x (planted world + null world), top {shown} per cluster "
        f"and quarter, {time.perf_counter() - started:.0f} s")
    say(f"{'method':<10} {'recall (2 qtrs)':>16} {'top-N precision':>16} {'null: median':>13} {'mean':>6} "
        f"{'p95':>5}   per cluster per quarter")
    for method, t in tally.items():
        null = np.concatenate(t["null"]) if t["null"] else np.array([0])
        recall = t["hits"] / t["planted"] if t["planted"] else float("nan")
        precision = t["right"] / t["listed"] if t["listed"] else float("nan")
        say(f"{method:<10} {recall:>9.3f} ({t['hits']}/{t['planted']}) {precision:>8.3f} ({t['right']}/"
            f"{t['listed']}) {statistics.median(null):>8.1f} {null.mean():>9.2f} {np.percentile(null, 95):>5.0f}")
    say("targets: recall >= 0.9 (planted effects >= 20%), top-N precision >= 0.8, null median <= 1")


if __name__ == "__main__":
    sys.exit(main())
