"""Openings, closures, mergers, cluster moves and renames, detected from the quarterly files alone."""

from __future__ import annotations

import pandas as pd
import pytest

from gpcluster.errors import UserError
from gpcluster.synthetic.history import quarter_starts

ORDER = [f"{m}{y}" for y in range(2016, 2026) for m in ("jan", "apr", "jul", "oct")][1:37]


@pytest.fixture(scope="module")
def spans(contacts) -> pd.DataFrame:
    index = contacts["release"].map({r: i for i, r in enumerate(ORDER)})
    return contacts.assign(q=index).groupby("PracticeCode")["q"].agg(["min", "max", "count"])


def test_releases_are_the_36_quarters_from_april_2016(contacts):
    assert sorted(contacts["release"].unique(), key=ORDER.index) == ORDER


def test_practices_open_and_close_without_gaps(spans):
    assert (spans["count"] == spans["max"] - spans["min"] + 1).all()  # no practice vanishes and returns
    opened = spans[spans["min"] > 0]
    ended = spans[spans["max"] < 35]
    assert 5 <= len(opened) <= 20
    assert 15 <= len(ended) <= 45
    assert opened["min"].nunique() >= 4 and ended["max"].nunique() >= 8  # spread over the years


def _by_release(contacts):
    return {r: f.set_index("PracticeCode") for r, f in contacts.groupby("release")}


def test_mergers_combine_lists_within_a_cluster(contacts, spans):
    releases = _by_release(contacts)
    mergers = 0
    for code, span in spans[spans["max"] < 35].iterrows():
        before, after = releases[ORDER[span["max"]]], releases[ORDER[span["max"] + 1]]
        cluster = before.loc[code, "GPCluster"]
        partners = before[(before["GPCluster"] == cluster) & before.index.isin(after.index)].index
        gain = after.loc[partners, "PracticeListSize"] - before.loc[partners, "PracticeListSize"]
        absorbed = before.loc[code, "PracticeListSize"]
        if ((gain - absorbed).abs() < 0.1 * absorbed + 50).any():
            mergers += 1
    assert mergers >= 5


def test_some_practices_move_cluster_and_some_clusters_are_renamed(contacts):
    releases = _by_release(contacts)
    moves, renames = 0, 0
    for prev, this in zip(ORDER, ORDER[1:], strict=False):
        a, b = releases[prev], releases[this]
        both = a.index.intersection(b.index)
        changed = both[(a.loc[both, "GPCluster"] != b.loc[both, "GPCluster"]).to_numpy()]
        old_names, new_names = set(a["GPCluster"]), set(b["GPCluster"])
        for code in changed:
            if a.loc[code, "GPCluster"] in new_names and b.loc[code, "GPCluster"] in old_names:
                moves += 1
                assert a.loc[code, "HSCP"] == b.loc[code, "HSCP"]
        for gone in old_names - new_names:
            members = set(a.index[a["GPCluster"] == gone]) & set(b.index)
            if members and b.loc[list(members), "GPCluster"].nunique() == 1:
                new = b.loc[next(iter(members)), "GPCluster"]
                if new in new_names - old_names:
                    renames += 1
    assert moves >= 3
    assert renames >= 1


def test_bad_period_arguments_are_refused():
    with pytest.raises(UserError, match="first day of a quarter"):
        quarter_starts("2016-05-01", 4)
    with pytest.raises(UserError, match="at least 1"):
        quarter_starts("2016-04-01", 0)
    with pytest.raises(UserError, match="date like"):
        quarter_starts("April 2016", 4)
    assert [d.isoformat() for d in quarter_starts("2016-10-01", 3)] == ["2016-10-01", "2017-01-01", "2017-04-01"]


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_cluster_and_count_limits_hold_for_other_seeds(seed):
    import numpy as np

    from gpcluster.synthetic import build_scotland

    history = build_scotland(seed, "2016-04-01", 16).history
    for q in range(16):
        live = history.active[:, q]
        assert 900 <= live.sum() <= 960
        sizes = np.bincount(history.cluster_of[live, q])
        assert sizes[sizes > 0].min() >= 3 and sizes.max() <= 12
    assert (history.list_size[history.active] > 0).all() and (history.list_size[~history.active] == 0).all()
    kinds = {e.kind for e in history.events}
    assert kinds == {"opened", "closed", "merged", "moved_cluster", "cluster_renamed"}
