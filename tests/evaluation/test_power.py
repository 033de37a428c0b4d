"""Power from history, validated by simulation: the analytic standard error of the planned
difference-in-differences matches the spread of the estimator over simulated data sets, and a planted
effect of exactly the minimum detectable size is found about 80% of the time."""

from __future__ import annotations

from datetime import date

import numpy as np
import pytest

from gpcluster.evaluation.did import difference_in_differences
from gpcluster.evaluation.power import did_standard_error, plan_power, unit_variation
from gpcluster.evaluation.simulate import PanelModel, plant, quarters, simulate_panel

PERIODS = quarters(date(2016, 4, 1), 28)
START = PERIODS[20]
MODEL = PanelModel()


def test_variation_is_recovered_from_a_long_panel():
    """White noise plus an AR(1) part: the model's own lag-1 and lag-2 correlations."""
    rng = np.random.default_rng(1)
    panel, _ = simulate_panel(rng, 1500, 14, model=MODEL)
    v = unit_variation(panel)
    noise = 1 / MODEL.nb_shape  # negative binomial: variance of the log count is about 1/k + 1/mu
    ar = MODEL.ar_sd**2
    expected_rho = MODEL.ar_rho * ar / (ar + noise + 1 / 5000)
    assert v.sigma == pytest.approx(np.sqrt(ar + noise + 1 / 5000), rel=0.08)
    assert v.rho == pytest.approx(expected_rho, abs=0.05)
    assert v.phi == pytest.approx(MODEL.ar_rho, abs=0.25)


def test_analytic_standard_error_and_power_match_simulation():
    rng = np.random.default_rng(2)
    history, _ = simulate_panel(rng, 300, 20, model=MODEL)
    planned = plan_power(history, "did", history.units[:8], PERIODS[20], post_quarters=8, pre_quarters=12,
                         n_comparison=32)
    estimates, found = [], []
    for seed in range(40):
        r = np.random.default_rng(100 + seed)
        panel, _ = simulate_panel(r, 40, 28, model=MODEL)
        treated = panel.units[:8]
        panel = plant(r, panel, {u: START for u in treated}, "step", float(np.exp(-planned.mde)))
        result = difference_in_differences(panel, treated, START, post_quarters=8, pre_quarters=12,
                                           comparison=panel.units[8:])
        estimates.append(result.effect.estimate)
        found.append(result.effect.significant)
    # within sampling error of 40 simulations (about +-12% on a standard deviation, +-0.13 on a rate)
    assert np.std(estimates) == pytest.approx(planned.se, rel=0.25)
    assert 0.55 <= np.mean(found) <= 0.95


def test_more_practices_and_quarters_make_smaller_effects_visible():
    rng = np.random.default_rng(3)
    history, _ = simulate_panel(rng, 200, 20, model=MODEL)
    v = unit_variation(history)
    assert did_standard_error(v, 16, 64, 12, 8) < did_standard_error(v, 8, 32, 12, 8)
    assert did_standard_error(v, 8, 32, 12, 12) < did_standard_error(v, 8, 32, 12, 4)


def test_the_sentence_states_the_design_and_the_smallest_visible_change():
    rng = np.random.default_rng(4)
    history, _ = simulate_panel(rng, 120, 20, model=MODEL)
    result = plan_power(history, "did", history.units[:8], PERIODS[20], post_quarters=12, pre_quarters=12)
    assert result.sentence.startswith("With 8 practices, 32 for comparison, 12 quarters before and 12 quarters "
                                      "after the start, a change in simulated events per 1,000 patients smaller "
                                      f"than {result.mde_percent:.0f}% would probably not be detected")
    assert 0 < result.mde_percent < 20
    its = plan_power(history, "its", history.units[:8], PERIODS[20], post_quarters=12)
    assert its.n_comparison == 0 and "8 practices and 20 quarters before" in its.sentence
