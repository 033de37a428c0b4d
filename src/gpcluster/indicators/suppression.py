"""Which stored figures must never leave the server: the suppression pattern of the whole release.

Decided once per compute run over every stored indicator, period and level together (a figure is safe
only if nothing published beside it gives it back), and stored in `indicator_suppression`; every output
(pages, API, downloads, exports, packs) blanks the figures listed there.

1. **Primary**: each indicator's rule (`disclosure` in its definition): a count column at or below the
   threshold (zeros only with `suppress_zeros`).
2. **Remainder**: a figure declared `part_of` another (aged 0-4 within aged under 15, women within the
   list) is hidden when the unpublished remainder (aged 5-14, men) would be a small count.
3. **Complementary**: published numerators are tied by linear relations: an area's numerator is the sum
   of its practices' (at cluster, HSCP, board and Scotland level, with every practice in each), and a
   declared partition sums to its total (aged under 15 + 15-64 + 65+ = the list). Cells are added to the
   hidden set until no hidden figure is determined by the published ones
   (`gpcluster.stats.disclosure.complementary_mask`).

A suppressed row loses its numerator and, for measures whose value would reveal it, its value, intervals
and everything derived from them (see gpcluster.exports).
"""

from __future__ import annotations

from dataclasses import dataclass

import duckdb
import numpy as np
import pandas as pd

from gpcluster import config
from gpcluster.indicators.definition import Definition
from gpcluster.stats.disclosure import complementary_mask, primary_mask

SCHEMA = """
CREATE TABLE IF NOT EXISTS indicator_suppression (
    indicator_id VARCHAR NOT NULL,
    period       DATE NOT NULL,
    level        VARCHAR NOT NULL,
    area_code    VARCHAR NOT NULL,
    reason       VARCHAR NOT NULL,    -- primary | remainder | complementary
    denominator_hidden BOOLEAN NOT NULL  -- the denominator is blanked too (else only the numerator and
                                         -- what would reveal it)
);
CREATE TABLE IF NOT EXISTS indicator_suppression_settings (
    disclosure_threshold INTEGER NOT NULL,
    suppress_zeros       BOOLEAN NOT NULL,
    decided_at           TIMESTAMP NOT NULL DEFAULT current_timestamp
);
"""
# measure types whose area numerators are sums of their practices' (a 'change' is a difference of totals)
_SUMMED = ("proportion", "crude_rate", "standardised_ratio", "mean", "count")
_AREA_COLUMNS = {"cluster": "cluster_id", "hscp": "hscp_code", "board": "board_code"}
COLUMNS = ("numerator", "denominator")  # cell of row r, column c: 2 * r + c


@dataclass(frozen=True)
class SuppressionSummary:
    primary: int
    remainder: int
    complementary: int


def settings() -> tuple[int, bool]:
    """The disclosure settings a suppression pattern is decided under."""
    return int(config.get("disclosure_threshold")), bool(config.get("suppress_zeros"))


def _threshold(definition: Definition, default: int) -> int:
    return default if definition.disclosure.threshold is None else definition.disclosure.threshold


def _cells_in_play(definitions: dict[str, Definition]) -> dict[str, set[str]]:
    """indicator -> columns that can be hidden or tie hidden cells to published ones."""
    used: dict[str, set[str]] = {}

    def add(indicator_id: str, column: str) -> None:
        if indicator_id in definitions and definitions[indicator_id].measure_type in _SUMMED:
            used.setdefault(indicator_id, set()).add(column)

    for i, d in definitions.items():
        if d.disclosure.rule != "none":
            for column in {"numerator", *d.disclosure.columns}:
                add(i, column)
        if d.disclosure.part_of:
            add(i, "numerator")
            add(d.disclosure.part_of, "numerator")
        for relation in d.disclosure.sums:
            add(i, relation.total)
            for cell in relation.parts:
                add(*cell.split("."))
    return used


def _public_denominator(definition: Definition) -> bool:
    return definition.denominator is not None and definition.denominator.kind == "population"


class _Keys:
    """Integer keys of the rows released together, so every join below is an array lookup."""

    def __init__(self, rows: pd.DataFrame):
        self.indicator, self.indicators = pd.factorize(rows["indicator_id"])
        self.level, self.levels = pd.factorize(rows["level"])
        self.period, _ = pd.factorize(rows["period"])
        codes = pd.concat([rows["area_code"], rows["cluster_id"], rows["hscp_code"], rows["board_code"],
                           pd.Series(["S92000003"])], ignore_index=True)
        all_codes, self.areas = pd.factorize(codes)
        n = len(rows)
        self.area = all_codes[:n]
        self.parent = {"cluster": all_codes[n:2 * n], "hscp": all_codes[2 * n:3 * n],
                       "board": all_codes[3 * n:4 * n], "scotland": np.full(n, all_codes[-1])}
        self.n_area = len(self.areas) + 1
        self.row_of = pd.Index(self.key(self.indicator, self.level, self.area))

    def key(self, indicator, level, area, period=None) -> np.ndarray:
        period = self.period if period is None else period
        return ((period.astype(np.int64) * (len(self.indicators) + 1) + indicator) * (len(self.levels) + 1)
                + level) * self.n_area + area

    def level_code(self, level: str) -> int:
        return int(self.levels.get_loc(level)) if level in self.levels else -1

    def indicator_code(self, indicator_id: str) -> int:
        return int(self.indicators.get_loc(indicator_id)) if indicator_id in self.indicators else -1


def _equations(rows: pd.DataFrame, keys: _Keys, definitions: dict[str, Definition],
               in_play: dict[str, set[str]]):
    """Sparse linear relations among the cells: area = Σ its practices (per column, every period) and
    total = Σ parts (declared sums). Cell of row r and column c is 2r + c."""
    n = len(rows)
    eqs, cells, coeffs = [], [], []
    usable = rows["usable"].to_numpy()
    practice = keys.level == keys.level_code("practice")
    for c, column in enumerate(COLUMNS):
        playing = np.isin(keys.indicator, [keys.indicator_code(i) for i, cols in in_play.items() if column in cols])
        members = np.flatnonzero(practice & usable & playing)
        for level in ("cluster", "hscp", "board", "scotland"):
            code = keys.level_code(level)
            if code < 0:
                continue
            area_row = keys.row_of.get_indexer(keys.key(keys.indicator[members], np.full(members.size, code),
                                                        keys.parent[level][members], keys.period[members]))
            ok = area_row >= 0
            areas = np.unique(area_row[ok])
            eqs += [c * n + areas, c * n + area_row[ok]]
            cells += [2 * areas + c, 2 * members[ok] + c]
            coeffs += [np.ones(areas.size), -np.ones(int(ok.sum()))]
    offset = 2 * n
    for total_id, definition in definitions.items():
        for relation in definition.disclosure.sums:
            terms = [(total_id, relation.total, 1.0), *((*cell.split("."), -1.0) for cell in relation.parts)]
            group_keys, term_cells, term_signs, term_ids = [], [], [], []
            for t, (indicator_id, column, sign) in enumerate(terms):
                at = np.flatnonzero((keys.indicator == keys.indicator_code(indicator_id)) & usable)
                group_keys.append(keys.key(np.zeros(at.size, dtype=np.int64), keys.level[at], keys.area[at],
                                           keys.period[at]))
                term_cells.append(2 * at + COLUMNS.index(column))
                term_signs.append(np.full(at.size, sign))
                term_ids.append(np.full(at.size, t))
            group, _ = pd.factorize(np.concatenate(group_keys))
            complete = np.bincount(group)[group] == len(terms)
            if not complete.any():
                continue
            eqs.append(offset + group[complete])
            cells.append(np.concatenate(term_cells)[complete])
            coeffs.append(np.concatenate(term_signs)[complete])
            offset += int(group.max()) + 1
    from scipy.sparse import coo_matrix  # not at import: the web app reads the stored pattern without scipy

    if not eqs:
        return coo_matrix((0, 2 * n)).tocsr()
    eq = np.concatenate(eqs)
    _, compact = np.unique(eq, return_inverse=True)
    return coo_matrix((np.concatenate(coeffs), (compact, np.concatenate(cells))),
                      shape=(int(compact.max()) + 1, 2 * n)).tocsr()


def _primary(rows: pd.DataFrame, keys: _Keys, definitions: dict[str, Definition], threshold: int,
             zeros: bool) -> np.ndarray:
    """Cells (2 per row) hidden by each indicator's own rule; a hit in any rule column hides the numerator."""
    hit = np.zeros(2 * len(rows), dtype=bool)
    for code, indicator_id in enumerate(keys.indicators):
        rule = definitions[indicator_id].disclosure
        if rule.rule == "none":
            continue
        idx = np.flatnonzero(keys.indicator == code)
        limit = _threshold(definitions[indicator_id], threshold)
        row_hit = np.zeros(idx.size, dtype=bool)
        for column in rule.columns:
            counts = rows[column].to_numpy(dtype=float)[idx]
            small = primary_mask(np.where(counts < 0, np.nan, counts), limit, zeros)
            row_hit |= small
            if column == "denominator":
                hit[2 * idx + 1] |= small
        hit[2 * idx] |= row_hit
    return hit


def _remainders(rows: pd.DataFrame, keys: _Keys, definitions: dict[str, Definition], threshold: int,
                zeros: bool) -> np.ndarray:
    """Numerator cells hidden because the unpublished remainder of their `part_of` total is small."""
    hit = np.zeros(2 * len(rows), dtype=bool)
    numerator = rows["numerator"].to_numpy(dtype=float)
    for part_id, definition in definitions.items():
        parent_code = keys.indicator_code(definition.disclosure.part_of or "")
        if parent_code < 0:
            continue
        part = np.flatnonzero(keys.indicator == keys.indicator_code(part_id))
        parent = keys.row_of.get_indexer(keys.key(np.full(part.size, parent_code), keys.level[part],
                                                  keys.area[part], keys.period[part]))
        ok = parent >= 0
        remainder = numerator[parent[ok]] - numerator[part[ok]]
        small = primary_mask(np.where(remainder < 0, np.nan, remainder), _threshold(definition, threshold), zeros)
        hit[2 * part[ok][small]] = True
    return hit


def suppression_pattern(frame: pd.DataFrame, definitions: dict[str, Definition],
                        threshold: int | None = None, suppress_zeros: bool | None = None) -> pd.DataFrame:
    """The rows to suppress: indicator_id, period, level, area_code, reason, denominator_hidden.

    `frame`: stored results (indicator_id, period, level, area_code, cluster_id, hscp_code, board_code,
    numerator, denominator, value) of every indicator released together.
    """
    default_threshold, default_zeros = settings()
    threshold = default_threshold if threshold is None else threshold
    zeros = default_zeros if suppress_zeros is None else suppress_zeros
    columns = ["indicator_id", "period", "level", "area_code", "reason", "denominator_hidden"]
    in_play = _cells_in_play(definitions)
    rows = frame[frame["indicator_id"].isin(in_play)].reset_index(drop=True)
    if rows.empty:
        return pd.DataFrame(columns=columns)
    rows["usable"] = rows["value"].notna()
    keys = _Keys(rows)
    primary = _primary(rows, keys, definitions, threshold, zeros)
    remainder = _remainders(rows, keys, definitions, threshold, zeros) & ~primary
    hidden = primary | remainder
    if not hidden.any():
        return pd.DataFrame(columns=columns)
    rule_applies = np.array([definitions[i].disclosure.rule != "none" for i in keys.indicators])[keys.indicator]
    private_den = np.array([not _public_denominator(definitions[i]) for i in keys.indicators])[keys.indicator]
    protectable = np.column_stack([rule_applies, rule_applies & private_den]).ravel()
    values = np.nan_to_num(rows[list(COLUMNS)].to_numpy(dtype=float), nan=0.0).ravel()
    final = complementary_mask(_equations(rows, keys, definitions, in_play), values, hidden,
                               protectable=protectable).reshape(-1, 2)
    hit = final.any(axis=1)
    reason = np.where(primary.reshape(-1, 2).any(axis=1), "primary",
                      np.where(remainder.reshape(-1, 2).any(axis=1), "remainder", "complementary"))
    out = rows.loc[hit, ["indicator_id", "period", "level", "area_code"]].assign(
        reason=reason[hit], denominator_hidden=final[hit, 1])
    return out[columns].reset_index(drop=True)


def rebuild_suppression(con: duckdb.DuckDBPyConnection, definitions: dict[str, Definition]) -> SuppressionSummary:
    """Decide the suppression pattern over every stored result and store it (one transaction)."""
    con.execute(SCHEMA)
    pattern = suppression_pattern(_stored_results(con, definitions), definitions)
    threshold, zeros = settings()
    con.register("new_suppression", pattern)
    try:
        con.execute("BEGIN TRANSACTION")
        con.execute("DELETE FROM indicator_suppression")
        con.execute("INSERT INTO indicator_suppression SELECT indicator_id, CAST(period AS DATE), level, "
                    "area_code, reason, denominator_hidden FROM new_suppression")
        con.execute("DELETE FROM indicator_suppression_settings")
        con.execute("INSERT INTO indicator_suppression_settings (disclosure_threshold, suppress_zeros) VALUES (?, ?)",
                    [threshold, zeros])
        con.execute("COMMIT")
    except Exception:
        con.execute("ROLLBACK")
        raise
    finally:
        con.unregister("new_suppression")
    counts = pattern["reason"].value_counts()
    return SuppressionSummary(*(int(counts.get(r, 0)) for r in ("primary", "remainder", "complementary")))


def current_pattern(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """The suppression pattern for the disclosure settings in force now: the stored one when it was decided
    under the same settings, else decided afresh over the stored results (nothing is written)."""
    tables = {r[0] for r in con.execute("SELECT table_name FROM duckdb_tables()").fetchall()}
    if "indicator_suppression" in tables and "indicator_suppression_settings" in tables:
        stored = con.execute("SELECT disclosure_threshold, suppress_zeros FROM indicator_suppression_settings"
                             ).fetchone()
        if stored is not None and (int(stored[0]), bool(stored[1])) == settings():
            return con.execute("SELECT * FROM indicator_suppression").df()
    from gpcluster.indicators.stored import stored_definitions

    definitions = stored_definitions(con)
    return suppression_pattern(_stored_results(con, definitions), definitions)


def _stored_results(con: duckdb.DuckDBPyConnection, definitions: dict[str, Definition]) -> pd.DataFrame:
    return con.execute("""
        SELECT indicator_id, period, level, area_code, cluster_id, hscp_code, board_code, numerator,
               denominator, value
        FROM indicator_value WHERE list_contains(?, indicator_id)""",
                       [sorted(_cells_in_play(definitions))]).df()
