"""The signal detectors, checked against hand-worked grids and a reference implementation (statsmodels'
Benjamini-Hochberg)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from statsmodels.stats.multitest import multipletests

from gpcluster.signals.detect import (
    BASELINE_POINTS,
    Series,
    benjamini_hochberg,
    change_evidence,
    level_evidence,
    runs,
)


def _series(observed, expected, z=None) -> Series:
    observed = np.atleast_2d(np.asarray(observed, dtype=float))
    expected = np.broadcast_to(np.asarray(expected, dtype=float), observed.shape).copy()
    z = np.full(observed.shape, np.nan) if z is None else np.atleast_2d(np.asarray(z, dtype=float))
    keys = pd.DataFrame({"indicator_id": "x", "level": "practice", "area_code": [f"{i}" for i in range(len(observed))]})
    periods = pd.date_range("2016-04-01", periods=observed.shape[1], freq="QS").to_numpy()
    return Series(keys, periods, observed, expected, z, np.zeros(observed.shape, dtype=int))


def test_benjamini_hochberg_matches_statsmodels():
    rng = np.random.default_rng(7)
    p = np.concatenate([rng.uniform(size=200), rng.uniform(0, 1e-4, size=10)])
    ours = benjamini_hochberg(p[:, None])[:, 0]
    reference = multipletests(p, method="fdr_bh")[1]
    assert ours == pytest.approx(reference, rel=1e-12)


def test_level_needs_two_quarters_a_large_difference_and_a_discovery():
    # 200 ordinary units (z 0) and five special ones, over four quarters
    z = np.zeros((205, 4))
    ratio = np.ones((205, 4))
    z[200] = [4.0, 4.0, 4.0, 4.0]  # far out throughout, 60% above: a signal from the first quarter
    ratio[200] = 1.6
    z[201] = [0.0, 4.0, 4.0, 0.0]  # beyond 99.8% twice: a signal in the second of them only
    ratio[201] = [1.0, 1.5, 1.5, 1.0]
    z[202] = [2.5, 4.0, 1.0, 1.0]  # beyond 95% then 99.8%: a signal in the second quarter
    ratio[202] = [1.3, 1.5, 1.1, 1.1]
    z[203] = [4.5, 4.5, 4.5, 4.5]  # far out but only 10% away from expected: not worth a meeting
    ratio[203] = 1.1
    z[204] = [-3.2, -3.2, 2.0, 2.0]  # just beyond 99.8% low, twice
    ratio[204] = [0.7, 0.7, 1.2, 1.2]
    series = _series(100 * ratio, 100.0, z)
    got = level_evidence(series)
    assert got[200].tolist() == [1, 1, 1, 1]
    assert got[201].tolist() == [0, 0, 1, 0]
    assert got[202].tolist() == [0, 1, 0, 0]
    assert got[203].tolist() == [0, 0, 0, 0]
    assert not got[:200].any()
    # z = -3.2 (p 0.0014) is no discovery at a 1% false discovery rate among 205 units: 0.0014 x 205 / 5 > 0.01
    assert got[204].tolist() == [0, 0, 0, 0]


def test_a_step_is_found_in_the_second_quarter_after_it():
    rng = np.random.default_rng(3)
    baseline = BASELINE_POINTS + 2
    expected = np.full((300, baseline + 4), 2000.0)
    observed = rng.poisson(expected).astype(float)
    observed[0, baseline:] = rng.poisson(expected[0, baseline:] * 1.3)  # +30% from quarter `baseline`
    found = change_evidence(_series(observed, expected))
    assert found.direction[0, baseline] == 0  # one quarter is not yet evidence
    assert found.direction[0, baseline + 1] == 1
    assert found.relative[0, baseline + 1] == pytest.approx(0.3, abs=0.06)
    assert not found.direction[1:].any()  # no false alarm among 299 steady units
    assert not found.tested[:, : BASELINE_POINTS + 1].any()  # too few points before that: not tested


def test_runs_start_persist_and_resolve():
    evidence = np.array([[0, 1, 1, 1, 0, -1, -1, 0]])
    run = runs(evidence)
    assert run.start[0].tolist() == [-1, 1, 1, 1, -1, 5, 5, -1]
    assert run.persistence[0].tolist() == [0, 1, 2, 3, 0, 1, 2, 0]
    assert run.resolved[0].tolist() == [False, False, False, False, True, False, False, True]
    assert run.ended[0].tolist() == [0, 0, 0, 0, 1, 0, 0, -1]
