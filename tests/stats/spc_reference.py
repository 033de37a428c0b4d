"""A deliberately plain, loop-per-point transcription of NHSRplotthedots' XmR rules
(``ptd_spc_standard``, ``ptd_calculate_point_type``), used as an independent reference for
gpcluster.stats.spc in tests and as the per-row baseline in benchmarks/bench_stats.py."""

from __future__ import annotations

import math


def reference_xmr(y, improvement=0, screen_outliers=True, trend_length=7, shift_length=7):
    """Return (mean, lpl, upl, rule codes, point type codes) for one series (list of floats)."""
    n = len(y)
    mean = sum(y) / n
    mr = [abs(y[i] - y[i - 1]) for i in range(1, n)]
    amr = sum(mr) / len(mr)
    if screen_outliers:
        kept = [m for m in mr if m < 3.267 * amr]
        amr = sum(kept) / len(kept)
    upl, lpl = mean + 2.66 * amr, mean - 2.66 * amr
    nupl, nlpl = mean + 2 * 2.66 / 3 * amr, mean - 2 * 2.66 / 3 * amr
    outside = [v > upl or v < lpl for v in y]
    rtm = [0 if v == mean else int(math.copysign(1, v - mean)) for v in y]
    close = [(not outside[i]) and (y[i] < nlpl or y[i] > nupl) for i in range(n)]

    # runs on one side of the mean: end-of-run markers, then every point of the run
    shift_end = [0] * n
    for i in range(shift_length - 1, n):
        window = rtm[i - shift_length + 1 : i + 1]
        if rtm[i] != 0 and all(v == rtm[i] for v in window):
            shift_end[i] = rtm[i]
    trend_end = [0] * n
    for i in range(trend_length - 1, n):
        diffs = [y[j] - y[j - 1] for j in range(i - trend_length + 2, i + 1)]
        if all(d > 0 for d in diffs):
            trend_end[i] = 1
        elif all(d < 0 for d in diffs):
            trend_end[i] = -1

    def part_of(ends, length, sign):
        return [any(ends[j] == sign for j in range(i, min(i + length, n))) for i in range(n)]

    shift_up, shift_down = part_of(shift_end, shift_length, 1), part_of(shift_end, shift_length, -1)
    trend_up, trend_down = part_of(trend_end, trend_length, 1), part_of(trend_end, trend_length, -1)
    two3 = [False] * n
    for start in range(0, n - 2):
        idx = [start, start + 1, start + 2]
        if sum(close[j] for j in idx) >= 2 and abs(sum(rtm[j] for j in idx)) == 3:
            for j in idx:
                if close[j]:
                    two3[j] = True

    codes, types = [], []
    for i in range(n):
        if y[i] > upl:
            c = 1
        elif y[i] < lpl:
            c = 2
        elif trend_up[i]:
            c = 3
        elif trend_down[i]:
            c = 4
        elif two3[i]:
            c = 5 if rtm[i] > 0 else 6
        elif shift_up[i]:
            c = 7
        elif shift_down[i]:
            c = 8
        else:
            c = 0
        codes.append(c)
        if c == 0:
            types.append(0)
        elif improvement == 0:
            types.append(3 if rtm[i] > 0 else 4)
        else:
            types.append(1 if rtm[i] == improvement else 2)
    return mean, lpl, upl, codes, types
