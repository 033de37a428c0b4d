"""What the packs of one period read from the warehouse, read once and shared by every cluster's pack.

A pack is built for the cluster's own viewers (its CQL and PQLs): the figures come from the warehouse
unreleased here and pass through the web app's release gate (gpcluster.web.release) for that viewer in
gpcluster.packs.content, exactly as the cluster page does. Nothing here leaves the server as it is, except
the centiles and medians of released practice values, which are the same for every viewer (release changes
a practice's name, code and counts for viewers outside its cluster, never its value).

Everything is limited to periods up to the pack's own, so a pack for an earlier period shows what was known
of that period and its past, never the quarters after it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

import numpy as np
import pandas as pd

from gpcluster.errors import UserError
from gpcluster.packs.formatting import period_key
from gpcluster.web import tables
from gpcluster.web.access import Viewer
from gpcluster.web.data import WebData
from gpcluster.web.release import Pseudonyms, release

#: practices-of-Scotland viewer used only for figures that are the same for every viewer (centiles)
_NATIONAL = Viewer(0, "pack-builder", "Cluster pack", "national", "scotland", None)
TREND_QUARTERS = 12  # trend charts show the last three years: the pack is read on paper, not zoomed
EQUITY_INDICATORS = ("list_in_simd_quintile_1", "list_in_simd_quintile_5", "simd_rank_mean",
                     "list_in_rural_practices", "need_index")
_NO_ROWS = np.array([], dtype=np.intp)
URBAN_RURAL_6 = {1: "Large urban area", 2: "Other urban area", 3: "Accessible small town",
                 4: "Remote small town", 5: "Accessible rural", 6: "Remote rural"}


def pack_viewer(cluster_id: str) -> Viewer:
    """The viewer a cluster's pack is made for: its CQL, who sees the cluster's practices by name (its PQLs
    see the same: the practices of their own cluster)."""
    return Viewer(0, "pack", "Cluster pack", "cluster", "cluster", cluster_id)


def previous_period(data: WebData, period: date) -> date | None:
    earlier = [p for p in data.periods if p < period]
    return earlier[-1] if earlier else None


def resolve_period(data: WebData, period: date | None) -> date:
    """The pack's period: the one asked for if the warehouse has results for it, else the latest."""
    if period is None:
        if data.latest_period is None:
            raise UserError("the warehouse has no indicator results: run `gpcluster indicators compute` first")
        return data.latest_period
    if period not in data.periods:
        stored = ", ".join(period_key(p) for p in data.periods[-6:])
        raise UserError(f"no indicator results for period {period_key(period)}; the latest stored periods are "
                        f"{stored} (packs follow the warehouse's periods)")
    return period


@dataclass
class PackSource:
    """The warehouse's figures for one period's packs (unreleased; see the module docstring)."""

    data: WebData
    period: date
    previous: date | None
    current: pd.DataFrame  # every level's indicator values in the period
    before: pd.DataFrame  # and in the previous period
    history: pd.DataFrame  # cluster, HSCP, board and Scotland rows of performance indicators, up to the period
    attributes: pd.DataFrame  # each practice's SIMD quintile, urban-rural class and list size in the period
    signals: pd.DataFrame  # every cluster's signals in the period
    deciles: dict[str, pd.DataFrame] = field(default_factory=dict)  # released centiles per performance indicator
    bands: dict[str, dict] = field(default_factory=dict)  # the same as the trend charts' shared series
    spread: pd.DataFrame = field(default_factory=pd.DataFrame)  # released practice spread per indicator
    equity_reference: pd.DataFrame = field(default_factory=pd.DataFrame)
    notes: list[dict] = field(default_factory=list)
    provenance: dict = field(default_factory=dict)
    _attributes: dict | None = None
    _groups: dict = field(default_factory=dict)

    @classmethod
    def open(cls, data: WebData, period: date | None = None) -> PackSource:
        period = resolve_period(data, period)
        previous = previous_period(data, period)
        current = objects(data.values(period=period))
        before = objects(data.values(period=previous)) if previous is not None else current.iloc[0:0]
        performance = data.performance_indicators
        history = data.values(levels=["cluster", "hscp", "board", "scotland"], indicator_ids=performance or None)
        history = objects(history[[p <= period for p in history["period"]]] if performance else history.iloc[0:0])
        source = cls(data, period, previous, current, before, history, objects(_attributes(data, period)),
                     objects(_signals(data, period)))
        source.spread = objects(tables.indicator_spread(data, _NATIONAL, Pseudonyms(), period))
        source.deciles = {i: objects(_deciles(data, i, period)) for i in performance}
        source.bands = {i: _band(frame) for i, frame in source.deciles.items()}
        source.equity_reference = _equity_reference(data, source)
        source.notes = _quality_notes(data, period)
        source.provenance = _provenance(data, period, _window_start(data, period))
        return source

    def cluster_ids(self) -> list[str]:
        """Clusters with practices in the period, in the overview's order (board, HSCP, name)."""
        present = set(self.current.loc[self.current["level"] == "practice", "cluster_id"].dropna())
        return [c for c in self.data.clusters if c in present]

    def rows(self, frame: str, *selections: tuple[str, str, str]) -> pd.DataFrame:
        """The rows of a shared frame ("current", "before", "history" or "signals") that match any of the
        `(level, column, value)` selections, in the frame's order: what a mask of `(level == ...) & (column ==
        ...)` terms gives, without comparing every row of the period for every pack (each column's row
        positions are grouped once)."""
        table = getattr(self, frame)
        found = []
        for level, column, value in selections:
            if (frame, column) not in self._groups:
                self._groups[frame, column] = _positions(table, column)
            found += [self._groups[frame, column].get((level, value), _NO_ROWS)]
        return table.take(np.sort(np.concatenate(found))) if found else table.iloc[0:0]

    def cluster_rows(self, frame: str, cluster) -> pd.DataFrame:
        """The rows of the cluster's practices and of the cluster, its HSCP, its board and Scotland."""
        return self.rows(frame, ("practice", "cluster_id", cluster.cluster_id),
                         ("cluster", "area_code", cluster.cluster_id), ("hscp", "area_code", cluster.hscp_code),
                         ("board", "area_code", cluster.board_code), ("scotland", "level", "scotland"))

    @property
    def practice_attributes(self) -> dict[str, dict]:
        if self._attributes is None:
            columns = list(self.attributes.columns)
            self._attributes = {row[0]: dict(zip(columns, row, strict=True))
                                for row in self.attributes.itertuples(index=False, name=None)}
        return self._attributes

    def released(self, rows: pd.DataFrame, viewer: Viewer, pseudonyms: Pseudonyms) -> pd.DataFrame:
        data = self.data
        return objects(release(rows, data.rules, viewer, pseudonyms, data.suppression, disclosed=True))


def _positions(frame: pd.DataFrame, column: str) -> dict[tuple, np.ndarray]:
    """Row positions of the frame by (level, value of `column`)."""
    if frame.empty:
        return {}
    if column == "level":
        return {(level, level): rows for level, rows in frame.groupby("level", sort=False).indices.items()}
    return frame.groupby(["level", column], sort=False).indices


def objects(frame: pd.DataFrame) -> pd.DataFrame:
    """Text columns as plain Python objects: a pack filters small frames thousands of times, and pandas'
    Arrow-backed strings cost a conversion on every one of them."""
    text = [c for c, kind in frame.dtypes.items() if isinstance(kind, pd.StringDtype)]
    return frame.astype({c: object for c in text}) if text else frame


def _attributes(data: WebData, period: date) -> pd.DataFrame:
    return data.query(
        """SELECT practice_code, simd_quintile, urban_rural_6, list_size
           FROM practice_period WHERE release_date = ?""", [period])


def _signals(data: WebData, period: date) -> pd.DataFrame:
    if not data.has_signals:
        return pd.DataFrame()
    frame = data.query(
        """SELECT s.*, d.title
           FROM signal s JOIN (SELECT DISTINCT indicator_id, title FROM indicator_definition) d USING (indicator_id)
           WHERE s.period = ?
           ORDER BY s.rank_in_cluster NULLS LAST, s.score DESC, s.indicator_id, s.area_code""", [period])
    frame["period"] = [ts.date() for ts in pd.to_datetime(frame["period"])]
    frame["area_name"] = [data.practice_names.get(c, c) if lv == "practice" else
                          (data.clusters[c].cluster_name if c in data.clusters else c)
                          for lv, c in zip(frame["level"], frame["area_code"], strict=True)]
    return frame


def _deciles(data: WebData, indicator_id: str, period: date) -> pd.DataFrame:
    """Scotland's practice centiles over the last TREND_QUARTERS quarters up to the period (released)."""
    frame = tables.indicator_deciles(data, _NATIONAL, Pseudonyms(), indicator_id)
    frame = frame[[p <= period for p in frame["period"]]]
    return frame.tail(TREND_QUARTERS).drop(columns="your_cluster").reset_index(drop=True)


def _band(deciles: pd.DataFrame) -> dict:
    """A trend chart's series shared by every cluster: the periods (as dates and ISO text) and Scotland's
    practice centiles and Scotland's value in each, as plain numbers (None where there is none)."""
    from gpcluster.packs.charts import BAND_SERIES

    def plain(values) -> list:
        return [None if pd.isna(v) else float(v) for v in values]

    dates = list(deciles["period"])
    return {"dates": dates, "periods": [pd.Timestamp(d).date().isoformat() for d in dates],
            "band": {key: plain(deciles[key]) for key in BAND_SERIES}}


def _equity_reference(data: WebData, source: PackSource) -> pd.DataFrame:
    """Median released value of Scotland's practices in each SIMD quintile and urban-rural class, per
    performance indicator, in the period; no median for a group of fewer practices than the
    disclosure_min_group setting (the planner's rule: a small group's label names its practices)."""
    from gpcluster.workforce.export import disclose

    performance = data.performance_indicators
    if not performance:
        return pd.DataFrame(columns=["indicator_id", "group", "key", "median", "practices"])
    rows = source.current[(source.current["level"] == "practice")
                          & source.current["indicator_id"].isin(performance)]
    released = release(rows, data.rules, _NATIONAL, Pseudonyms(), data.suppression, disclosed=True)
    released = released.merge(source.attributes, left_on="area_code", right_on="practice_code", how="left")
    out = []
    for group, column in (("simd_quintile", "simd_quintile"), ("urban_rural", "urban_rural_6")):
        stats = released.dropna(subset=[column]).groupby(["indicator_id", column])["value"].agg(
            ["median", "count"]).reset_index()
        for r in stats.itertuples(index=False):
            out.append({"indicator_id": r.indicator_id, "group": group, "key": int(getattr(r, column)),
                        "median": r.median, "practices": int(r.count)})
    return disclose(pd.DataFrame(out, columns=["indicator_id", "group", "key", "median", "practices"]))


def _quality_notes(data: WebData, period: date) -> list[dict]:
    present = data.query("SELECT count(*) AS n FROM duckdb_tables() WHERE table_name = 'data_quality_note'")
    if not int(present["n"].iloc[0]):
        return []
    notes = data.query(
        """SELECT period, topic, indicator_ids, message FROM data_quality_note
           WHERE period IS NULL OR period = ? ORDER BY period NULLS FIRST, topic, message""", [period])
    titles = {i: d.title for i, d in data.indicators.items()}
    return [{"topic": r.topic, "message": r.message,
             "indicators": [titles.get(i, i) for i in (list(r.indicator_ids) if r.indicator_ids is not None else [])]}
            for r in notes.itertuples(index=False)]


def _window_start(data: WebData, period: date) -> date:
    """First period shown in the pack's trends."""
    shown = [p for p in data.periods if p <= period][-TREND_QUARTERS:]
    return shown[0] if shown else period


def _provenance(data: WebData, period: date, since: date) -> dict:
    """Source files and releases behind the figures, definition versions, the software and the warehouse.
    Files of the periods the pack shows are listed one by one; earlier releases (which feed only the
    signals' baselines) are counted per source."""
    from gpcluster import __version__
    from gpcluster.warehouse.versions import VERSION_FILE

    files = data.query(
        """SELECT source, file_name, release_date, sha256, row_count, synthetic FROM load_ledger
           WHERE release_date IS NULL OR release_date <= ?
           ORDER BY source, release_date NULLS FIRST, file_name""", [period])
    definitions = data.query(
        """SELECT d.indicator_id, d.title, d.version, d.synthetic
           FROM indicator_definition d
           JOIN (SELECT DISTINCT indicator_id, version FROM indicator_value) USING (indicator_id, version)
           ORDER BY d.title""")
    purposes = {i: d.purpose for i, d in data.indicators.items()}
    match = VERSION_FILE.match(data.file.name)
    shown = [r.release_date is None or pd.isna(r.release_date) or r.release_date.date() >= since
             for r in files.itertuples(index=False)]
    earlier = files[[not s for s in shown]].groupby("source")["release_date"].agg(["count", "min", "max"])
    files = files[shown]
    return {
        "software": f"gpcluster {__version__}",
        "warehouse_version": match[1] if match else None,
        "files": [{"source": r.source, "file_name": r.file_name,
                   "release": r.release_date.date().isoformat() if pd.notna(r.release_date) else None,
                   "sha256": r.sha256, "rows": int(r.row_count), "synthetic": bool(r.synthetic)}
                  for r in files.itertuples(index=False)],
        "earlier": [{"source": name, "files": int(r["count"]), "first": r["min"].date().isoformat(),
                     "last": r["max"].date().isoformat()} for name, r in earlier.iterrows()],
        "definitions": [{"indicator_id": r.indicator_id, "title": r.title, "version": r.version,
                         "purpose": purposes.get(r.indicator_id, "context"), "synthetic": bool(r.synthetic)}
                        for r in definitions.itertuples(index=False)],
    }
