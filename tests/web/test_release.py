"""The release gate and the plain-language signals, checked against hand-worked figures."""

from __future__ import annotations

import pandas as pd
import pytest
from warehouse_fixture import OWN_CLUSTER, values_frame

from gpcluster.web.access import Viewer
from gpcluster.web.release import Pseudonyms, pseudonym, release
from gpcluster.web.signals import cluster_signals


@pytest.mark.parametrize(("index", "label"), [(0, "Practice A"), (25, "Practice Z"), (26, "Practice AA"),
                                              (27, "Practice AB"), (701, "Practice ZZ"), (702, "Practice AAA")])
def test_pseudonym_labels(index, label):
    assert pseudonym(index) == label


def _cql() -> Viewer:
    return Viewer(1, "cql", "CQL", "cluster", "cluster", OWN_CLUSTER)


@pytest.fixture
def rules(warehouse_file):
    from gpcluster.web.data import WebData

    data = WebData(warehouse_file)
    yield data.rules
    data.close()


def test_pseudonyms_follow_value_order_not_code_order(rules):
    frame = values_frame()
    latest = frame[(frame["period"] == frame["period"].max()) & (frame["level"] == "practice")
                   & (frame["indicator_id"] == "high_risk_prescribing")].copy()
    latest["area_name"] = "x"
    out = release(latest, rules, _cql(), Pseudonyms())
    hidden = out[~out["named"]].sort_values("value")
    # five practices outside Dundee East, labelled A..E from the lowest value up
    assert list(hidden["area_code"]) == ["Practice A", "Practice B", "Practice C", "Practice D", "Practice E"]
    assert hidden["numerator"].isna().all()
    assert (hidden["denominator"] % 100 == 0).all()
    named = out[out["named"]]
    assert sorted(named["area_code"]) == ["10001", "10002", "10003"]


def test_same_practice_keeps_its_label_across_frames(rules):
    frame = values_frame()
    practices = frame[frame["level"] == "practice"].assign(area_name="x")
    pseudonyms = Pseudonyms()
    first = release(practices[practices["indicator_id"] == "high_risk_prescribing"], rules, _cql(), pseudonyms)
    second = release(practices[practices["indicator_id"] == "emergency_admission_rate"], rules, _cql(), pseudonyms)
    a = first[~first["named"]].groupby("area_code")["cluster_id"].first()
    b = second[~second["named"]].groupby("area_code")["cluster_id"].first()
    assert a.to_dict() == b.to_dict()


def test_signal_sentence_hand_worked(rules):
    # Alpha Surgery, Oct 2024: 186 admissions / 5,200 patients = 35.77 per 1,000; Scotland 1,098 / 50,248 =
    # 21.85 per 1,000; 35.77 / 21.85 = 1.637, i.e. 64% above. Flagged at 99.8% since July 2024.
    frame = values_frame()
    history = frame[(frame["level"] == "practice") & (frame["cluster_id"] == OWN_CLUSTER)].copy()
    history["area_name"] = history["area_code"].map({"10001": "Alpha Surgery", "10002": "Amber Health Centre",
                                                     "10003": "Acorn Medical Practice"})
    released = release(history, rules, _cql(), Pseudonyms())
    from gpcluster.web.data import Indicator

    indicators = {"emergency_admission_rate": Indicator(
        "emergency_admission_rate", "Emergency admissions per 1,000 patients", "", "", "crude_rate", 1000,
        "per 1,000", "higher_is_worse", True)}
    signals = cluster_signals(released, indicators)
    assert [s.sentence for s in signals] == [
        "Alpha Surgery: emergency admissions per 1,000 patients 64% above Scotland (99.8% limit exceeded) "
        "since Jul 2024; SPC rule: Above UCL"]
    assert signals[0].concern is True


def test_suppressed_rows_produce_no_signal(rules):
    frame = values_frame()
    row = frame[(frame["area_code"] == "10003") & (frame["indicator_id"] == "emergency_admission_rate")].copy()
    row["funnel_scotland"] = "low_998"  # would be a signal if its value were visible
    row["area_name"] = "Acorn"
    released = release(row, rules, _cql(), Pseudonyms())
    assert pd.isna(released.sort_values("period")["value"].iloc[-1])
    assert cluster_signals(released, {}) == []
