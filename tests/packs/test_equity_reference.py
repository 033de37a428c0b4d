"""The pack's equity medians (Scotland's practices in the same SIMD quintile or urban-rural class) follow the
planner's small-group rule: no median for a group of fewer practices than disclosure_min_group, whose
label would name the practices in it."""

from __future__ import annotations

import pytest
from pack_fixtures import LATEST, PRACTICES

#: SIMD quintile and urban-rural class of the fixture's eight practices: quintile 1 and class 1 hold five
#: practices each, quintile 5 and class 6 three, so some groups are small (a quintile of one) and some not
QUINTILES = [1, 1, 1, 1, 1, 5, 5, 5]
CLASSES = [1, 1, 1, 1, 1, 6, 6, 3]


def _attributes(data, period):
    import pandas as pd

    codes = sorted(PRACTICES)[:8]
    return pd.DataFrame({"practice_code": codes, "simd_quintile": QUINTILES, "urban_rural_6": CLASSES,
                         "list_size": [PRACTICES[c][2] for c in codes]})


def _reference(warehouse, monkeypatch, min_group: int):
    from gpcluster import config
    from gpcluster.packs.source import PackSource
    from gpcluster.web.data import WebData

    monkeypatch.setattr("gpcluster.packs.source._attributes", _attributes)
    monkeypatch.setenv("GPCLUSTER_DISCLOSURE_MIN_GROUP", str(min_group))
    config.clear_cache()
    data = WebData(warehouse)
    try:
        return PackSource.open(data, LATEST).equity_reference
    finally:
        data.close()
        monkeypatch.delenv("GPCLUSTER_DISCLOSURE_MIN_GROUP")
        config.clear_cache()


def test_no_median_for_a_group_smaller_than_disclosure_min_group(loop_warehouse, monkeypatch):
    every = _reference(loop_warehouse, monkeypatch, 1)
    small = (every["practices"] < 3).to_numpy()
    assert small.any() and (~small).any(), "the fixture has groups on both sides of the rule"
    assert every["median"].notna().all()  # with a minimum of one, every group has its median
    ruled = _reference(loop_warehouse, monkeypatch, 3)
    assert ruled[small]["median"].isna().all()
    assert ruled[~small]["median"].to_numpy() == pytest.approx(every[~small]["median"].to_numpy())
