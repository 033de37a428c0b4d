"""Exports that leave the server: indicator values as CSV, Parquet or Excel, always after disclosure
control, and always marked when they come from synthetic data.

The disclosure rule of each indicator is read from the definition text stored with its results
(indicator_definition.definition), so an export follows exactly the definition that produced it.
Shared by the CLI (`gpcluster indicators export`) and the web app.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import duckdb
import pandas as pd

from gpcluster.errors import UserError
from gpcluster.indicators.definition import Disclosure

FORMATS = {".csv": "csv", ".parquet": "parquet", ".xlsx": "excel"}
EXCEL_MAX_ROWS = 1_048_575  # one sheet, below its header row
SYNTHETIC_NOTE = ("SYNTHETIC DATA: generated for demonstration by gpcluster.synthetic; "
                  "it describes no real practice or patient.")
# When a row is suppressed, everything derived from its value goes too.
_DERIVED_COLUMNS = ("value", "lower95", "upper95", "lower998", "upper998", "z_score", "funnel_scotland",
                    "funnel_hscp", "spc_signal", "spc_rule", "national_rank", "national_decile")
EXPORT_COLUMNS = [
    "synthetic", "indicator_id", "version", "title", "unit", "period", "level", "area_code", "area_name",
    "cluster_id", "hscp_code", "board_code", "numerator", "denominator", "numerator_date", "denominator_date",
    "note", "value", "lower95", "upper95", "lower998", "upper998", "expected", "z_score", "cluster_value",
    "hscp_value", "board_value", "scotland_value",
    "funnel_scotland", "funnel_hscp", "spc_signal", "spc_rule", "national_rank", "national_decile",
    "suppressed",
]  # fmt: skip


@dataclass(frozen=True)
class IndicatorRule:
    """What disclosure control needs to know about one indicator."""

    measure_type: str
    disclosure: Disclosure
    synthetic: bool
    purpose: str = "context"


@dataclass(frozen=True)
class ExportSummary:
    path: Path
    rows: int
    suppressed_rows: int
    synthetic: bool


def apply_disclosure(frame: pd.DataFrame, rules: dict[str, IndicatorRule], pattern: pd.DataFrame) -> pd.DataFrame:
    """Copy of indicator values with the release's suppression pattern applied.

    `pattern` (gpcluster.indicators.suppression.current_pattern) lists the rows that must not leave the
    server, decided over the whole release (primary, remainder and complementary suppression). Their
    numerator is blanked (and the denominator where the pattern says so), and so are the value, its
    intervals and everything derived from it (rank, decile, funnel, SPC), which would give the numerator
    back with the published denominator. Adds a boolean ``suppressed`` column.
    """
    out = frame.copy()
    unknown = sorted(set(out["indicator_id"]) - set(rules))
    if unknown:
        raise UserError(f"no disclosure rule for indicator(s) {', '.join(unknown)}; refusing to export")
    out["suppressed"] = False
    if out.empty or pattern.empty:
        return out
    key = ["indicator_id", "period", "level", "area_code"]
    hits = out[key].assign(period=pd.to_datetime(out["period"])).merge(
        pattern[[*key, "denominator_hidden"]].assign(period=pd.to_datetime(pattern["period"])), on=key,
        how="left")["denominator_hidden"]
    hit = hits.notna().to_numpy()
    if not hit.any():
        return out
    target = out.index[hit]
    for column in ("numerator", *_DERIVED_COLUMNS):
        if column in out.columns:
            out.loc[target, column] = None
    hide_den = out.index[hit & hits.fillna(False).to_numpy(dtype=bool)]
    if "denominator" in out.columns and len(hide_den):
        out.loc[hide_den, "denominator"] = None
    out.loc[target, "suppressed"] = True
    return _blank_suppressed_comparators(out, rules)


_COMPARATORS = (("cluster_value", "cluster", "cluster_id"), ("hscp_value", "hscp", "hscp_code"),
                ("board_value", "board", "board_code"), ("scotland_value", "scotland", None))


def _blank_suppressed_comparators(out: pd.DataFrame, rules: dict[str, IndicatorRule]) -> pd.DataFrame:
    """An area whose value was suppressed must not reappear as another row's comparator.

    Works on the area rows present in `out`: disclose all levels together (then filter) for full effect.
    """
    if not {"indicator_id", "period", "level", "area_code"} <= set(out.columns):
        return out
    blanked = out["suppressed"]
    if not blanked.any():
        return out
    hidden = out.loc[blanked, ["indicator_id", "period", "level", "area_code"]]
    for column, level, key in _COMPARATORS:
        areas = hidden[hidden["level"] == level].drop(columns="level").assign(_hidden=True)
        if areas.empty or column not in out.columns or (key is not None and key not in out.columns):
            continue
        on = ["indicator_id", "period"]
        if key is not None:
            areas = areas.rename(columns={"area_code": key})
            on.append(key)
        else:
            areas = areas.drop(columns="area_code")
        hit = out[on].merge(areas, on=on, how="left")["_hidden"].notna().to_numpy()
        out.loc[hit, column] = None
    return out


def disclosed_select(values: str, pattern: str, columns: list[str], extra: str = "", joins: str = "") -> str:
    """SQL selecting `columns` of the indicator rows in relation `values` (alias v) with the suppression
    pattern in relation `pattern` applied as apply_disclosure does, set-based over the whole release: a
    listed row loses its numerator (its denominator where the pattern says so) and everything derived from
    its value, and a listed area is blanked as every other row's comparator. Adds ``suppressed``.

    `extra` adds select items after the columns and `joins` more joins (on v)."""
    items = []
    for column in columns:
        if column == "numerator" or column in _DERIVED_COLUMNS:
            items.append(f"CASE WHEN s.area_code IS NULL THEN v.{column} END AS {column}")
        elif column == "denominator":
            items.append("CASE WHEN coalesce(s.denominator_hidden, FALSE) THEN NULL ELSE v.denominator END"
                         " AS denominator")
        elif column in {c for c, _, _ in _COMPARATORS}:
            alias = f"h_{column}"
            items.append(f"CASE WHEN {alias}.indicator_id IS NULL THEN v.{column} END AS {column}")
        else:
            items.append(f"v.{column}")
    comparator_joins = []
    for column, level, key in _COMPARATORS:
        alias = f"h_{column}"
        on = f"{alias}.area_code = v.{key} AND " if key is not None else ""
        comparator_joins.append(
            f"LEFT JOIN hidden {alias} ON {alias}.level = '{level}' AND {on}"
            f"{alias}.indicator_id = v.indicator_id AND {alias}.period = v.period")
    return f"""
        WITH hidden AS (SELECT indicator_id, CAST(period AS DATE) AS period, level, area_code,
                               bool_or(denominator_hidden) AS denominator_hidden
                        FROM {pattern} GROUP BY ALL)
        SELECT {", ".join(items)}, s.area_code IS NOT NULL AS suppressed{", " + extra if extra else ""}
        FROM {values} v
        LEFT JOIN hidden s ON s.indicator_id = v.indicator_id AND s.period = v.period AND s.level = v.level
                          AND s.area_code = v.area_code
        {" ".join(comparator_joins)}
        {joins}"""


def stored_rules(con: duckdb.DuckDBPyConnection, indicator_ids: list[str] | None = None) -> dict[str, IndicatorRule]:
    """Disclosure rules of the stored results, parsed from the definition text stored with them."""
    from gpcluster.indicators.stored import stored_definitions

    return rules_of(stored_definitions(con), indicator_ids)


def rules_of(definitions: dict, indicator_ids: list[str] | None = None) -> dict[str, IndicatorRule]:
    """The disclosure rules of parsed definitions (by indicator id)."""
    return {i: IndicatorRule(d.measure_type, d.disclosure, d.synthetic, d.purpose)
            for i, d in definitions.items() if indicator_ids is None or i in indicator_ids}


def warehouse_is_synthetic(con: duckdb.DuckDBPyConnection) -> bool:
    """True when any file in the load ledger was synthetic."""
    return bool(con.execute("SELECT coalesce(bool_or(synthetic), FALSE) FROM load_ledger").fetchone()[0])


def indicator_values(con: duckdb.DuckDBPyConnection, indicator_ids: list[str] | None = None,
                     levels: list[str] | None = None) -> pd.DataFrame:
    """Stored indicator values with titles and area names, unsuppressed (server-side use only)."""
    stored = con.execute("SELECT count(*) FROM duckdb_tables() WHERE table_name = 'indicator_value'").fetchone()[0]
    if not stored:
        raise UserError("no indicator results in the warehouse: run `gpcluster indicators compute` first")
    frame = con.execute(
        """
        SELECT v.*, d.title, d.unit,
               coalesce(p.practice_name, c.cluster_name, h.hscp_name, b.board_name,
                        CASE WHEN v.level = 'scotland' THEN 'Scotland' END) AS area_name
        FROM indicator_value v
        JOIN indicator_definition d USING (indicator_id, version)
        LEFT JOIN practice p ON v.level = 'practice' AND p.practice_code = v.area_code
        LEFT JOIN cluster c ON v.level = 'cluster' AND c.cluster_id = v.area_code
        LEFT JOIN hscp h ON v.level = 'hscp' AND h.hscp_code = v.area_code
        LEFT JOIN board b ON v.level = 'board' AND b.board_code = v.area_code
        WHERE (?::VARCHAR[] IS NULL OR list_contains(?::VARCHAR[], v.indicator_id))
          AND (?::VARCHAR[] IS NULL OR list_contains(?::VARCHAR[], v.level))
        ORDER BY v.indicator_id, v.level, v.area_code, v.period
        """,
        [indicator_ids, indicator_ids, levels, levels],
    ).df()
    return frame


def disclosed_indicator_values(con: duckdb.DuckDBPyConnection, indicator_ids: list[str] | None = None,
                               levels: list[str] | None = None) -> pd.DataFrame:
    """Indicator values ready to leave the server: suppressed, synthetic-marked, in EXPORT_COLUMNS order."""
    # every level is disclosed together, so a suppressed area also hides as a comparator in other rows
    frame = indicator_values(con, indicator_ids)
    if indicator_ids:
        missing = sorted(set(indicator_ids) - set(frame["indicator_id"]))
        if missing:
            raise UserError(f"no stored results for {', '.join(missing)}: run `gpcluster indicators compute`")
    from gpcluster.indicators.suppression import current_pattern

    rules = stored_rules(con, indicator_ids)
    out = apply_disclosure(frame, rules, current_pattern(con))
    if levels:
        out = out[out["level"].isin(levels)].reset_index(drop=True)
    everything_synthetic = warehouse_is_synthetic(con)
    out["synthetic"] = [everything_synthetic or rules[i].synthetic for i in out["indicator_id"]]
    return out[EXPORT_COLUMNS]


def format_of(path: Path, fmt: str | None = None) -> str:
    """The export format named explicitly or by the file's suffix."""
    fmt = fmt or FORMATS.get(path.suffix.lower())
    if fmt not in FORMATS.values():
        raise UserError(f"{path}: cannot tell the export format; use a .csv, .parquet or .xlsx file name")
    return fmt


#: what a spreadsheet reads as the start of a formula (or a DDE command) when it opens a CSV or text cell
FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
#: xlsxwriter otherwise turns text beginning '=' into a live formula and text like URLs into hyperlinks
EXCEL_WRITER_OPTIONS = {"options": {"strings_to_formulas": False, "strings_to_urls": False}}
#: RFC 4180 line ends; Python's csv module then also quotes a cell holding a lone carriage return, which
#: a spreadsheet would otherwise read as the end of a row
CSV_LINE_END = "\r\n"


def _neutral_text(value):
    return "'" + value if isinstance(value, str) and value.startswith(FORMULA_TRIGGERS) else value


def spreadsheet_safe(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy in which no text cell (or heading) can run as a formula in Excel, LibreOffice or Sheets.

    Text beginning with = + - @ tab or carriage return gets a leading apostrophe (the OWASP CSV-injection
    advice); numbers, dates and booleans are left as they are, so a negative number stays a number."""
    out = frame.copy()
    out.columns = [_neutral_text(c) for c in out.columns]
    for position in range(out.shape[1]):
        column = out.iloc[:, position]
        if not (pd.api.types.is_object_dtype(column) or pd.api.types.is_string_dtype(column)
                or isinstance(column.dtype, pd.CategoricalDtype)):
            continue
        values = column.astype(object).tolist()
        neutral = [_neutral_text(v) for v in values]
        if neutral != values:
            out.isetitem(position, pd.Series(neutral, index=out.index, dtype=object))
    return out


def write_frame(frame: pd.DataFrame, path: Path, fmt: str, synthetic: bool) -> None:
    """Write an already-disclosed table; synthetic data is marked in the file itself. CSV and Excel
    files are made spreadsheet-safe (no text runs as a formula)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if fmt in ("csv", "excel"):
        frame = spreadsheet_safe(frame)
    if fmt == "csv":
        frame.to_csv(path, index=False, lineterminator=CSV_LINE_END)
    elif fmt == "parquet":
        import pyarrow as pa
        import pyarrow.parquet as pq

        table = pa.Table.from_pandas(frame, preserve_index=False)
        note = {b"gpcluster.synthetic": str(synthetic).lower().encode(),
                b"gpcluster.note": (SYNTHETIC_NOTE if synthetic else "Disclosure control applied.").encode()}
        pq.write_table(table.replace_schema_metadata({**(table.schema.metadata or {}), **note}), path)
    elif fmt == "excel":
        if len(frame) > EXCEL_MAX_ROWS:
            raise UserError(f"{path}: {len(frame):,} rows do not fit in an Excel sheet "
                            f"({EXCEL_MAX_ROWS:,} at most); choose indicators or levels, or use .csv/.parquet")
        with pd.ExcelWriter(path, engine="xlsxwriter", engine_kwargs=EXCEL_WRITER_OPTIONS) as writer:
            frame.to_excel(writer, sheet_name="indicators", index=False)
            notes = [SYNTHETIC_NOTE] if synthetic else []
            notes += ["Counts at or below the disclosure threshold are suppressed (blank), with the values "
                      "that would reveal them.", "Source: gpcluster indicator engine."]
            pd.DataFrame({"notes": notes}).to_excel(writer, sheet_name="about", index=False)
    else:
        raise UserError(f"unknown export format {fmt!r}")


def export_indicators(con: duckdb.DuckDBPyConnection, path: Path, fmt: str | None = None,
                      indicator_ids: list[str] | None = None, levels: list[str] | None = None) -> ExportSummary:
    """Write stored indicator values, with disclosure control, to CSV, Parquet or Excel."""
    path = Path(path)
    kind = format_of(path, fmt)
    frame = disclosed_indicator_values(con, indicator_ids, levels)
    if frame.empty:
        raise UserError("no indicator results to export: run `gpcluster indicators compute` first")
    synthetic = bool(frame["synthetic"].any())
    write_frame(frame, path, kind, synthetic)
    return ExportSummary(path=path, rows=len(frame), suppressed_rows=int(frame["suppressed"].sum()),
                         synthetic=synthetic)
