"""Planted interventions in the synthetic Scotland: effect shapes, counts thinned or topped up without
changing their distribution's shape, and a truth table the demo and the benchmark score against."""

from __future__ import annotations

import numpy as np
import pytest

from gpcluster.synthetic import build_scotland
from gpcluster.synthetic.interventions import PLANS, apply_multipliers, mean_log_effect, multiplier


@pytest.mark.parametrize("shape, effect, ramp, expected", [
    ("step", 0.9, 0, [1, 1, 0.9, 0.9, 0.9]),
    ("ramp", 0.81, 2, [1, 1, 0.9, 0.81, 0.81]),
    ("none", 0.5, 0, [1, 1, 1, 1, 1]),
])
def test_effect_shapes(shape, effect, ramp, expected):
    assert np.allclose(multiplier(shape, effect, np.arange(-2, 3), ramp), expected)


def test_mean_log_effect_of_a_ramp():
    assert mean_log_effect("ramp", 0.81, 2, 4) == pytest.approx(np.log(0.9) * (1 + 2 + 2 + 2) / 4)


def test_thinning_and_topping_up_scale_the_mean_and_keep_poisson_counts_poisson():
    rng = np.random.default_rng(0)
    counts = rng.poisson(50.0, 200_000)
    down = apply_multipliers(rng, counts, np.full(counts.shape, 0.8))
    up = apply_multipliers(rng, counts, np.full(counts.shape, 1.25))
    assert down.mean() == pytest.approx(40.0, rel=0.005) and down.var() == pytest.approx(40.0, rel=0.02)
    assert up.mean() == pytest.approx(62.5, rel=0.005)
    assert (down <= counts).all() and (up >= counts).all()


def test_the_synthetic_scotland_plants_every_plan_with_a_truth_table():
    s = build_scotland(20180401)
    truth = s.interventions
    assert set(truth["intervention_id"]) == {p.intervention_id for p in PLANS}
    rollout = truth[truth["intervention_id"] == "frailty-team-rollout"]
    assert rollout["unit"].nunique() == 6 and rollout["start"].nunique() == 3  # staggered, three waves
    assert set(truth.loc[truth["shape"] == "none", "effect"]) == {1.0}  # null interventions
    signal_practices = {x.practice_code for x in s.signals}  # HSCP-wide roll-outs take every practice
    assert not signal_practices & set(truth.loc[truth["level"] != "hscp", "practice_code"])
    for measure, rows in truth.groupby("measure"):  # no practice in two interventions on one measure
        assert not rows.duplicated("practice_code").any(), measure
    nulls = truth[truth["level"] != "hscp"]
    assert not set(nulls["practice_code"]) & set(rollout["practice_code"])


def test_the_planted_step_is_visible_in_the_activity():
    s = build_scotland(20180401)
    rows = s.interventions[s.interventions["intervention_id"] == "pharmacotherapy-pilot"]
    start = int(rows["start"].iloc[0].strftime("%Y%m%d"))
    a = s.activity[(s.activity["Measure"] == "gp_consultations")]
    treated = a["PracticeCode"].astype(str).isin(rows["practice_code"])
    share = a[treated].groupby("Date")["Value"].sum() / a[~treated].groupby("Date")["Value"].sum()
    dates = sorted(share.index)
    k = dates.index(start)
    # the year after against the year before (the treated practices' share drifts slowly with list growth)
    ratio = share.loc[dates[k:k + 4]].mean() / share.loc[dates[k - 4:k]].mean()
    assert ratio == pytest.approx(0.92, abs=0.02)


def test_the_demo_registers_the_pilot_a_second_time_for_an_interrupted_time_series():
    from gpcluster.synthetic.interventions import registrations

    truth = build_scotland(20180401).interventions
    by_id = {r["id"]: r for r in registrations(truth)}
    assert set(by_id) == {p.intervention_id for p in PLANS} | {"pharmacotherapy-pilot-its"}
    pilot, twin = by_id["pharmacotherapy-pilot"], by_id["pharmacotherapy-pilot-its"]
    assert twin["plan"]["method"] == "its" and pilot["plan"]["method"] == "did"
    assert twin["units"] == pilot["units"] and twin["outcomes"] == pilot["outcomes"]
