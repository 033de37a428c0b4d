"""The period's shared frames of a pack source, taken by cluster: `PackSource.rows` and `cluster_rows` give
exactly the rows (and row order) that comparing every row of the frame gives, for every cluster, level and
frame, and nothing for a cluster or area the frame does not hold."""

from __future__ import annotations

import pandas as pd
import pytest
from pack_fixtures import LATEST, OWN_CLUSTER


@pytest.fixture(scope="module")
def source(loop_warehouse):
    from gpcluster.packs.source import PackSource
    from gpcluster.web.data import WebData

    data = WebData(loop_warehouse)
    yield PackSource.open(data, LATEST)
    data.close()


def _masked(frame: pd.DataFrame, *selections) -> pd.DataFrame:
    keep = pd.Series(False, index=frame.index)
    for level, column, value in selections:
        keep |= (frame["level"] == level) & (frame[column] == value)
    return frame[keep.to_numpy()]


def test_cluster_rows_are_the_rows_a_mask_selects_in_the_frames_order(source):
    clusters = [c for c in source.data.clusters.values()]
    assert len(clusters) >= 2
    for frame in ("current", "before"):
        table = getattr(source, frame)
        for cluster in clusters:
            expected = _masked(table, ("practice", "cluster_id", cluster.cluster_id),
                               ("cluster", "area_code", cluster.cluster_id), ("hscp", "area_code", cluster.hscp_code),
                               ("board", "area_code", cluster.board_code), ("scotland", "level", "scotland"))
            got = source.cluster_rows(frame, cluster)
            assert (got["level"] == "practice").any()
            pd.testing.assert_frame_equal(got, expected)


def test_rows_of_one_level_and_area(source):
    own = OWN_CLUSTER
    for frame, selections in (("history", [("cluster", "area_code", own)]),
                              ("signals", [("practice", "cluster_id", own), ("cluster", "area_code", own)])):
        table = getattr(source, frame)
        expected = _masked(table, *selections)
        assert len(expected), f"the fixture's {frame} has rows for {own}"
        pd.testing.assert_frame_equal(source.rows(frame, *selections), expected)


def test_no_rows_for_an_area_the_frame_does_not_hold(source):
    got = source.rows("current", ("practice", "cluster_id", "S37999999/nowhere"), ("hscp", "area_code", "nowhere"))
    assert got.empty and list(got.columns) == list(source.current.columns)
