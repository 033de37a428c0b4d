"""Do the evaluation methods find planted effects, with honest intervals, and stay quiet when nothing
happened? Each method is repeated over many simulated data sets (seeds) with a known effect and with no
effect, and the script prints:

* coverage: share of 95% intervals containing the planted effect (target 0.93-0.97);
* bias: mean estimate minus the planted effect (log rate ratio; 0.01 is about 1%);
* false-positive rate (FPR): share of null interventions whose interval excludes no change (target <= 0.06);
* seconds per evaluation (median);

each rate with its exact (Clopper-Pearson) 95% interval, because a rate from a few hundred seeds is itself
uncertain: with 100 seeds a method whose true false-positive rate is exactly 0.05 prints more than 0.06
about a third of the time. The default is 1000 seeds per arm for the methods that take a tenth of a second
an evaluation (interrupted time series, synthetic control) and 400 for the others (about a second each).

Baseline in the same run, on the same data sets: what a hurried analysis would do instead. For the
single-date designs, a before/after comparison of the treated units (quasi-Poisson, no trend, season or
comparison group); for staggered roll-out, plain two-way fixed effects (the estimator the staggered
method replaces).

Data: NOT the demo warehouse. Simulated practice panels (gpcluster.evaluation.simulate: list sizes,
practice heterogeneity, negative binomial overdispersion, seasonality, a national trend and shock, and
each practice's own AR(1) drift), with effects planted by gpcluster.synthetic.interventions, the same
functions that plant the synthetic Scotland's interventions. 100 demo warehouses would take hours.

OpenBLAS is limited to one thread: on this 2-core machine its threaded SVD on these small design
matrices was 50 times slower than single-threaded.

Seeds run in parallel over --jobs processes (default: the machine's cores); each seed's data and result
do not depend on which process runs it, so the figures are the same for any --jobs.

Run: .venv/bin/python benchmarks/bench_evaluation.py [--seeds N] [--jobs 2] [--methods its,did,staggered,synth]
"""

from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import argparse  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402
from concurrent.futures import ProcessPoolExecutor  # noqa: E402
from dataclasses import dataclass  # noqa: E402
from datetime import date  # noqa: E402

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from gpcluster.evaluation.did import difference_in_differences  # noqa: E402
from gpcluster.evaluation.its import interrupted_time_series  # noqa: E402
from gpcluster.evaluation.panel import Panel, aggregate, quarter_index  # noqa: E402
from gpcluster.evaluation.simulate import (  # noqa: E402
    EMERGENCY_ADMISSIONS,
    PanelModel,
    group_units,
    plant,
    quarters,
    simulate_panel,
)
from gpcluster.evaluation.staggered import staggered_adoption  # noqa: E402
from gpcluster.evaluation.synth import synthetic_control  # noqa: E402
from gpcluster.synthetic.interventions import mean_log_effect  # noqa: E402

QUARTERS = 32
START = 20  # quarter index of the start for the single-date designs: 20 quarters before, 12 after
POST = 8
FIRST = date(2016, 4, 1)
PERIODS = quarters(FIRST, QUARTERS)
AE = PanelModel(rate=0.08, nb_shape=100.0)  # A&E attendances per patient per quarter


@dataclass
class Outcome:
    estimate: float
    lower: float
    upper: float
    seconds: float


def before_after(panel: Panel, treated: list[str], start: date, post: int, pre: int = 12) -> Outcome:
    """Baseline: treated units' combined rate after vs before (quasi-Poisson, model-based interval)."""
    import statsmodels.api as sm

    began = time.perf_counter()
    series = aggregate(panel, treated)
    h = quarter_index(series["period"], start)
    series = series[(h >= -pre) & (h < post)]
    after = (quarter_index(series["period"], start) >= 0).astype(float)
    X = np.column_stack([np.ones(len(series)), after])
    fit = sm.GLM(series["numerator"].to_numpy(), X, family=sm.families.Poisson(),
                 offset=np.log(series["denominator"].to_numpy())).fit(scale="X2")
    lo, hi = fit.conf_int()[1]
    return Outcome(float(fit.params[1]), float(lo), float(hi), time.perf_counter() - began)


def twfe(panel: Panel, starts: dict[str, date], post: int) -> Outcome:
    """Baseline for staggered roll-out: log rate on unit and quarter dummies plus one treated-after indicator,
    standard errors clustered by unit (what the Callaway and Sant'Anna estimator replaces)."""
    import statsmodels.api as sm

    began = time.perf_counter()
    f = panel.frame.assign(y=panel.analysis_value().to_numpy())
    start_of = f["unit"].map(starts)
    h = np.where(start_of.notna(), quarter_index(f["period"], FIRST) - quarter_index(start_of.fillna(FIRST), FIRST),
                 -1)
    f = f[h < post].copy()  # the same window of treated quarters as the method
    d = (h[h < post] >= 0).astype(float)
    X = pd.concat([pd.Series(d, index=f.index, name="d"), pd.Series(1.0, index=f.index, name="const"),
                   pd.get_dummies(f["unit"], drop_first=True, dtype=float),
                   pd.get_dummies(f["period"].astype(str), drop_first=True, dtype=float)], axis=1)
    fit = sm.OLS(f["y"].to_numpy(), X).fit(cov_type="cluster", cov_kwds={"groups": pd.factorize(f["unit"])[0]})
    lo, hi = fit.conf_int().loc["d"]
    return Outcome(float(fit.params["d"]), float(lo), float(hi), time.perf_counter() - began)


def _as_outcome(result) -> Outcome:
    e = result.effect
    return Outcome(e.estimate, e.lower, e.upper, result.seconds)


def scenario_its(rng, effect):
    panel, _ = simulate_panel(rng, 8, QUARTERS)
    start = PERIODS[START]
    panel = plant(rng, panel, {u: start for u in panel.units}, "step", effect)
    method = _as_outcome(interrupted_time_series(panel, panel.units, start, POST, pre_quarters=None))
    return method, before_after(panel, panel.units, start, POST), np.log(effect)


def scenario_did(rng, effect):
    panel, _ = simulate_panel(rng, 80, QUARTERS)
    start = PERIODS[START]
    treated = panel.units[:8]
    panel = plant(rng, panel, {u: start for u in treated}, "step", effect)
    method = _as_outcome(difference_in_differences(panel, treated, start, POST, pre_quarters=12))
    return method, before_after(panel, treated, start, POST), np.log(effect)


def scenario_staggered(rng, effect):
    panel, _ = simulate_panel(rng, 31 * 12, QUARTERS, model=EMERGENCY_ADMISSIONS)
    hscp = {u: f"H{i // 12:02d}" for i, u in enumerate(panel.units)}
    waves = {"H00": 14, "H01": 14, "H02": 17, "H03": 17, "H04": 20, "H05": 20}
    starts_h = {h: PERIODS[q] for h, q in waves.items()}
    starts = {u: starts_h[h] for u, h in hscp.items() if h in starts_h}
    panel = plant(rng, panel, starts, "ramp", effect, 6)
    hscps = group_units(panel, hscp, "hscp")
    method = _as_outcome(staggered_adoption(hscps, starts_h, POST, pre_quarters=8))
    return method, twfe(hscps, starts_h, POST), mean_log_effect("ramp", effect, 6, POST)


def scenario_synth(rng, effect):
    panel, _ = simulate_panel(rng, 41 * 6, QUARTERS, model=AE)
    cluster = {u: f"C{i // 6:02d}" for i, u in enumerate(panel.units)}
    start = PERIODS[START]
    panel = plant(rng, panel, {u: start for u, c in cluster.items() if c == "C00"}, "step", effect)
    clusters = group_units(panel, cluster, "cluster")
    method = _as_outcome(synthetic_control(clusters, "C00", start, POST))
    return method, before_after(clusters, ["C00"], start, POST), np.log(effect)


SCENARIOS = {
    "its": ("interrupted time series", "8 practices combined, step x0.92, 20 quarters before / 8 after",
            scenario_its, 0.92),
    "did": ("difference-in-differences", "8 of 80 practices, step x0.92, matched 4:1, 12 before / 8 after",
            scenario_did, 0.92),
    "staggered": ("staggered (Callaway-Sant'Anna)", "31 HSCPs of 12 practices, 6 in 3 waves, effect growing to "
                  "x0.85 over 6 quarters, emergency admissions", scenario_staggered, 0.85),
    "synth": ("synthetic control", "1 of 41 clusters of 6 practices, step x0.88, A&E attendances",
              scenario_synth, 0.88),
}


DEFAULT_SEEDS = {"its": 1000, "did": 400, "staggered": 400, "synth": 1000}


def rate(hits: int, n: int) -> str:
    """A share with its exact 95% interval, e.g. "0.05 (0.03-0.08)"."""
    from scipy.stats import binomtest

    ci = binomtest(hits, n).proportion_ci(0.95, method="exact")
    return f"{hits / n:.3f} ({ci.low:.3f}-{ci.high:.3f})"


def summarise(outcomes: list[Outcome], truth: float, null: list[Outcome]) -> tuple[str, float, str, float]:
    """Coverage, bias, false-positive rate and median seconds of one method."""
    covered = sum(o.lower <= truth <= o.upper for o in outcomes)
    bias = float(np.mean([o.estimate for o in outcomes]) - truth)
    false = sum(not (o.lower <= 0 <= o.upper) for o in null)
    seconds = float(np.median([o.seconds for o in outcomes + null]))
    return rate(covered, len(outcomes)), bias, rate(false, len(null)), seconds


def run_seed(key: str, seed: int) -> tuple[Outcome, Outcome, float, Outcome, Outcome]:
    """One seed of one design: (method, baseline, truth) with the planted effect, then (method, baseline)
    on the null arm."""
    warnings.filterwarnings("ignore")
    _, _, run, effect = SCENARIOS[key]
    m, b, truth = run(np.random.default_rng(1000 + seed), effect)
    m0, b0, _ = run(np.random.default_rng(500_000 + seed), 1.0)
    return m, b, truth, m0, b0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, default=None,
                        help="seeds per arm for every method (default: " +
                        ", ".join(f"{k} {v}" for k, v in DEFAULT_SEEDS.items()) + ")")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--methods", default=",".join(SCENARIOS))
    args = parser.parse_args()
    warnings.filterwarnings("ignore")
    print(__doc__.split("\n\n")[0])
    print(f"Data: simulated panels (gpcluster.evaluation.simulate), {QUARTERS} quarters; effects planted with "
          f"gpcluster.synthetic.interventions. Seeds per arm: {args.seeds or 'per method'}; processes: {args.jobs}; "
          f"load average at start: {os.getloadavg()[0]:.1f}")
    header = (f"{'method':<32} {'seeds':>5} {'coverage (95% CI)':>20} {'bias':>8} {'FPR (95% CI)':>20} {'s/eval':>7} | "
              f"{'baseline':<22} {'coverage (95% CI)':>20} {'bias':>8} {'FPR (95% CI)':>20} {'s/eval':>7}")
    rows = []
    began = time.perf_counter()
    with ProcessPoolExecutor(max_workers=args.jobs) as pool:
        for key in args.methods.split(","):
            name, data, _, _ = SCENARIOS[key]
            seeds = args.seeds or DEFAULT_SEEDS[key]
            results = list(pool.map(run_seed, [key] * seeds, range(seeds), chunksize=4))
            planted, base_planted, truths, null, base_null = (list(column) for column in zip(*results, strict=True))
            truth = float(np.mean(truths))
            coverage, bias, fpr, seconds = summarise(planted, truth, null)
            b_cov, b_bias, b_fpr, b_seconds = summarise(base_planted, truth, base_null)
            baseline = "two-way fixed effects" if key == "staggered" else "before/after"
            rows.append(f"{name:<32} {seeds:>5} {coverage:>20} {bias:>+8.4f} {fpr:>20} {seconds:>7.3f} | {baseline:<22} "
                        f"{b_cov:>20} {b_bias:>+8.4f} {b_fpr:>20} {b_seconds:>7.3f}")
            print(f"  {key}: {data}; planted effect {truth:+.4f} (log rate ratio); "
                  f"{time.perf_counter() - began:.0f} s so far, load average {os.getloadavg()[0]:.1f}", flush=True)
    print()
    print(header)
    print("-" * len(header))
    for row in rows:
        print(row)
    print("\nTargets: coverage 0.93-0.97, FPR <= 0.06. Bias and coverage against the planted effect; FPR on "
          "the null arm (same design, no effect). Intervals: exact binomial 95% intervals over the seeds.")


if __name__ == "__main__":
    main()
