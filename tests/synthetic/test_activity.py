"""Synthetic activity: one row per open practice, quarter and measure, with the documented relationships
to age, deprivation and rurality visible in aggregate, and the planted signals findable."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm

from gpcluster.synthetic import MEASURES, planted_signals


@pytest.fixture(scope="module")
def panel(activity, populations, contacts, simd, urban_rural) -> pd.DataFrame:
    """Practice x quarter: activity measures, list by band, SIMD quintile and urban-rural class."""
    wide = activity.pivot_table(index=["Date", "PracticeCode"], columns="Measure", values="Value").reset_index()
    lists = populations[populations["Sex"] == "All"]
    zone = contacts.drop_duplicates("PracticeCode")[["PracticeCode", "DataZone"]]
    return (wide.merge(lists, on=["Date", "PracticeCode"], how="outer", indicator=True)
            .merge(zone, on="PracticeCode").merge(simd[["DataZone", "SIMD2020V2CountryQuintile"]], on="DataZone")
            .merge(urban_rural[["DataZone", "UrbanRural6fold2020"]], on="DataZone"))


def test_one_row_per_open_practice_quarter_and_measure(activity, panel):
    assert (panel["_merge"] == "both").all()
    assert set(activity["Measure"]) == set(MEASURES)
    assert not activity.duplicated(["Date", "PracticeCode", "Measure"]).any()
    assert (activity["Value"] >= 0).all()
    assert (panel["high_risk_rx_patients"] <= panel["high_risk_rx_denominator"]).all()
    over65 = panel[["Ages65to74", "Ages75to84", "Ages85plus"]].sum(axis=1)
    assert (panel["high_risk_rx_denominator"] <= over65).all()


def _rate(frame, measure):
    return frame[measure].sum() / frame["AllAges"].sum() * 4000  # per 1,000 patients per year


def test_deprivation_raises_admissions_attendances_and_consultations(panel):
    recent = panel[panel["Date"] >= 20240101]
    by_q = {q: f for q, f in recent.groupby("SIMD2020V2CountryQuintile")}
    assert _rate(by_q[1], "emergency_admissions") > 1.25 * _rate(by_q[5], "emergency_admissions")
    assert _rate(by_q[1], "ae_attendances") > 1.4 * _rate(by_q[5], "ae_attendances")
    assert _rate(by_q[1], "gp_consultations") > 1.05 * _rate(by_q[5], "gp_consultations")


def test_emergency_admissions_rise_with_the_older_share_after_allowing_for_deprivation(panel, synthetic_dir):
    truth = pd.read_csv(synthetic_dir / "interventions_truth.csv", dtype={"practice_code": str})
    planted = set(truth.loc[truth["shape"] != "none", "practice_code"])  # deliberate changes unrelated to age
    recent = panel[(panel["Date"] == 20240101) & ~panel["PracticeCode"].isin(planted)].copy()
    recent["share75"] = (recent["Ages75to84"] + recent["Ages85plus"]) / recent["AllAges"]
    design = pd.get_dummies(recent["SIMD2020V2CountryQuintile"], prefix="q", drop_first=True, dtype=float)
    design["share75"] = recent["share75"]
    model = sm.GLM(recent["emergency_admissions"], sm.add_constant(design), family=sm.families.Poisson(),
                   offset=np.log(recent["AllAges"])).fit()
    assert model.params["share75"] > 1.5  # each +10 points of 75+ share: rate x e^0.15 or more
    assert (model.params[["q_2", "q_3", "q_4", "q_5"]] < 0).all()  # less deprived than quintile 1 -> fewer
    assert model.params["q_5"] < -0.3
    recent["rate"] = recent["emergency_admissions"] / recent["AllAges"]
    for quintile, same in recent.groupby("SIMD2020V2CountryQuintile"):  # older lists, more admissions
        assert np.corrcoef(same["share75"], same["rate"])[0, 1] > 0.3, quintile


def test_remote_rural_practices_see_fewer_ae_attendances(panel):
    recent = panel[panel["Date"] >= 20240101]
    by_class = {c: f for c, f in recent.groupby("UrbanRural6fold2020")}
    assert _rate(by_class[6], "ae_attendances") < 0.7 * _rate(by_class[1], "ae_attendances")


def test_mdt_consultations_ramp_up_after_the_2018_contract_faster_in_cities(panel):
    national = panel.groupby("Date")[["mdt_consultations", "AllAges"]].sum()
    rate = national["mdt_consultations"] / national["AllAges"]
    assert rate.loc[20240101:].mean() > 3 * rate.loc[:20180101].mean()
    cities = panel["HSCP"].isin(["S37000034", "S37000012", "S37000001", "S37000007"])
    remote = panel["HSCP"].isin(["S37000016", "S37000004", "S37000031", "S37000022", "S37000026"])

    def progress(mask):
        f = panel[mask].groupby("Date")[["mdt_consultations", "AllAges"]].sum()
        r = f["mdt_consultations"] / f["AllAges"]
        return r.loc[20200401] / r.loc[20240101:].mean()

    assert progress(cities) > progress(remote) + 0.1


def test_winter_brings_more_emergency_admissions_than_summer(panel):
    national = panel.groupby("Date")[["emergency_admissions", "AllAges"]].sum()
    rate = national["emergency_admissions"] / national["AllAges"]
    for year in range(2017, 2025):
        assert rate.loc[year * 10000 + 101] > rate.loc[year * 10000 + 701]


def test_planted_signals_are_listed_and_visible_in_the_files(panel):
    signals = planted_signals()
    planted = {s.practice_code for s in signals}
    assert {s.kind for s in signals} == {"step", "trend", "outlier"}
    assert len({s.practice_code for s in signals}) == len(signals) >= 10
    releases = set(panel["Date"])
    for s in signals:
        own = panel[panel["PracticeCode"] == s.practice_code].set_index("Date").sort_index()
        assert len(own) == len(releases), s  # open throughout, so every chart has the full series
        rate = own[s.measure] / (own["high_risk_rx_denominator"] if s.measure == "high_risk_rx_patients"
                                 else own["AllAges"])
        if s.kind == "outlier":
            peers = panel[panel["SIMD2020V2CountryQuintile"] == own["SIMD2020V2CountryQuintile"].iloc[0]]
            base = "high_risk_rx_denominator" if s.measure == "high_risk_rx_patients" else "AllAges"
            peer_rate = peers[s.measure].sum() / peers[base].sum()
            observed, expected = own[s.measure].sum(), peer_rate * own[base].sum()
            assert (observed - expected) / np.sqrt(expected) > 4, s
        else:
            # against the practice's HSCP (without planted practices), which shares its season, trend and
            # MDT roll-out: what is left is the planted change
            base = "high_risk_rx_denominator" if s.measure == "high_risk_rx_patients" else "AllAges"
            peers = panel[(panel["HSCP"] == own["HSCP"].iloc[-1]) & ~panel["PracticeCode"].isin(planted)]
            peer_rate = peers.groupby("Date")[s.measure].sum() / peers.groupby("Date")[base].sum()
            relative = rate / peer_rate.reindex(rate.index)
            start = int(s.start.strftime("%Y%m%d"))
            before = relative.loc[:start - 1].tail(6).mean()
            after = relative.loc[start:].iloc[9:] if s.kind == "trend" else relative.loc[start:]
            ratio = after.mean() / before
            assert abs(ratio - s.effect) < 0.15, (s, ratio)


def test_other_practices_have_no_such_steps(panel):
    """A control: practices without planted signals do not change emergency admissions by 40%+."""
    planted = {s.practice_code for s in planted_signals()}
    f = panel[~panel["PracticeCode"].isin(planted) & (panel["AllAges"] > 4000)]
    early = f[f["Date"] < 20190101].groupby("PracticeCode")[["emergency_admissions", "AllAges"]].sum()
    late = f[f["Date"] >= 20220101].groupby("PracticeCode")[["emergency_admissions", "AllAges"]].sum()
    ratio = (late["emergency_admissions"] / late["AllAges"]) / (early["emergency_admissions"] / early["AllAges"])
    assert (ratio.dropna() < 1.4).mean() > 0.99
