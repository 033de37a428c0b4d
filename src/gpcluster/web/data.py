"""Read-only queries of the warehouse for the web app. Unsuppressed: every result goes through
gpcluster.web.release before it leaves the server."""

from __future__ import annotations

import atexit
import logging
import os
import threading
import weakref
from contextvars import ContextVar, Token
from dataclasses import dataclass
from datetime import date
from functools import lru_cache
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd

from gpcluster import config
from gpcluster.errors import UserError
from gpcluster.exports import IndicatorRule, stored_rules, warehouse_is_synthetic
from gpcluster.indicators.engine import stored_definitions
from gpcluster.indicators.suppression import current_pattern
from gpcluster.warehouse import open_warehouse

VALUE_COLUMNS = (
    "v.indicator_id, v.period, v.level, v.area_code, v.cluster_id, v.hscp_code, v.board_code, "
    "v.numerator, v.denominator, v.numerator_date, v.denominator_date, v.note, v.value, v.lower95, v.upper95, "
    "v.lower998, v.upper998, v.expected, v.z_score, "
    "v.cluster_value, v.hscp_value, v.board_value, v.scotland_value, v.funnel_scotland, v.funnel_hscp, "
    "v.spc_signal, v.spc_rule, v.national_rank, v.national_decile"
)
_AREA_NAME = """coalesce(p.practice_name, c.cluster_name, h.hscp_name, b.board_name,
                CASE WHEN v.level = 'scotland' THEN 'Scotland' END) AS area_name"""
_NAME_JOINS = """
    LEFT JOIN practice p ON v.level = 'practice' AND p.practice_code = v.area_code
    LEFT JOIN cluster c ON v.level = 'cluster' AND c.cluster_id = v.area_code
    LEFT JOIN hscp h ON v.level = 'hscp' AND h.hscp_code = v.area_code
    LEFT JOIN board b ON v.level = 'board' AND b.board_code = v.area_code"""

VALUES_CACHE_SIZE = 512


@dataclass(frozen=True)
class Indicator:
    """One indicator's definition as stored with its results."""

    indicator_id: str
    title: str
    description: str
    why_it_matters: str
    measure_type: str
    multiplier: float
    unit: str
    polarity: str
    synthetic: bool
    purpose: str = "context"


@dataclass(frozen=True)
class Cluster:
    cluster_id: str
    cluster_name: str
    hscp_code: str
    hscp_name: str
    board_code: str
    board_name: str


class WebData:
    """The warehouse, opened read-only once; each query uses its own cursor (thread-safe)."""

    def __init__(self, path: Path | str | None = None):
        # the version file itself: a new version published meanwhile does not change what this one serves
        self.file = Path(os.path.realpath(path if path is not None else config.warehouse_path()))
        self._con = open_warehouse(self.file, read_only=True)
        self._lock = threading.Lock()
        has_results = self._con.execute(
            "SELECT count(*) FROM duckdb_tables() WHERE table_name IN ('indicator_value', 'indicator_definition')"
        ).fetchone()[0]
        if has_results < 2:
            raise UserError("the warehouse has no indicator results: run `gpcluster indicators compute` first")
        self.rules: dict[str, IndicatorRule] = stored_rules(self._con)
        self.synthetic: bool = warehouse_is_synthetic(self._con)
        self.indicators: dict[str, Indicator] = self._load_indicators()
        self.periods: list[date] = [r[0] for r in self._con.execute(
            "SELECT DISTINCT period FROM indicator_value ORDER BY period").fetchall()]
        self.clusters: dict[str, Cluster] = self._load_clusters()
        # the release's suppression pattern, for the disclosure settings in force
        self.suppression: pd.DataFrame = current_pattern(self._con)
        self.has_signals: bool = bool(self._con.execute(
            "SELECT count(*) FROM duckdb_tables() WHERE table_name = 'signal'").fetchone()[0])
        self.performance_indicators: list[str] = [i for i, d in self.indicators.items() if d.purpose == "performance"]
        self.practice_names: dict[str, str] = dict(self._con.execute(
            "SELECT practice_code, practice_name FROM practice").fetchall())

    def close(self) -> None:
        self._con.close()

    def _cursor(self) -> duckdb.DuckDBPyConnection:
        with self._lock:
            return self._con.cursor()

    def cursor(self) -> duckdb.DuckDBPyConnection:
        """A fresh read-only cursor (close it after use), for library functions that take a connection."""
        return self._cursor()

    def query(self, sql: str, params: list | None = None) -> pd.DataFrame:
        """Run a parameterised query on a fresh cursor and return a DataFrame."""
        cur = self._cursor()
        try:
            return cur.execute(sql, params or []).df()
        finally:
            cur.close()

    def _load_indicators(self) -> dict[str, Indicator]:
        rows = self._con.execute(
            """SELECT d.indicator_id, d.title, d.description, d.why_it_matters, d.measure_type, d.multiplier,
                      d.unit, d.polarity, d.synthetic
               FROM indicator_definition d
               JOIN (SELECT DISTINCT indicator_id, version FROM indicator_value) USING (indicator_id, version)
               ORDER BY d.title"""
        ).fetchall()
        purposes = {i: d.purpose for i, d in stored_definitions(self._con).items()}
        return {r[0]: Indicator(*r, purpose=purposes.get(r[0], "context")) for r in rows}

    def _load_clusters(self) -> dict[str, Cluster]:
        rows = self._con.execute(
            """SELECT c.cluster_id, c.cluster_name, c.hscp_code, h.hscp_name, h.board_code, b.board_name
               FROM cluster c JOIN hscp h USING (hscp_code) JOIN board b ON b.board_code = h.board_code
               ORDER BY b.board_name, h.hscp_name, c.cluster_name"""
        ).fetchall()
        return {r[0]: Cluster(*r) for r in rows}

    @property
    def latest_period(self) -> date | None:
        return self.periods[-1] if self.periods else None

    def values(self, *, indicator_ids: list[str] | None = None, levels: list[str] | None = None,
               period: date | None = None, cluster_id: str | None = None,
               area_codes: list[str] | None = None) -> pd.DataFrame:
        """Indicator values with area names, filtered; bound parameters only.

        The warehouse is read-only while the app runs, so results are cached (a bounded LRU).
        """
        key = (tuple(indicator_ids) if indicator_ids else None, tuple(levels) if levels else None, period,
               cluster_id, tuple(area_codes) if area_codes else None)
        return self._cached_values(key).copy()

    @lru_cache(maxsize=VALUES_CACHE_SIZE)  # noqa: B019 - one WebData per app, living as long as the app
    def _cached_values(self, key: tuple) -> pd.DataFrame:
        indicator_ids, levels, period, cluster_id, area_codes = (
            list(k) if isinstance(k, tuple) else k for k in key)
        frame = self.query(
            f"""SELECT {VALUE_COLUMNS}, {_AREA_NAME}
                FROM indicator_value v {_NAME_JOINS}
                WHERE (?::VARCHAR[] IS NULL OR list_contains(?::VARCHAR[], v.indicator_id))
                  AND (?::VARCHAR[] IS NULL OR list_contains(?::VARCHAR[], v.level))
                  AND (?::DATE IS NULL OR v.period = ?::DATE)
                  AND (?::VARCHAR IS NULL OR v.cluster_id = ?::VARCHAR)
                  AND (?::VARCHAR[] IS NULL OR list_contains(?::VARCHAR[], v.area_code))
                ORDER BY v.indicator_id, v.level, v.area_code, v.period""",
            [indicator_ids, indicator_ids, levels, levels, period, period, cluster_id, cluster_id,
             area_codes, area_codes],
        )
        frame["period"] = _as_dates(frame["period"])
        return frame

    def funnel_model(self, indicator_id: str, period: date, level: str = "practice") -> dict | None:
        """The overdispersion model a performance indicator's funnel used (scale, units, φ, τ², adjusted)."""
        rows = self.query("SELECT scale, units, phi, tau2, adjusted FROM funnel_model "
                          "WHERE indicator_id = ? AND period = ? AND level = ?", [indicator_id, period, level])
        return rows.iloc[0].to_dict() if len(rows) else None

    def cluster_signals(self, cluster_id: str, period: date) -> pd.DataFrame:
        """Unreleased signals of a cluster (its practices' and its own) in one quarter, best first."""
        if not self.has_signals:
            return pd.DataFrame()
        frame = self.query(
            """SELECT s.*, d.title
               FROM signal s JOIN (SELECT DISTINCT indicator_id, title FROM indicator_definition) d USING (indicator_id)
               WHERE s.period = ? AND ((s.level = 'practice' AND s.cluster_id = ?)
                                       OR (s.level = 'cluster' AND s.area_code = ?))
               ORDER BY s.rank_in_cluster NULLS LAST, s.score DESC, s.indicator_id, s.area_code""",
            [period, cluster_id, cluster_id])
        frame["period"] = _as_dates(frame["period"])
        frame["area_name"] = [self.practice_names.get(c, c) if lv == "practice" else
                              (self.clusters[c].cluster_name if c in self.clusters else c)
                              for lv, c in zip(frame["level"], frame["area_code"], strict=True)]
        return frame

    def practice_clusters(self, practice_code: str) -> dict[date, str]:
        """The cluster a practice belonged to in each period with results."""
        rows = self.query(
            "SELECT DISTINCT period, cluster_id FROM indicator_value WHERE level = 'practice' "
            "AND area_code = ? AND cluster_id IS NOT NULL", [practice_code])
        return dict(zip(_as_dates(rows["period"]), rows["cluster_id"], strict=True))

    def cluster_practice_counts(self) -> dict[str, int]:
        """Number of practices in each cluster in the latest period (an aggregate)."""
        if self.latest_period is None:
            return {}
        rows = self.query(
            "SELECT cluster_id, count(DISTINCT area_code) AS n FROM indicator_value "
            "WHERE level = 'practice' AND period = ? AND cluster_id IS NOT NULL GROUP BY cluster_id",
            [self.latest_period])
        return dict(zip(rows["cluster_id"], rows["n"], strict=True))

    def practice_exists(self, practice_code: str) -> bool:
        rows = self.query("SELECT 1 FROM practice WHERE practice_code = ?", [practice_code])
        return not rows.empty


def _as_dates(column: pd.Series) -> list[date]:
    """Python dates for a column of timestamps: each distinct value converted once (a few dozen periods
    over hundreds of thousands of rows), not row by row."""
    codes, distinct = pd.factorize(column)
    dates = np.array([*(ts.date() for ts in pd.to_datetime(distinct)), pd.NaT], dtype=object)
    return dates[codes].tolist()  # code -1 (missing) takes the last entry, NaT


log = logging.getLogger(__name__)
_pinned: ContextVar[WebData | None] = ContextVar("gpcluster_web_data", default=None)


def pinned_version() -> Path | None:
    """The warehouse version file the current request reads (None outside a request)."""
    data = _pinned.get()
    return data.file if data is not None else None


class LiveWebData:
    """The app's warehouse across versions (see gpcluster.warehouse.versions).

    Attribute access goes to the WebData pinned for the current request by `pin()` (so a request reads one
    version from start to end), else to the newest. A watcher thread checks the warehouse link every
    `warehouse_poll_seconds`; when it points at a new version, the watcher opens it (the old one serving
    meanwhile), switches new requests to it, and closes the old one when its last request has finished.
    A version that cannot be opened (e.g. no indicator results) is logged and skipped; the old one stays.
    """

    def __init__(self, path: Path | str | None = None, poll_seconds: float | None = None):
        self._link = Path(path) if path is not None else config.warehouse_path()
        self._current = WebData(self._link)
        self._lock = threading.Lock()
        self._in_flight: dict[int, int] = {}
        self._retired: dict[int, WebData] = {}
        self._skipped: Path | None = None
        self._stop = threading.Event()
        poll = float(config.get("warehouse_poll_seconds") if poll_seconds is None else poll_seconds)
        self._watcher = None
        if poll > 0:
            self._watcher = threading.Thread(target=_watch, args=(weakref.ref(self), self._stop, poll),
                                             name="gpcluster-warehouse-watcher", daemon=True)
            self._watcher.start()
            _WATCHERS.add(self._watcher)

    def __getattr__(self, name: str):
        return getattr(_pinned.get() or self._current, name)

    @property
    def current(self) -> WebData:
        return self._current

    def pin(self) -> Token:
        """Serve the calling request (its context) from the newest version until `unpin`."""
        with self._lock:
            data = self._current
            self._in_flight[id(data)] = self._in_flight.get(id(data), 0) + 1
        return _pinned.set(data)

    def unpin(self, token: Token) -> None:
        data = _pinned.get()
        _pinned.reset(token)
        if data is None:
            return
        with self._lock:
            left = self._in_flight[id(data)] = self._in_flight.get(id(data), 1) - 1
            finished = self._retired.pop(id(data), None) if left <= 0 else None
            if left <= 0:
                self._in_flight.pop(id(data), None)
        if finished is not None:
            finished.close()

    def refresh(self) -> bool:
        """Switch to the warehouse's current version if it is not the one served; True when switched."""
        from gpcluster.warehouse.versions import current_file

        target = current_file(self._link)
        if target is None or target == self._current.file or target == self._skipped:
            return False
        try:
            fresh = WebData(target)
        except Exception:  # a version the app cannot serve must not stop it serving the one it has
            log.exception("warehouse version %s cannot be served; still serving %s", target, self._current.file)
            self._skipped = target
            return False
        with self._lock:
            old, self._current = self._current, fresh
            if self._in_flight.get(id(old), 0) > 0:
                self._retired[id(old)] = old
                old = None
        WebData._cached_values.cache_clear()  # results of the old version are never served again
        if old is not None:
            old.close()
        log.info("now serving warehouse version %s", fresh.file)
        return True

    def __del__(self) -> None:
        self._stop.set()

    def close(self) -> None:
        self._stop.set()
        if self._watcher is not None:
            self._watcher.join(timeout=5)
        with self._lock:
            retired, self._retired = list(self._retired.values()), {}
        for data in [*retired, self._current]:
            data.close()


_WATCHERS: weakref.WeakSet[threading.Thread] = weakref.WeakSet()
_EXITING = threading.Event()


@atexit.register
def _stop_watchers() -> None:
    """Stop every watcher before the interpreter tears down DuckDB (a daemon thread caught holding a
    connection at that moment leaves it, and nanobind reports the leak)."""
    _EXITING.set()
    for thread in list(_WATCHERS):
        thread.join(timeout=5)


def _watch(live: weakref.ref, stop: threading.Event, poll: float) -> None:
    """The watcher thread. It holds the LiveWebData only weakly, so an app that is dropped (or the
    interpreter exiting) is not kept alive, with its DuckDB connections, by its own watcher."""
    while not stop.wait(poll) and not _EXITING.is_set():
        data = live()
        if data is None:
            return
        try:
            data.refresh()
        except Exception:  # keep watching whatever happens to one attempt
            log.exception("checking for a new warehouse version failed")
        finally:
            del data
