"""Read-only queries of the warehouse for the web app. Every result goes through gpcluster.web.release
before it leaves the server.

Release once, serve many: what does not depend on the viewer is decided once per warehouse version (the
suppression pattern, over the whole release, at compute time; aggregates of every practice such as
centiles, on first use, see `WebData.memo`); a page's query applies the pattern to its own rows only,
set-based in DuckDB, and what is left per request (names or pseudonyms for this viewer) is proportional
to the page.
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import os
import threading
import weakref
from collections.abc import Iterator
from contextvars import ContextVar, Token
from dataclasses import dataclass
from datetime import date, datetime
from functools import lru_cache
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd

from gpcluster import checksummed, config
from gpcluster.errors import UserError
from gpcluster.exports import IndicatorRule, disclosed_select, rules_of, warehouse_is_synthetic
from gpcluster.warehouse import open_warehouse
from gpcluster.web.persisted import MISSING, PageStore

VALUE_NAMES = [
    "indicator_id", "period", "level", "area_code", "cluster_id", "hscp_code", "board_code", "numerator",
    "denominator", "numerator_date", "denominator_date", "note", "value", "lower95", "upper95", "lower998",
    "upper998", "expected", "z_score", "cluster_value", "hscp_value", "board_value", "scotland_value",
    "funnel_scotland", "funnel_hscp", "spc_signal", "spc_rule", "national_rank", "national_decile",
]  # fmt: skip
VALUE_COLUMNS = (
    "v.indicator_id, v.period, v.level, v.area_code, v.cluster_id, v.hscp_code, v.board_code, "
    "v.numerator, v.denominator, v.numerator_date, v.denominator_date, v.note, v.value, v.lower95, v.upper95, "
    "v.lower998, v.upper998, v.expected, v.z_score, "
    "v.cluster_value, v.hscp_value, v.board_value, v.scotland_value, v.funnel_scotland, v.funnel_hscp, "
    "v.spc_signal, v.spc_rule, v.national_rank, v.national_decile"
)
# an area the lookups do not name (a practice in the results but not in the practice file) goes by its code:
# a page must never show "nan" or fail on it
_AREA_NAME = """coalesce(p.practice_name, c.cluster_name, h.hscp_name, b.board_name,
                CASE WHEN v.level = 'scotland' THEN 'Scotland' END, v.area_code) AS area_name"""
_NAME_JOINS = """
    LEFT JOIN practice p ON v.level = 'practice' AND p.practice_code = v.area_code
    LEFT JOIN cluster c ON v.level = 'cluster' AND c.cluster_id = v.area_code
    LEFT JOIN hscp h ON v.level = 'hscp' AND h.hscp_code = v.area_code
    LEFT JOIN board b ON v.level = 'board' AND b.board_code = v.area_code"""

VALUES_CACHE_SIZE = 512
_PATTERN_COLUMNS = {"indicator_id": str, "period": "datetime64[us]", "level": str, "area_code": str,
                    "denominator_hidden": bool}


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


class _KeyLock:
    """A lock for one cache key, held weakly by the table of locks: freed once no request waits on it."""

    __slots__ = ("lock", "__weakref__")

    def __init__(self) -> None:
        self.lock = threading.Lock()


def rows_by_key(frame: pd.DataFrame, keys: list[str]) -> tuple[pd.DataFrame, dict]:
    """`frame` and where each combination of `keys` is in it (row positions, in the frame's order)."""
    return frame, frame.groupby(keys, sort=False, dropna=False, observed=True).indices


class WebData:
    """The warehouse, opened read-only once; each query uses its own cursor (thread-safe).

    `hold_release`: read the whole release, disclosed, into memory in a background thread (the app does;
    about 350 MB for demo Scotland), after which `values` selects its rows there instead of querying. It
    starts when the warehouse is opened. Starting it on the first page built instead (so that a server whose
    pages are persisted starts without that work) made the first pages of every scope nobody prerenders (a
    cluster lead's) wait for it under load: p95 7.3 s on a cluster lead's indicator pages against 0.25-0.35 s.
    """

    def __init__(self, path: Path | str | None = None, hold_release: bool = False):
        # the version file itself: a new version published meanwhile does not change what this one serves
        self.file = Path(os.path.realpath(path if path is not None else config.warehouse_path()))
        self._con = open_warehouse(self.file, read_only=True)
        self._lock = threading.Lock()
        has_results = self._con.execute(
            "SELECT count(*) FROM duckdb_tables() WHERE table_name IN ('indicator_value', 'indicator_definition')"
        ).fetchone()[0]
        if has_results < 2:
            raise UserError("the warehouse has no indicator results: run `gpcluster indicators compute` first")
        from gpcluster.indicators.stored import stored_definitions

        definitions = stored_definitions(self._con)  # parsed once: the rules and the indicators' purposes
        self.rules: dict[str, IndicatorRule] = rules_of(definitions)
        self.synthetic: bool = warehouse_is_synthetic(self._con)
        self.indicators: dict[str, Indicator] = self._load_indicators(definitions)
        self.periods: list[date] = [r[0] for r in self._con.execute(
            "SELECT DISTINCT period FROM indicator_value ORDER BY period").fetchall()]
        self.clusters: dict[str, Cluster] = self._load_clusters()
        from gpcluster.indicators.suppression import current_pattern  # scipy: not before the app answers

        # the release's suppression pattern, for the disclosure settings in force
        self.suppression: pd.DataFrame = current_pattern(self._con)
        self.has_signals: bool = bool(self._con.execute(
            "SELECT count(*) FROM duckdb_tables() WHERE table_name = 'signal'").fetchone()[0])
        self.performance_indicators: list[str] = [i for i, d in self.indicators.items() if d.purpose == "performance"]
        self.practice_names: dict[str, str] = dict(self._con.execute(
            "SELECT practice_code, practice_name FROM practice").fetchall())
        unknown = {r[0] for r in self._con.execute("SELECT DISTINCT indicator_id FROM indicator_value"
                                                   ).fetchall()} - set(self.rules)
        if unknown:
            raise UserError(f"no disclosure rule for indicator(s) {', '.join(sorted(unknown))}; refusing to serve")
        pattern = self.suppression.reindex(columns=list(_PATTERN_COLUMNS))
        self._pattern = pattern.astype(_PATTERN_COLUMNS) if len(pattern) else pd.DataFrame(
            {c: pd.Series(dtype=t) for c, t in _PATTERN_COLUMNS.items()})
        self._memo: dict = {}
        self._memo_lock = threading.Lock()
        self._memo_building: dict = {}
        # single-flight locks of `values`, dropped when no request holds them (a dict of every key ever
        # asked for would grow without bound)
        self._value_locks: weakref.WeakValueDictionary = weakref.WeakValueDictionary()
        self._released: ReleasedRows | None = None
        self._pages: PageStore | None = None
        self._holder: threading.Thread | None = None
        self._holder_cursor: duckdb.DuckDBPyConnection | None = None
        self._stopping = threading.Event()
        if hold_release:
            self._start_holding()

    def _start_holding(self) -> None:
        self._holder = threading.Thread(target=self._hold_release, name="gpcluster-release-holder", daemon=True)
        self._holder.start()
        _HOLDING.add(self)

    def _hold_release(self) -> None:
        try:
            self.load_release()
        except Exception:  # closed meanwhile (a newer version), or interrupted: pages keep querying
            log.info("the release of %s was not held in memory; pages query it", self.file, exc_info=True)

    def load_release(self, wait_for_others: bool = True) -> None:
        """Read every row of the release, disclosed, into memory (see ReleasedRows); `values` then reads there.

        Built once per warehouse version, disclosure settings and code, and kept beside the version
        (gpcluster.web.persisted_release): later starts read that file instead of querying.
        `wait_for_others`: when it is not kept yet, build it under the lock that makes processes starting
        at once build it once (waiting for one that is building it). A low-priority process (the
        prerender) passes False and builds its own if need be: a server process must never wait for it."""
        from gpcluster.web import persisted_release

        if self.read_kept_release():
            return
        key = self._release_key()
        if not wait_for_others:
            released = self._build_release(key)
        else:
            with persisted_release.building(self.file, self._stopping):  # processes starting at once build it once
                stored = persisted_release.read(self.file, key)  # built by another meanwhile
                released = ReleasedRows(*stored) if stored is not None else self._build_release(key)
        self._released = released
        self._cached_values_clear()

    def _release_key(self) -> str:
        from gpcluster.indicators.suppression import settings
        from gpcluster.web import persisted_release

        return persisted_release.release_key(self.file, self._pattern, self.rules, settings())

    def read_kept_release(self) -> bool:
        """Read the release kept beside the version (checked: see persisted_release.read) into memory, if
        there is one for this version, disclosure settings and code; True when it was."""
        from gpcluster.web import persisted_release

        stored = persisted_release.read(self.file, self._release_key())
        if stored is None:
            return False
        self._released = ReleasedRows(*stored)
        self._cached_values_clear()
        return True

    def _build_release(self, key: str) -> ReleasedRows:
        """The release queried from the warehouse, then kept beside the version under `key`."""
        from gpcluster.web import persisted_release

        cur = self._holder_cursor = self._cursor()
        try:
            frame = self._select(cur, [], [])
        finally:
            self._holder_cursor = None
            cur.close()
        released = ReleasedRows(frame)
        try:
            persisted_release.write(self.file, key, released.frame, released.factorised)
        except (OSError, persisted_release.NotPersistable) as exc:  # a read-only folder: kept in memory
            log.warning("the release of %s is not kept on disk: %s", self.file, exc)
        return released

    @property
    def pages(self) -> PageStore:
        """Rendered pages and serialised tables of this version kept on disk (gpcluster.web.persisted)."""
        if self._pages is None:
            with self._lock:
                if self._pages is None:
                    self._pages = PageStore(self.file)
        return self._pages

    @property
    def release_held(self) -> bool:
        """True once `values` reads the release held in memory."""
        return self._released is not None

    def stop_holding(self) -> None:
        """Interrupt the reading of the release into memory, if still running, and wait for its thread."""
        self._stopping.set()  # also stops waiting for another process to build it
        holder, cursor = self._holder, self._holder_cursor
        if holder is not None and holder.is_alive():
            if cursor is not None:
                with contextlib.suppress(Exception):  # it finished meanwhile
                    cursor.interrupt()
            holder.join(timeout=30)

    def close(self) -> None:
        self.stop_holding()
        self._con.close()

    def suppressed_signal_keys(self) -> pd.MultiIndex:
        """The suppression pattern's keys, what each page's signals are looked up in (release_signals)."""
        from gpcluster.web.release import suppressed_signal_keys

        return self.memo("suppressed signal keys", lambda: suppressed_signal_keys(self.suppression))

    def memo(self, key, build, persist: bool = False):
        """A scope-independent result of this version (an aggregate of released rows), built once: concurrent
        first requests for it wait for the one build instead of all computing it. `persist`: also kept in
        the version's page store, shared by every server process (for small, picklable results)."""
        with self._memo_lock:
            if key in self._memo:
                return self._memo[key]
            building = self._memo_building.setdefault(key, threading.Lock())
        with building:
            with self._memo_lock:
                if key in self._memo:
                    return self._memo[key]
            value = self.pages.get(("memo", key)) if persist else MISSING
            if value is MISSING:
                value = build()
                if persist:
                    self.pages.put(("memo", key), value)
            with self._memo_lock:
                self._memo[key] = value
                self._memo_building.pop(key, None)
            return value

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

    def _load_indicators(self, definitions: dict) -> dict[str, Indicator]:
        rows = self._con.execute(
            """SELECT d.indicator_id, d.title, d.description, d.why_it_matters, d.measure_type, d.multiplier,
                      d.unit, d.polarity, d.synthetic
               FROM indicator_definition d
               JOIN (SELECT DISTINCT indicator_id, version FROM indicator_value) USING (indicator_id, version)
               ORDER BY d.title"""
        ).fetchall()
        purposes = {i: d.purpose for i, d in definitions.items()}
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
        """Indicator values with area names, filtered (bound parameters only), already through disclosure
        control: the release's suppression pattern applied set-based in the query
        (gpcluster.exports.disclosed_select; column ``suppressed``). Still to be released for the viewer.

        The warehouse is read-only while the app runs, so results are cached (a bounded LRU).
        """
        if isinstance(period, datetime):
            period = period.date()
        released = self._released
        if released is not None:
            return released.select(indicator_id=indicator_ids, level=levels, area_code=area_codes,
                                   period=None if period is None else [period],
                                   cluster_id=None if cluster_id is None else [cluster_id])
        key = (tuple(indicator_ids) if indicator_ids is not None else None,
               tuple(levels) if levels is not None else None, period, cluster_id,
               tuple(area_codes) if area_codes is not None else None)
        with self._memo_lock:
            building = self._value_locks.get(key)
            if building is None:
                building = self._value_locks[key] = _KeyLock()
        with building.lock:  # concurrent first requests for the same rows wait for one query, not run fifty
            return self._cached_values(key).copy()

    def _cached_values_clear(self) -> None:
        WebData._cached_values.cache_clear()

    @lru_cache(maxsize=VALUES_CACHE_SIZE)  # noqa: B019 - one WebData per app, living as long as the app
    def _cached_values(self, key: tuple) -> pd.DataFrame:
        indicator_ids, levels, period, cluster_id, area_codes = key
        where, params = [], []
        for column, allowed in (("indicator_id", indicator_ids), ("level", levels), ("area_code", area_codes)):
            if allowed is not None:
                where.append(f"{column} IN ({', '.join('?' * len(allowed))})" if allowed else "FALSE")
                params.extend(allowed)
        for column, wanted in (("period", period), ("cluster_id", cluster_id)):
            if wanted is not None:
                where.append(f"{column} = ?")
                params.append(wanted)
        cur = self._cursor()
        try:
            return self._select(cur, where, params)
        finally:
            cur.close()

    def _select(self, cur: duckdb.DuckDBPyConnection, where: list[str], params: list) -> pd.DataFrame:
        """Disclosed rows matching `where` (SQL conditions on indicator_value), in the order `values` gives."""
        cur.register("suppression_pattern", self._pattern)
        frame = cur.execute(
            f"""{disclosed_select(f"(SELECT * FROM indicator_value WHERE {' AND '.join(where) or 'TRUE'})",
                                  "suppression_pattern", VALUE_NAMES, extra=_AREA_NAME, joins=_NAME_JOINS)}
                ORDER BY v.indicator_id, v.level, v.area_code, v.period""", params).df()
        frame["period"] = _as_dates(frame["period"])
        # nullable integers (ranks, counts) as floats with NaN, as every other query gives them: pandas' NA
        # cannot be tested for truth in templates
        for column, dtype in frame.dtypes.items():
            if isinstance(dtype, pd.api.extensions.ExtensionDtype) and pd.api.types.is_numeric_dtype(dtype):
                frame[column] = frame[column].astype("float64")
            elif pd.api.types.is_object_dtype(dtype) and len(frame) and frame[column].isna().all():
                # a text column with no value in these rows comes back as objects holding None, one with a
                # value as text holding NaN (and the held release as objects holding NaN): one missing
                # value, NaN, whichever rows a query selects and whether or not the release is held
                frame[column] = pd.Series(np.full(len(frame), np.nan, dtype=object), index=frame.index)
        return frame

    def funnel_model(self, indicator_id: str, period: date, level: str = "practice") -> dict | None:
        """The overdispersion model a performance indicator's funnel used (scale, units, φ, τ², adjusted)."""
        rows = self.funnel_models(indicator_id, level)
        rows = rows[rows["period"] == pd.Timestamp(period)]
        return rows[["scale", "units", "phi", "tau2", "adjusted"]].iloc[0].to_dict() if len(rows) else None

    def _all_signals(self) -> pd.DataFrame:
        """Every stored signal with its indicator's title, best first (a few thousand rows: read once)."""
        return self.memo(("signals",), lambda: _as_objects(self.query(
            """SELECT s.*, d.title
               FROM signal s JOIN (SELECT DISTINCT indicator_id, title FROM indicator_definition) d USING (indicator_id)
               ORDER BY s.rank_in_cluster NULLS LAST, s.score DESC, s.indicator_id, s.area_code""")))

    def cluster_signals(self, cluster_id: str, period: date) -> pd.DataFrame:
        """Unreleased signals of a cluster (its practices' and its own) in one quarter, best first."""
        if not self.has_signals:
            return pd.DataFrame()
        # the same for every viewer: found once per cluster and quarter of this version
        return self.memo(("cluster_signals", cluster_id, period),
                         lambda: self._cluster_signals(cluster_id, period)).copy()

    def _cluster_signals(self, cluster_id: str, period: date) -> pd.DataFrame:
        signals = self._all_signals()
        level = signals["level"]
        frame = signals[(signals["period"] == pd.Timestamp(period))
                        & (((level == "practice") & (signals["cluster_id"] == cluster_id))
                           | ((level == "cluster") & (signals["area_code"] == cluster_id)))].reset_index(drop=True)
        frame["period"] = _as_dates(frame["period"])
        frame["area_name"] = [self.practice_names.get(c, c) if lv == "practice" else
                              (self.clusters[c].cluster_name if c in self.clusters else c)
                              for lv, c in zip(frame["level"], frame["area_code"], strict=True)]
        return frame

    def live_signals(self, level: str, area_code: str, indicator_id: str, period: date) -> pd.DataFrame:
        """Unreleased new or ongoing signals of one area and indicator in one quarter."""
        if not self.has_signals:
            return pd.DataFrame()
        s = self._all_signals()
        # where each (level, area, indicator, quarter)'s live signals are, found once per version: a mask
        # over every signal on each trend page was a fifth of its build
        live, at = self.memo(("live signal rows",), lambda: rows_by_key(
            s[s["status"] != "resolved"], ["level", "area_code", "indicator_id", "period"]))
        rows = at.get((level, area_code, indicator_id, pd.Timestamp(period)))
        # most areas have none: an empty slice, not a take of no rows (a trend page's first build asks)
        return live.iloc[:0] if rows is None else live.take(rows).reset_index(drop=True)

    def funnel_models(self, indicator_id: str, level: str) -> pd.DataFrame:
        """The adjusted funnel's models of an indicator at a level, every period (read once per version)."""
        models = self.memo(("funnel_models",), lambda: self.query(
            "SELECT indicator_id, level, period, scale, units, phi, tau2, adjusted FROM funnel_model "
            "ORDER BY indicator_id, level, period"))
        return models[(models["indicator_id"] == indicator_id) & (models["level"] == level)].reset_index(drop=True)

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

        def count() -> dict[str, int]:
            rows = self.query(
                "SELECT cluster_id, count(DISTINCT area_code) AS n FROM indicator_value "
                "WHERE level = 'practice' AND period = ? AND cluster_id IS NOT NULL GROUP BY cluster_id",
                [self.latest_period])
            return dict(zip(rows["cluster_id"], rows["n"], strict=True))

        return dict(self.memo(("cluster_practice_counts",), count))  # every overview and area page asks

    def practice_exists(self, practice_code: str) -> bool:
        rows = self.query("SELECT 1 FROM practice WHERE practice_code = ?", [practice_code])
        return not rows.empty


class ReleasedRows:
    """Every row of the release, already through disclosure control (the query `values` runs, without a
    filter), in `values`' order, with an index on each column a page filters by: a page's rows are then
    found by position (proportional to the page), not by scanning the warehouse.

    The same for every viewer: release once per warehouse version, serve many.
    """

    FILTERS = ("indicator_id", "level", "area_code", "period", "cluster_id")

    def __init__(self, frame: pd.DataFrame, factorised: dict[str, tuple[np.ndarray, np.ndarray]] | None = None):
        """`factorised`: (codes, distinct values) of columns already factorised (as
        gpcluster.web.persisted_release reads them from the dictionaries it stores); the others are
        factorised here."""
        self.factorised: dict[str, tuple[np.ndarray, np.ndarray]] = dict(factorised or {})
        # text columns as Python strings shared between rows (each distinct string once): selecting and
        # iterating rows of Arrow-backed strings costs pandas a conversion per row, every page
        # (explicitly object: pandas 3 would otherwise infer its Arrow-backed text type again, and every
        # page's selection then took each text column through Arrow: a fifth of a practice page's time)
        for column, dtype in frame.dtypes.items():
            if isinstance(dtype, pd.StringDtype):
                if column in self.factorised:
                    codes, distinct = self.factorised[column]
                else:
                    codes, distinct = pd.factorize(frame[column])
                    distinct = np.asarray(distinct, dtype=object)
                    self.factorised[column] = (codes, distinct)
                frame[column] = pd.Series(np.append(distinct, np.nan)[codes], index=frame.index, dtype=object)
        self.frame = frame
        self._codes: dict[str, np.ndarray] = {}
        self._lookup: dict[str, dict] = {}
        self._groups: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        for column in self.FILTERS:
            if column not in self.factorised:
                self.factorised[column] = pd.factorize(frame[column].to_numpy(dtype=object))
            codes, distinct = self.factorised[column]
            # each value's rows in ascending position: a stable sort of 16-bit codes is numpy's radix sort,
            # faster than its merge sort of wider ones, and the same order (a stable sort's order is unique)
            order = np.argsort(codes.astype(np.int16) if len(distinct) < 2**15 else codes, kind="stable")
            # where each value's rows begin in `order`: the number of codes below it (missing, -1, first)
            bounds = np.cumsum(np.bincount(codes + 1, minlength=len(distinct) + 1))
            self._codes[column] = codes
            self._lookup[column] = {value: i for i, value in enumerate(distinct)}
            self._groups[column] = (order, bounds)

    def select(self, **wanted: list | None) -> pd.DataFrame:
        """Rows whose column is one of the wanted values, for each column given (None: any value)."""
        chosen: dict[str, np.ndarray] = {}
        for column, values in wanted.items():
            if values is None:
                continue
            lookup = self._lookup[column]
            chosen[column] = np.array(sorted({lookup[v] for v in values if v in lookup}), dtype=np.intp)
        if not chosen:
            return self.frame.copy()
        sizes = {c: int(sum(self._groups[c][1][k + 1] - self._groups[c][1][k] for k in codes))
                 for c, codes in chosen.items()}
        first = min(sizes, key=sizes.get)  # start from the column that leaves fewest rows
        order, bounds = self._groups[first]
        positions = np.sort(np.concatenate([order[bounds[k]:bounds[k + 1]] for k in chosen[first]]
                                           or [np.empty(0, dtype=np.intp)]))
        for column, codes in chosen.items():
            if column != first and len(positions):
                positions = positions[np.isin(self._codes[column][positions], codes)]
        return self.frame.take(positions).reset_index(drop=True)


def _as_objects(frame: pd.DataFrame) -> pd.DataFrame:
    """Text columns as Python strings (object), not pandas' Arrow-backed text: a page selects and iterates
    small frames of these many times, and each Arrow column costs a conversion every time."""
    for column, dtype in frame.dtypes.items():
        if isinstance(dtype, pd.StringDtype):
            frame[column] = frame[column].astype(object)
    return frame


_HOLDING: weakref.WeakSet[WebData] = weakref.WeakSet()

#: the warehouse view `gpcluster serve --workers N` opened before forking its server processes
_PREOPENED: WebData | None = None


def preopen_for_workers(path: Path | str | None = None) -> None:
    """Open the warehouse view and read the release kept beside its version once, in the process that
    forks the server processes, before it forks them: each then adopts both (`LiveWebData`, with a
    connection of its own) instead of opening the view (about 0.2 s of CPU) and reading the release (about
    0.6 s of CPU, in a thread holding the interpreter lock against /health and the first pages) itself;
    the decoded release is shared between the processes by the fork (copy-on-write). No connection or
    thread crosses the fork: the view's connection is closed here. A release not kept yet (a version's
    first start) is built after the fork, as before."""
    global _PREOPENED
    try:
        try:
            data = WebData(path)
        except (UserError, OSError, duckdb.Error):  # each process opens it, and reports why it cannot, as before
            log.info("the warehouse view was not opened before the fork", exc_info=True)
            return
        try:
            data.read_kept_release()
        finally:
            data._con.close()
    finally:
        checksummed.forget_ahead()  # what was checked ahead and not read: no thread or mapping crosses the fork
    _PREOPENED = data


def _adopt_preopened(link: Path | str | None) -> WebData | None:
    """The view opened before the fork (preopen_for_workers), with a connection of this process, when it
    is of the version `link` points at now (else None: a newer version is opened afresh)."""
    global _PREOPENED
    data, _PREOPENED = _PREOPENED, None
    if data is None or data.file != Path(os.path.realpath(link if link is not None else config.warehouse_path())):
        return None
    data._con = open_warehouse(data.file, read_only=True)
    if not data.release_held:
        data._start_holding()
    return data


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


def pinned_data() -> WebData | None:
    """The warehouse version the current request reads (None outside a request)."""
    return _pinned.get()


@contextlib.contextmanager
def pinned(data: WebData) -> Iterator[WebData]:
    """Read `data` in this block as a request pinned to it would (for work done outside requests)."""
    token = _pinned.set(data)
    try:
        yield data
    finally:
        _pinned.reset(token)


class LiveWebData:
    """The app's warehouse across versions (see gpcluster.warehouse.versions).

    Attribute access goes to the WebData pinned for the current request by `pin()` (so a request reads one
    version from start to end), else to the newest. A watcher thread checks the warehouse link every
    `warehouse_poll_seconds`; when it points at a new version, the watcher opens it (the old one serving
    meanwhile), switches new requests to it, and closes the old one when its last request has finished.
    A version that cannot be opened (e.g. no indicator results) is logged and skipped; the old one stays.
    """

    def __init__(self, path: Path | str | None = None, poll_seconds: float | None = None, prerender: bool = False):
        self._link = Path(path) if path is not None else config.warehouse_path()
        self._current = _adopt_preopened(self._link) or WebData(self._link, hold_release=True)
        self._prerender = prerender
        self._start_prerender(self._current)
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

    def _start_prerender(self, data: WebData) -> None:
        """Have the shared pages of this version rendered into its page store, in another process
        (gpcluster.web.prerender), when this app was asked to."""
        if not self._prerender:
            return
        from gpcluster.web.prerender import start_in_background

        try:
            process = start_in_background(data.file)
        except OSError:
            log.warning("the shared pages of %s are not prerendered", data.file, exc_info=True)
            return
        if process is not None:  # reaped by a thread of its own: no zombie
            threading.Thread(target=process.wait, name="gpcluster-prerender-reaper", daemon=True).start()

    def refresh(self) -> bool:
        """Switch to the warehouse's current version if it is not the one served; True when switched."""
        from gpcluster.warehouse.versions import current_file

        target = current_file(self._link)
        if target is None or target == self._current.file or target == self._skipped:
            return False
        try:
            fresh = WebData(target, hold_release=True)
        except Exception:  # a version the app cannot serve must not stop it serving the one it has
            log.exception("warehouse version %s cannot be served; still serving %s", target, self._current.file)
            self._skipped = target
            return False
        with self._lock:
            old, self._current = self._current, fresh
            if self._in_flight.get(id(old), 0) > 0:
                self._retired[id(old)] = old
                old = None
        fresh._cached_values_clear()  # results of the old version are never served again
        if old is not None:
            old.close()
        log.info("now serving warehouse version %s", fresh.file)
        self._start_prerender(fresh)
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
    for data in list(_HOLDING):
        data.stop_holding()


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
