"""Read-only queries of the warehouse for the web app. Unsuppressed: every result goes through
gpcluster.web.release before it leaves the server."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import date
from functools import lru_cache
from pathlib import Path

import duckdb
import pandas as pd

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
        self._con = open_warehouse(path, read_only=True)
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
    return [ts.date() for ts in pd.to_datetime(column)]
