"""Disclosure control in a pack, by attack: a suppressed count can be neither read nor recovered by
subtraction from anything in the pack, and the equity medians (Scotland's practices in the same SIMD
quintile or urban-rural class) follow the planner's small-group rule: no median for a group of fewer
practices than disclosure_min_group, whose label would name the practices in it. (Names and codes from
outside the cluster: tests/packs/test_demo_packs.py, over every cluster of the synthetic Scotland.)"""

from __future__ import annotations

import pytest
from pack_fixtures import LATEST, OWN_CLUSTER, PRACTICES

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


def test_a_suppressed_count_can_be_neither_read_nor_recovered_from_the_pack(loop_warehouse):
    from gpcluster.packs.content import build_content, content_hash
    from gpcluster.packs.loop import snapshot
    from gpcluster.packs.render import render_html
    from gpcluster.packs.source import PackSource
    from gpcluster.web.data import WebData

    data = WebData(loop_warehouse)
    try:
        content = build_content(PackSource.open(data, LATEST), OWN_CLUSTER)
    finally:
        data.close()
    indicator = "emergency_admission_rate"
    rows = {p["code"]: next(r for r in p["rows"] if r["indicator_id"] == indicator) for p in content["practices"]}
    small = rows["10003"]  # 3 admissions in the fixture (threshold 5)
    assert small["suppressed"] and small["value"] is None and small["lower95"] is None and small["upper95"] is None
    # subtraction: the cluster's figure less its other practices' would give the count back
    cluster = next(r for r in content["comparison"]["rows"] if r["indicator_id"] == indicator)["cluster"]
    assert cluster["suppressed"] or any(r["suppressed"] for code, r in rows.items() if code != "10003")
    moves = [m for m in content["changes"]["moves"] if m["indicator_id"] == indicator]
    assert all(m["suppressed"] or m["now"] == cluster["value"] for m in moves)
    # and the file shows no trace of the value at any precision in the practice's page
    html = render_html(content, snapshot(None, content, as_of=LATEST, content_hash=content_hash(content)))
    page = html[html.index('id="practice-10003"'):]
    page = page[:page.index("</section>")]
    value = 3 / PRACTICES["10003"][2] * 1000
    assert all(f"{value:.{d}f}" not in page for d in (1, 2, 3)) and repr(value) not in html
    assert "Emergency admissions per 1,000 patients" in page and ">*<" in page  # the row is there, starred
