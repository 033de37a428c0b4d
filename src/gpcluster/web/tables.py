"""The tables the app shows. Each returns rows already released for the viewer (gpcluster.web.release),
so a page, its chart data, its CSV/Excel download and the API all show exactly the same figures."""

from __future__ import annotations

from dataclasses import replace
from datetime import date

import numpy as np
import pandas as pd

from gpcluster.web.access import Viewer, named_mask
from gpcluster.web.data import WebData, _as_dates, rows_by_key
from gpcluster.web.release import Pseudonyms, release, release_signals

COMPARATOR_LEVELS = ["cluster", "hscp", "scotland"]


class NotFound(LookupError):
    """The requested area or indicator does not exist (or may not be revealed to exist)."""


def _period(data: WebData, period: date | None) -> date:
    if period is None:
        if data.latest_period is None:
            raise NotFound("no periods")
        return data.latest_period
    if period not in data.periods:
        raise NotFound(f"no results for period {period}")
    return period


def cluster_table(data: WebData, viewer: Viewer, pseudonyms: Pseudonyms, cluster_id: str,
                  period: date | None = None) -> pd.DataFrame:
    """The cluster's practices x indicators in one period, with cluster, HSCP and Scotland rows."""
    cluster = data.clusters.get(cluster_id)
    if cluster is None:
        raise NotFound(cluster_id)
    period = _period(data, period)
    practices = data.values(levels=["practice"], period=period, cluster_id=cluster_id)
    comparators = data.values(levels=COMPARATOR_LEVELS, period=period,
                              area_codes=[cluster_id, cluster.hscp_code, "S92000003"])
    return release(pd.concat([practices, comparators], ignore_index=True), data.rules, viewer, pseudonyms,
                   data.suppression, disclosed=True)


def cluster_history(data: WebData, viewer: Viewer, pseudonyms: Pseudonyms, cluster_id: str,
                    indicator_ids: list[str] | None = None) -> pd.DataFrame:
    """Every period's rows (of the given indicators, default all) for the practices in the cluster in the
    latest period."""
    if cluster_id not in data.clusters:
        raise NotFound(cluster_id)
    members = data.values(levels=["practice"], period=data.latest_period, cluster_id=cluster_id)
    codes = sorted(set(members["area_code"]))
    if not codes or indicator_ids == []:
        return release(members.iloc[0:0], data.rules, viewer, pseudonyms, data.suppression, disclosed=True)
    rows = data.values(levels=["practice"], area_codes=codes, indicator_ids=indicator_ids)
    return release(rows, data.rules, viewer, pseudonyms, data.suppression, disclosed=True)


def practice_series(data: WebData, viewer: Viewer, pseudonyms: Pseudonyms, practice_code: str) -> pd.DataFrame:
    """All periods of all indicators for one practice the viewer may name now. NotFound otherwise.

    "Now" is the practice's latest quarter: a practice that joined the viewer's cluster brings its earlier
    quarters with it, named, though it was then in another cluster (they are its own history, and its lead
    works with it now). A practice that has left the viewer's cluster is no longer theirs to open; it still
    counts in the cluster's figures of the quarters it was a member."""
    rows = data.values(levels=["practice"], area_codes=[practice_code])
    if rows.empty:
        raise NotFound(practice_code)
    if not named_mask(viewer, rows[rows["period"] == rows["period"].max()]).all():
        # outside the viewer's scope: answer exactly as for a practice that does not exist
        raise NotFound(practice_code)
    as_its_own = replace(viewer, scope_level="practice", scope_code=practice_code, own_cluster_by_period={})
    return release(rows, data.rules, as_its_own, pseudonyms, data.suppression, disclosed=True)


def indicator_funnel(data: WebData, viewer: Viewer, pseudonyms: Pseudonyms, indicator_id: str,
                     period: date | None = None) -> pd.DataFrame:
    """All practices' values of one indicator in one period (the funnel plot's data)."""
    if indicator_id not in data.indicators:
        raise NotFound(indicator_id)
    rows = data.values(indicator_ids=[indicator_id], levels=["practice", "scotland"],
                       period=_period(data, period))
    return release(rows, data.rules, viewer, pseudonyms, data.suppression, disclosed=True)


def indicator_deciles(data: WebData, viewer: Viewer, pseudonyms: Pseudonyms, indicator_id: str) -> pd.DataFrame:
    """Per period: the 10th, 50th and 90th centiles of practice values, Scotland and the viewer's cluster.

    Centiles are aggregates of every practice's value after disclosure control (suppressed values left out);
    no practice is named or pseudonymised in them. They are the same for every viewer, so worked out once.
    """
    if indicator_id not in data.indicators:
        raise NotFound(indicator_id)
    out = data.memo(("deciles", indicator_id), lambda: _practice_centiles(data, indicator_id)).copy()
    home = viewer.home_cluster
    rows = release(data.values(indicator_ids=[indicator_id], levels=["scotland", "cluster"],
                               area_codes=["S92000003", *([home] if home else [])]),
                   data.rules, viewer, pseudonyms, data.suppression, disclosed=True)
    scotland = rows[rows["level"] == "scotland"].set_index("period")["value"]
    out["scotland"] = out["period"].map(scotland)
    if home:
        own = rows[(rows["level"] == "cluster") & (rows["area_code"] == home)].set_index("period")["value"]
        out["your_cluster"] = out["period"].map(own)
    else:
        out["your_cluster"] = np.nan
    return out


def _practice_centiles(data: WebData, indicator_id: str) -> pd.DataFrame:
    practices = data.values(indicator_ids=[indicator_id], levels=["practice"])
    centiles = practices.groupby("period")["value"].quantile([0.1, 0.5, 0.9]).unstack()
    centiles.columns = ["p10", "p50", "p90"]
    out = centiles.reset_index()
    out["practices"] = practices.groupby("period")["value"].count().to_numpy()
    return out


def indicator_spread(data: WebData, viewer: Viewer, pseudonyms: Pseudonyms,
                     period: date | None = None) -> pd.DataFrame:
    """Per indicator: minimum, quartiles and maximum of practice values in one period (aggregates of every
    practice after disclosure control; no practice is named). The same for every viewer: worked out once."""
    period = _period(data, period)
    return data.memo(("spread", period), lambda: _spread(data, period)).copy()


def _spread(data: WebData, period: date) -> pd.DataFrame:
    rows = data.values(levels=["practice"], period=period)
    grouped = rows.groupby("indicator_id")["value"]
    return pd.DataFrame({"min": grouped.min(), "q1": grouped.quantile(0.25), "q3": grouped.quantile(0.75),
                         "max": grouped.max(), "practices": grouped.count()}).reset_index()


def cluster_signals(data: WebData, viewer: Viewer, pseudonyms: Pseudonyms, cluster_id: str,
                    period: date | None = None) -> pd.DataFrame:
    """The cluster's signals in one quarter (its practices' and its own), worth discussing first, released."""
    if cluster_id not in data.clusters:
        raise NotFound(cluster_id)
    period = _period(data, period)
    return release_signals(data.cluster_signals(cluster_id, period), viewer, pseudonyms, data.suppressed_signal_keys())


def area_signal(data: WebData, viewer: Viewer, pseudonyms: Pseudonyms, level: str, area_code: str,
                indicator_id: str, period: date | None = None) -> dict | None:
    """The live (new or ongoing) signal of one area and indicator in a quarter, released, or None."""
    if not data.has_signals:
        return None
    period = _period(data, period)
    found = data.live_signals(level, area_code, indicator_id, period)
    if found.empty:
        return None
    found["area_name"] = area_code
    released = release_signals(found, viewer, pseudonyms, data.suppressed_signal_keys())
    return released.to_dict("records")[0] if len(released) else None


#: whom the kept cluster series are released for: no one's own, so no viewer's scope or pseudonyms in them
_EVERYONE = Viewer(0, "cluster series", "cluster series", "national", "scotland", None)


def cluster_series(data: WebData, cluster_id: str, indicator_id: str) -> pd.DataFrame:
    """Every period of one indicator for a cluster (an aggregate: visible to everyone), released."""
    if cluster_id not in data.clusters or indicator_id not in data.indicators:
        raise NotFound(cluster_id)
    # every cluster's rows of the indicator released at once, once per version: the release of a cluster's
    # few dozen rows (reindexing a frame of every column) was a fifth of a trend page's first build. The
    # same for every viewer: a cluster is an aggregate, named to everyone
    released, at = data.memo(("cluster series", indicator_id), lambda: _rows_by_area(release(
        data.values(levels=["cluster"], indicator_ids=[indicator_id]), data.rules, _EVERYONE, Pseudonyms(),
        data.suppression, disclosed=True)))
    if cluster_id not in at:
        raise NotFound(cluster_id)
    return released.take(at[cluster_id]).reset_index(drop=True)


def _rows_by_area(released: pd.DataFrame) -> tuple[pd.DataFrame, dict]:
    if released["named"].all() and (released["level"] == "cluster").all():
        return rows_by_key(released, ["area_code"])
    raise ValueError("a cluster's series kept for every viewer must hold named cluster rows only")


def funnel_models(data: WebData, indicator_id: str, level: str) -> pd.DataFrame:
    """The adjusted funnel's model (φ, τ², adjusted) of a performance indicator at a level, every period."""
    return data.memo(("funnel_models by quarter", indicator_id, level), lambda: _funnel_models(data, indicator_id, level)).copy()


def _funnel_models(data: WebData, indicator_id: str, level: str) -> pd.DataFrame:
    try:
        frame = data.funnel_models(indicator_id, level)[["period", "phi", "tau2", "adjusted"]]
    except Exception:  # a warehouse computed before funnel models were stored: limits without τ
        return pd.DataFrame(columns=["period", "phi", "tau2", "adjusted"])
    frame["period"] = _as_dates(frame["period"])
    return frame


#: practice_period.cluster_status in words (docs/indicators.md, "Who counts where")
CLUSTER_STATUS_WORDS = {"not_in_cluster": "not in a cluster", "unknown": "cluster unknown"}


def practice_cluster_status(data: WebData, practice_code: str) -> str | None:
    """'not in a cluster', 'cluster unknown' or None (in a cluster) for a practice's latest release."""
    try:
        rows = data.query("SELECT cluster_status FROM practice_period WHERE practice_code = ? "
                          "ORDER BY release_date DESC LIMIT 1", [practice_code])
    except Exception:  # no population tables (e.g. a warehouse holding results only)
        return None
    if rows.empty:
        return None
    return CLUSTER_STATUS_WORDS.get(rows["cluster_status"].iloc[0])


def area_overview(data: WebData, viewer: Viewer, pseudonyms: Pseudonyms, level: str, code: str,
                  indicator_ids: list[str], period: date | None = None) -> pd.DataFrame:
    """An HSCP's clusters or a board's HSCPs, with the area itself and Scotland, for a few indicators in one
    period (aggregates only), released."""
    period = _period(data, period)
    if level == "hscp":
        children = [c.cluster_id for c in data.clusters.values() if c.hscp_code == code]
        child_level = "cluster"
    elif level == "board":
        children = sorted({c.hscp_code for c in data.clusters.values() if c.board_code == code})
        child_level = "hscp"
    else:
        raise NotFound(level)
    if not children:
        raise NotFound(code)
    ids = [i for i in indicator_ids if i in data.indicators] or None
    rows = pd.concat([data.values(levels=[child_level], period=period, area_codes=children, indicator_ids=ids),
                      data.values(levels=[level, "scotland"], period=period, area_codes=[code, "S92000003"],
                                  indicator_ids=ids)], ignore_index=True)
    if rows.empty:
        raise NotFound(code)
    return release(rows, data.rules, viewer, pseudonyms, data.suppression)
