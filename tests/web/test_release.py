"""The release gate and the plain-language signals, checked against hand-worked figures."""

from __future__ import annotations

import pandas as pd
import pytest
from warehouse_fixture import OWN_CLUSTER, values_frame

from gpcluster.web.access import Viewer
from gpcluster.web.release import Pseudonyms, pseudonym, release, release_signals, suppressed_signal_keys


@pytest.mark.parametrize(("index", "label"), [(0, "Practice A"), (25, "Practice Z"), (26, "Practice AA"),
                                              (27, "Practice AB"), (701, "Practice ZZ"), (702, "Practice AAA")])
def test_pseudonym_labels(index, label):
    assert pseudonym(index) == label


def _cql() -> Viewer:
    return Viewer(1, "cql", "CQL", "cluster", "cluster", OWN_CLUSTER)


@pytest.fixture
def web_data(warehouse_file):
    from gpcluster.web.data import WebData

    data = WebData(warehouse_file)
    yield data
    data.close()


@pytest.fixture
def rules(web_data):
    return web_data.rules


@pytest.fixture
def pattern(web_data):
    return web_data.suppression


def test_pseudonyms_are_drawn_afresh_for_each_response(rules, pattern):
    frame = values_frame()
    latest = frame[(frame["period"] == frame["period"].max()) & (frame["level"] == "practice")
                   & (frame["indicator_id"] == "high_risk_prescribing")].copy()
    latest["area_name"] = "x"
    assignments = set()
    for _ in range(20):
        out = release(latest.copy(), rules, _cql(), Pseudonyms(), pattern)
        hidden = out[~out["named"]].sort_values("value")
        assert sorted(hidden["area_code"]) == ["Practice A", "Practice B", "Practice C", "Practice D", "Practice E"]
        assert hidden["numerator"].isna().all() and hidden["denominator"].isna().all()
        assignments.add(tuple(hidden["area_code"]))
        named = out[out["named"]]
        assert sorted(named["area_code"]) == ["10001", "10002", "10003"]
    # the same practice is not "Practice A" on every page: labels link nothing across responses
    assert len(assignments) > 1


def test_same_practice_keeps_its_label_across_frames(rules, pattern):
    frame = values_frame()
    practices = frame[frame["level"] == "practice"].assign(area_name="x")
    pseudonyms = Pseudonyms()
    first = release(practices[practices["indicator_id"] == "high_risk_prescribing"], rules, _cql(), pseudonyms, pattern)
    second = release(practices[practices["indicator_id"] == "emergency_admission_rate"], rules, _cql(), pseudonyms, pattern)
    a = first[~first["named"]].groupby("area_code")["cluster_id"].first()
    b = second[~second["named"]].groupby("area_code")["cluster_id"].first()
    assert a.to_dict() == b.to_dict()


def _signals(area_codes, cluster_ids, period):
    return pd.DataFrame({
        "signal_id": [f"practice:{c}:emergency_admission_rate:2024-01" for c in area_codes],
        "indicator_id": "emergency_admission_rate", "title": "Emergency admissions", "level": "practice",
        "area_code": area_codes, "area_name": [f"Surgery {c}" for c in area_codes], "cluster_id": cluster_ids,
        "hscp_code": "S37000007", "board_code": "S08000030", "period": period,
        "start_period": period, "status": "new", "direction": "high", "concern": "worse", "evidence": "level",
        "persistence": 1, "observed": 186.0, "expected": 114.0, "ratio": 1.63, "difference": 13.8,
        "change_pct": None, "score": 9.0, "rank_in_cluster": 1, "worth_discussing": True,
        "sentence": "Emergency admissions: 63% higher than expected ...", "method": "..."})


def test_signals_of_practices_outside_scope_carry_a_pseudonym_and_no_counts(pattern):
    period = values_frame()["period"].max()
    frame = _signals(["10001", "10004"], [OWN_CLUSTER, "S37000007/dundee-west"], period)
    released = release_signals(frame, _cql(), Pseudonyms(), suppressed_signal_keys(pattern))
    own, other = released.iloc[0], released.iloc[1]
    assert own["named"] and own["area_code"] == "10001" and own["observed"] == 186
    assert not other["named"] and other["area_code"].startswith("Practice ")
    assert other["area_name"] == other["area_code"]
    assert other["signal_id"] is None and pd.isna(other["observed"]) and pd.isna(other["expected"])
    assert "10004" not in released.to_csv()


def test_no_signal_about_a_suppressed_figure(pattern):
    hidden = pattern.iloc[0]
    frame = _signals([hidden["area_code"]], [OWN_CLUSTER], hidden["period"]).assign(
        indicator_id=hidden["indicator_id"], level=hidden["level"])
    assert release_signals(frame, _cql(), Pseudonyms(), suppressed_signal_keys(pattern)).empty


def _compare_with_pandas_disclosure(web_data) -> pd.DataFrame:
    """WebData.values (disclosure applied in the query) against gpcluster.exports.apply_disclosure over every
    row of the release at once, row by row and column by column; returns the disclosed rows."""
    from gpcluster.exports import apply_disclosure
    from gpcluster.web.data import _AREA_NAME, _NAME_JOINS, VALUE_COLUMNS

    served = web_data.values()
    raw = web_data.query(f"SELECT {VALUE_COLUMNS}, {_AREA_NAME} FROM indicator_value v {_NAME_JOINS}")
    reference = apply_disclosure(raw, web_data.rules, web_data.suppression)
    key = ["indicator_id", "level", "area_code", "period"]
    reference["period"] = pd.to_datetime(reference["period"]).dt.date
    merged = served.merge(reference, on=key, how="outer", suffixes=("", "_ref"), indicator=True)
    assert (merged["_merge"] == "both").all()
    for column in [c for c in reference.columns if c not in key]:
        ours, theirs = merged[column], merged[f"{column}_ref"]
        same = (ours == theirs) | (ours.isna() & theirs.isna())
        assert same.all(), f"{column} differs from apply_disclosure in {int((~same).sum())} row(s)"
    return served


def test_served_values_carry_the_release_wide_suppression(web_data):
    served = _compare_with_pandas_disclosure(web_data)
    assert served["suppressed"].sum() == len(web_data.suppression) > 0  # the fixture exercises suppression


def test_a_suppressed_area_is_blanked_as_every_row_comparator(web_data):
    """Cluster, HSCP, board and Scotland rows hidden: their values vanish as comparators of other rows, as
    apply_disclosure blanks them."""
    rows = web_data.values(levels=["cluster", "hscp", "board", "scotland"])
    period = rows["period"].max()
    picks = rows[(rows["period"] == period) & (rows["indicator_id"] == "high_risk_prescribing")]
    picks = picks.groupby("level").head(1)[["indicator_id", "period", "level", "area_code"]]
    pattern = pd.concat([web_data.suppression, picks.assign(
        period=pd.to_datetime(picks["period"]), reason="complementary", denominator_hidden=[True, False, True, False])],
        ignore_index=True)
    web_data.suppression = pattern
    web_data._pattern = pattern[["indicator_id", "period", "level", "area_code", "denominator_hidden"]].astype(
        {"period": "datetime64[us]", "denominator_hidden": bool})
    web_data._cached_values.cache_clear()
    served = _compare_with_pandas_disclosure(web_data)
    blanked = served[(served["indicator_id"] == "high_risk_prescribing") & (served["period"] == period)]
    assert blanked["scotland_value"].isna().all()
    cluster = picks.loc[picks["level"] == "cluster", "area_code"].iloc[0]
    assert blanked.loc[blanked["cluster_id"] == cluster, "cluster_value"].isna().all()
    assert blanked.loc[blanked["cluster_id"] != cluster, "cluster_value"].notna().any()
    web_data._cached_values.cache_clear()


def test_rows_said_to_be_disclosed_must_show_it(rules, pattern):
    frame = values_frame()
    with pytest.raises(ValueError, match="suppressed"):
        release(frame, rules, _cql(), Pseudonyms(), pattern, disclosed=True)


def test_signals_are_checked_against_the_pattern_given(pattern):
    """Another pattern (another version or disclosure settings) gives other answers, and a quarter given as
    a date matches one held as a timestamp."""
    hidden = pattern.iloc[0]
    frame = _signals([hidden["area_code"]], [OWN_CLUSTER], pd.Timestamp(hidden["period"]).date()).assign(
        indicator_id=hidden["indicator_id"], level=hidden["level"])
    assert release_signals(frame, _cql(), Pseudonyms(), suppressed_signal_keys(pattern)).empty
    without = pattern.iloc[1:].copy()
    assert len(release_signals(frame, _cql(), Pseudonyms(), suppressed_signal_keys(without))) == 1
    assert release_signals(frame, _cql(), Pseudonyms(), suppressed_signal_keys(pattern.iloc[:0])).shape[0] == 1
