"""Coverage from a roster, and the scenario comparison, checked by hand on the small HSCP."""

from __future__ import annotations

import pandas as pd
import pytest

from gpcluster.workforce.allocate import allocate
from gpcluster.workforce.compare import compare, gp_time
from gpcluster.workforce.coverage import coverage, roster_budgets
from gpcluster.workforce.equity import concentration_index

POSTS = pd.DataFrame({"post_id": ["P1", "P2"], "role": ["pharmacist", "anp"], "wte": [1.0, 0.5]})
SESSIONS = pd.DataFrame({"post_id": ["P1", "P1", "P2"], "practice_code": ["90005", "90001", "90006"],
                         "sessions_per_week": [8.0, 1.0, 4.0]})


def test_coverage_by_hand(practices, agesex):
    cov = coverage(practices, agesex, POSTS, SESSIONS).set_index(["practice_code", "role"])
    # Lochside: 1 pharmacist session = 4 h = 4/37.5 WTE; per 10,000 patients: 0.10667 x 10000/1500 = 0.7111
    lochside = cov.loc[("90001", "pharmacist")]
    assert lochside["hours_per_week"] == pytest.approx(4.0)
    assert lochside["wte_per_10k_patients"] == pytest.approx(4 / 37.5 * 10_000 / 1500)
    assert cov.loc[("90002", "pharmacist"), "hours_per_week"] == 0
    # gaps within a role add to zero: the same hours, shared by need instead
    assert cov.xs("pharmacist", level="role")["gap_hours"].sum() == pytest.approx(0, abs=1e-9)
    clusters = coverage(practices, agesex, POSTS, SESSIONS, level="cluster").set_index(["cluster_id", "role"])
    assert clusters.loc[("H/island", "pharmacist"), "hours_per_week"] == pytest.approx(4.0)
    assert clusters.loc[("H/town", "pharmacist"), "list_size"] == 24_000


def test_roster_budgets_count_delivered_sessions(practices):
    budgets = roster_budgets(POSTS, SESSIONS, practices).set_index("role")["wte"]
    assert budgets["pharmacist"] == pytest.approx(36 / 37.5)
    assert budgets["anp"] == pytest.approx(16 / 37.5)


def test_gp_time_released_minus_supervision(practices, agesex):
    alloc = allocate(practices, agesex, "per_capita", 2.0, role="anp")
    g = gp_time(alloc).set_index("practice_code")
    # Burgh: 30 h of ANP on site x 0.8 released = 24 h; supervision 0.8 WTE x 2.0 h = 1.6 h; net 22.4 h
    assert g.loc["90005", "gp_hours_released"] == pytest.approx(24.0)
    assert g.loc["90005", "gp_supervision_hours"] == pytest.approx(1.6)
    assert g.loc["90005", "gp_net_hours"] == pytest.approx(22.4)


def test_compare_per_capita_with_need_weighted(practices, agesex):
    a = allocate(practices, agesex, "per_capita", 2.0)
    b = allocate(practices, agesex, "need_weighted", 2.0)
    result = compare(a, b, practices, agesex)
    table = result["practices"].set_index("practice_code")
    assert table["hours_a"].sum() == pytest.approx(75) and table["hours_b"].sum() == pytest.approx(75)
    assert table.loc["90006", "outcome"] == "loses" and table.loc["90005", "outcome"] == "gains"
    q = result["by_simd_quintile"].set_index("simd_quintile")
    assert q.loc[1, "hours_a"] == pytest.approx(30.0)
    assert q["hours_b"].sum() == pytest.approx(75)
    equity = result["equity"].set_index("scenario")
    # Per capita gives every patient the same hours: no concentration in either direction.
    assert equity.loc["a", "concentration_index_hours_per_patient"] == pytest.approx(0, abs=1e-12)
    # Need-weighting favours the most deprived practice (Burgh, ranked first): negative CI, matching an
    # independent computation on the comparison table.
    expected = concentration_index(table["hours_b"] / table["list_size"], practices.set_index("practice_code")
                                   .loc[table.index, "simd_rank"], table["list_size"])
    assert equity.loc["b", "concentration_index_hours_per_patient"] == pytest.approx(expected)
    assert expected < 0
    inverse = result["inverse_care"].set_index("simd_decile")
    assert inverse.loc[1, "hours_per_10k_need_b"] > inverse.loc[1, "hours_per_10k_need_a"]
    gp = result["gp_time"].set_index("scenario")
    assert gp.loc["a", "gp_hours_released"] == pytest.approx(75 * 0.5)


def test_compare_with_prepared_practices_gives_the_same_tables(practices, agesex):
    """The web planner compares many pairs over one area with the practices and need prepared once."""
    from gpcluster.workforce.compare import practices_with_need

    a = allocate(practices, agesex, "per_capita", 2.0)
    b = allocate(practices, agesex, "need_weighted", 2.0)
    fresh = compare(a, b, practices, agesex)
    reused = compare(a, b, practices, agesex, prepared=practices_with_need(practices, agesex))
    for name, table in fresh.items():
        pd.testing.assert_frame_equal(table, reused[name], check_like=True)


def test_a_practice_with_no_rurality_class_is_described_without_one(practices, agesex):
    from gpcluster.workforce.plain import describe_practice

    unknown = practices.assign(urban_rural_8=pd.array([pd.NA] * len(practices), dtype="Int64"))
    alloc = allocate(practices, agesex, "per_capita", 2.0)
    sentence = describe_practice(alloc, unknown, "90005")[0]
    assert "unknown rurality" in sentence and "hours of pharmacist time a week" in sentence


def test_every_role_summarised_at_once_matches_each_role_summarised_alone(practices, agesex):
    """summarise_roles (the web planner's one pass per model) against summarise() of each role's rows and
    of all rows, and against GP time and equity worked from gp_time() directly."""
    from gpcluster.workforce.allocate import allocate_roles
    from gpcluster.workforce.compare import practices_with_need, summarise, summarise_roles

    budgets = pd.DataFrame({"hscp_code": ["S37000099"] * 2, "role": ["pharmacist", "anp"], "wte": [2.0, 0.5]})
    allocation = allocate_roles(practices, agesex, "rurality_aware", budgets)
    prepared = practices_with_need(practices, agesex)
    every = summarise_roles(allocation, prepared)
    assert set(every) == {None, "pharmacist", "anp"}
    for role, rows in [(None, allocation), *allocation.groupby("role")]:
        alone = summarise(rows, prepared)
        assert every[role].hours.tolist() == alone.hours.tolist()
        assert every[role].equity == alone.equity and every[role].gp_time == alone.gp_time
    released = gp_time(allocation)
    hours = released.groupby("practice_code")["on_site_hours_per_week"].sum()
    assert every[None].hours.tolist() == pytest.approx(prepared["practice_code"].map(hours).tolist())
    assert every[None].gp_time["gp_net_hours"] == pytest.approx(released["gp_net_hours"].sum())
    # the pharmacist's own hours exclude the ANP's: Harbour gets ANP time only under its own row
    harbour = prepared.index[prepared["practice_code"] == "90006"][0]
    assert every["pharmacist"].hours[harbour] + every["anp"].hours[harbour] == pytest.approx(every[None].hours[harbour])


def test_practices_are_ordered_as_a_pandas_sort_by_change_orders_them():
    """compare_summaries sorts by index arithmetic rather than DataFrame.sort_values (one take of the
    columns instead of a frame built and sorted): ties (many practices with no change), a missing change
    and the other columns must come out exactly as a plain pandas sort of the unsorted table gives them."""
    import numpy as np

    from gpcluster.workforce.compare import ModelSummary, compare_summaries

    rng = np.random.default_rng(7)
    n = 60
    prepared = pd.DataFrame({
        "practice_code": [f"{10000 + i}" for i in range(n)], "practice_name": [f"Practice {i}" for i in range(n)],
        "cluster_id": [f"c{i % 7}" for i in range(n)], "hscp_code": [f"h{i % 3}" for i in range(n)],
        "list_size": rng.integers(2000, 12000, n).astype(float),
        "need_weighted_population": rng.uniform(2000, 12000, n),
        "simd_decile": rng.integers(1, 11, n), "simd_quintile": rng.integers(1, 6, n),
        "urban_rural_8": rng.integers(1, 9, n)})
    hours_a = rng.choice([0.0, 4.0, 8.0, 12.0], n)
    hours_b = hours_a + rng.choice([0.0, 0.0, 0.0, -2.0, 3.5], n)  # mostly ties at no change
    hours_b[5] = np.nan
    net_a, net_b = rng.uniform(0, 5, n), rng.uniform(0, 5, n)
    sa = ModelSummary("a", hours_a, net_a, {}, {})
    sb = ModelSummary("b", hours_b, net_b, {}, {})

    got = compare_summaries(sa, sb, prepared)["practices"]

    change = hours_b - hours_a
    with np.errstate(divide="ignore", invalid="ignore"):
        pct = np.where(hours_a > 0, 100 * change / np.where(hours_a > 0, hours_a, np.nan), np.nan)
    expected = prepared[["practice_code", "practice_name", "cluster_id", "hscp_code", "list_size",
                         "need_weighted_population", "simd_decile", "simd_quintile", "urban_rural_8"]].copy()
    expected["hours_a"], expected["hours_b"], expected["change_hours"], expected["change_pct"] = \
        hours_a, hours_b, change, pct
    expected["outcome"] = np.select([change > 0.05, change < -0.05], ["gains", "loses"], "no change")
    expected["gp_net_hours_a"], expected["gp_net_hours_b"] = net_a, net_b
    expected = expected.sort_values("change_hours").reset_index(drop=True)
    assert got["practice_code"].iloc[-1] == "10005"  # the missing change last
    pd.testing.assert_frame_equal(got, expected, check_exact=True)
