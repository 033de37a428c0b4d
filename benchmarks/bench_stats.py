"""Throughput of gpcluster.stats on 1,000,000 points against plain per-row Python in the same process.

Computes (1) OHID funnel significance for 1,000,000 proportions and (2) Making Data Count XmR signals for
1,000 series of 1,000 points, each with the vectorised API and with a per-row Python implementation of
the same computation written the way a competent analyst would (the XmR one carries run and trend
lengths forward with running counters; it does not rescan a 7-point window at every point, which would
measure the baseline's fault, not the library). The per-row baselines run on a sample (bounded time on a
shared machine) and are checked for identical results; throughput is points per second.

Run: .venv/bin/python benchmarks/bench_stats.py [--series 1000] [--length 1000] [--sample 0.05]
"""

from __future__ import annotations

import argparse
import importlib.util
import math
import time
from pathlib import Path
from statistics import NormalDist

import numpy as np

from gpcluster.stats import funnel, spc

ROOT = Path(__file__).resolve().parents[1]


def _load_reference():
    path = ROOT / "tests" / "stats" / "spc_reference.py"
    spec = importlib.util.spec_from_file_location("spc_reference", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.reference_xmr


def per_row_proportion_significance(x, n, pbar):
    """Plain Python: OHID funnel label one unit at a time (z-score form of the Wilson-inverted limits)."""
    labels = []
    q95, q998 = (NormalDist().inv_cdf(0.5 + level / 2) for level in (0.95, 0.998))
    spread = pbar * (1 - pbar)
    for xi, ni in zip(x, n, strict=True):
        z = (xi / ni - pbar) / math.sqrt(spread / ni)
        if z < -q998:
            labels.append(funnel.LOW_998)
        elif z < -q95:
            labels.append(funnel.LOW_95)
        elif z > q998:
            labels.append(funnel.HIGH_998)
        elif z > q95:
            labels.append(funnel.HIGH_95)
        else:
            labels.append(funnel.NOT_SIGNIFICANT)
    return labels


def per_row_proportion_significance_ohid_formula(x, n, pbar):
    """Plain Python: OHID's Wilson-inverted limits exactly as published ((A ∓ D/8)/L/n), then the label."""
    labels = []
    qs = [NormalDist().inv_cdf(0.5 + level / 2) for level in (0.95, 0.998)]
    for xi, ni in zip(x, n, strict=True):
        lims = []
        for q in qs:
            q2 = q * q
            a = pbar * (ni / q2 + 1)
            lden = 1 / q2 + 1 / ni
            disc = (-8 * a) ** 2 - 64 * lden * pbar * (ni * (pbar * (ni / q2 + 2) - 1) + q2 * (pbar - 1))
            d = math.sqrt(max(disc, 0.0))
            lims.append(((a - d / 8) / lden / ni, (a + d / 8) / lden / ni))
        (l95, u95), (l998, u998) = lims
        p = xi / ni
        if p < l998:
            labels.append(funnel.LOW_998)
        elif p < l95:
            labels.append(funnel.LOW_95)
        elif p > u998:
            labels.append(funnel.HIGH_998)
        elif p > u95:
            labels.append(funnel.HIGH_95)
        else:
            labels.append(funnel.NOT_SIGNIFICANT)
    return labels


def per_row_xmr(y, improvement=0, trend_length=7, shift_length=7):
    """Plain Python, one pass per series with running counters (what a competent per-row implementation
    does): run and trend lengths are carried forward, never rescanned. Same rules and output as
    tests/stats/spc_reference.py: (rule codes, point type codes)."""
    n = len(y)
    mean = sum(y) / n
    mr = [abs(y[i] - y[i - 1]) for i in range(1, n)]
    amr = sum(mr) / len(mr)
    kept = [m for m in mr if m < 3.267 * amr]
    amr = sum(kept) / len(kept)
    upl, lpl = mean + 2.66 * amr, mean - 2.66 * amr
    nupl, nlpl = mean + 2 * 2.66 / 3 * amr, mean - 2 * 2.66 / 3 * amr
    side = [0] * n
    shift = [0] * n
    trend = [0] * n
    two3 = [False] * n
    close = [False] * n
    run = rising = falling = 0
    for i in range(n):
        v = y[i]
        s = 0 if v == mean else (1 if v > mean else -1)
        side[i] = s
        close[i] = lpl <= v <= upl and (v < nlpl or v > nupl)
        run = run + 1 if s != 0 and i > 0 and side[i - 1] == s else (1 if s != 0 else 0)
        if run >= shift_length:
            for j in range(i - shift_length + 1 if run == shift_length else i, i + 1):
                shift[j] = s
        if i > 0:
            rising = rising + 1 if v > y[i - 1] else 0
            falling = falling + 1 if v < y[i - 1] else 0
            for count, sign in ((rising, 1), (falling, -1)):
                if count >= trend_length - 1:
                    for j in range(i - trend_length + 1 if count == trend_length - 1 else i, i + 1):
                        trend[j] = trend[j] or sign
        if i >= 2 and side[i] != 0 and side[i] == side[i - 1] == side[i - 2] \
                and close[i] + close[i - 1] + close[i - 2] >= 2:
            for j in (i - 2, i - 1, i):
                two3[j] = two3[j] or close[j]
    codes, types = [], []
    for i in range(n):
        if y[i] > upl:
            c = 1
        elif y[i] < lpl:
            c = 2
        elif trend[i]:
            c = 3 if trend[i] > 0 else 4
        elif two3[i]:
            c = 5 if side[i] > 0 else 6
        elif shift[i]:
            c = 7 if shift[i] > 0 else 8
        else:
            c = 0
        codes.append(c)
        types.append(0 if c == 0 else (3 if side[i] > 0 else 4) if improvement == 0
                     else (1 if side[i] == improvement else 2))
    return codes, types


def _timed(fn, *args, repeat: int = 3, **kwargs):
    """Result and best wall time of `repeat` runs (the machine is shared, so take the least disturbed)."""
    best = math.inf
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn(*args, **kwargs)
        best = min(best, time.perf_counter() - t0)
    return out, best


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--series", type=int, default=1000)
    ap.add_argument("--length", type=int, default=1000)
    ap.add_argument("--sample", type=float, default=0.05, help="fraction run through the per-row baseline")
    args = ap.parse_args()
    rng = np.random.default_rng(0)
    total = args.series * args.length
    n_sample_series = max(1, int(args.series * args.sample))

    # 1. funnel significance
    n = rng.integers(100, 20_000, total)
    x = rng.binomial(n, np.clip(0.3 + rng.normal(0, 0.03, total), 0.001, 0.999))
    vec, t_vec = _timed(funnel.proportion_significance, x, n)
    codes, t_codes = _timed(funnel.proportion_significance, x, n, as_codes=True)
    pbar = float(x.sum() / n.sum())
    k = n_sample_series * args.length
    base, t_base = _timed(per_row_proportion_significance, x[:k].tolist(), n[:k].tolist(), pbar)
    assert list(vec[:k]) == base, "per-row and vectorised funnel labels differ"
    assert [funnel.LABELS[c] for c in codes[:k]] == base, "codes and labels differ"
    _report("funnel significance (OHID proportions), label strings", total, t_vec, k, t_base)
    _report("funnel significance (OHID proportions), int8 codes", total, t_codes, k, t_base)
    funnel_vec, funnel_base = t_vec / total, t_base / k
    literal, t_literal = _timed(
        per_row_proportion_significance_ohid_formula, x[:k].tolist(), n[:k].tolist(), pbar
    )
    assert literal == base, "the published formula and its closed form give different labels"
    _report("funnel significance, labels, vs per-row published OHID formula (a heavier baseline, not the fair one)",
            total, t_vec, k, t_literal)

    # 2. XmR signals
    values = rng.normal(100, 10, (args.series, args.length)).round(1)
    values[: args.series // 10] += np.linspace(0, 40, args.length)  # some drifting series
    res, t_vec = _timed(spc.xmr_signals_batch, values, "increase")
    reference_xmr = _load_reference()

    def per_row(rows):
        return [per_row_xmr(r, 1) for r in rows]

    sample = values[:n_sample_series]
    base, t_base = _timed(per_row, sample.tolist())
    for i, (codes, types) in enumerate(base):
        assert res.rule[i].tolist() == codes and res.point_type[i].tolist() == types, f"series {i} differs"
        if i < 10:  # the running-counter baseline agrees with the independent reference transcription too
            assert reference_xmr(sample[i].tolist(), 1)[3:] == (codes, types), f"series {i}: reference differs"
    _report("XmR signals (Making Data Count), per-row baseline with running counters", total, t_vec,
            n_sample_series * args.length, t_base)
    both_vec = funnel_vec + t_vec / total
    both_base = funnel_base + t_base / (n_sample_series * args.length)
    print(f"funnel labels + XmR signals per point: {both_base / both_vec:,.0f}x (target >= 50x)")


def _report(name: str, total: int, t_vec: float, k: int, t_base: float) -> None:
    vec_rate = total / t_vec
    base_rate = k / t_base
    print(f"{name}:")
    print(f"  vectorised : {total:>9,} points in {t_vec:7.3f} s = {vec_rate:12,.0f} points/s")
    print(f"  per-row    : {k:>9,} points in {t_base:7.3f} s = {base_rate:12,.0f} points/s (same results)")
    print(f"  speed-up   : {vec_rate / base_rate:,.0f}x (target >= 50x)")


if __name__ == "__main__":
    main()
