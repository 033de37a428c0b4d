"""Loading PHS "Prescriptions in the Community" months into the warehouse, streamed and set-based.

Each file is read by DuckDB's CSV reader straight into a temporary table (never into pandas), checked
with SQL (every problem with its file, line and column), and written in one transaction: the month's
rows are replaced, the totals, BNF presentations and the monthly ledger updated, and the file recorded
in the load ledger. A month that fails changes nothing; months that passed stay loaded.

Two layouts are read:

* ``codes``: the PHS layout (HBT or HBT2014, GPPractice, BNFItemCode, BNFItemDescription,
  ClassOfPreparationCode, NumberOfPaidItems, PaidQuantity, GrossIngredientCost, PaidDateMonth, and
  from May 2023 DMDCode and PrescribedType). Prescribing that PHS attributes to no practice
  (GPPractice 99996 community pharmacy, 99997 unallocated, 99998 hospital, 99999 dental) and rows with a
  blank or non-numeric prescriber code go to ``prescribing_other`` and are counted, never dropped.
* ``names``: extracts that carry the practice *name* (GPPracticeName) instead of its code. Names are
  matched to codes through the contact-details releases in the warehouse (same board, normalised
  name, unique); rows whose name does not match go to ``prescribing_other`` as ``unmatched_name`` and
  the load report lists each unmatched name.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path

import duckdb

from gpcluster.errors import Problem, UserError
from gpcluster.prescribing.warehouse import summarise_prescribing
from gpcluster.sources.base import Column, header_key
from gpcluster.sources.prescriptions import COLUMNS

Progress = Callable[[str, int, int], None]

NAME_COLUMN = Column("GPPracticeName", ("PracticeName",))
#: PHS dummy prescriber codes (data dictionary of Prescriptions in the Community)
NON_PRACTICE = {"99996": "community_pharmacy", "99997": "unallocated", "99998": "hospital", "99999": "dental"}
FILE_MONTH = re.compile(r"pitc(\d{4})(\d{2})", re.IGNORECASE)
# Board codes changed in 2018/2019; a file's HBT2014 code is matched to today's for name matching.
BOARD_RECODES = {"S08000018": "S08000029", "S08000027": "S08000030", "S08000021": "S08000031",
                 "S08000023": "S08000032"}
MAX_EXAMPLES = 20


class PrescribingLoadFailed(UserError):
    """One or more months were refused; each refused month changed nothing."""

    def __init__(self, problems: list[Problem], loaded: list[MonthLoad]):
        self.problems = problems
        self.loaded = loaded
        shown = [str(p) for p in problems[:MAX_EXAMPLES]]
        more = len(problems) - len(shown)
        files = sorted({p.file for p in problems})
        kept = (f"{len(loaded)} other month(s) loaded" if loaded else "no month loaded")
        super().__init__("\n".join([f"{len(problems)} problem(s) in {', '.join(files)}; "
                                    f"those months were not loaded ({kept}):", *shown,
                                    *([f"... and {more} more problem(s)"] if more > 0 else [])]))


@dataclass
class MonthLoad:
    """What loading one file did."""

    path: Path
    month: date | None
    layout: str
    source_rows: int = 0
    practice_rows: int = 0
    other_rows: dict[str, int] = field(default_factory=dict)
    unknown_practice_rows: int = 0
    unmatched_names: list[tuple[str, int]] = field(default_factory=list)  # (name, rows)
    # extracts with practice names: every (board, name) of the month, its practice code (None: unmatched), rows
    name_matches: list[tuple[str, str, str | None, int]] = field(default_factory=list)
    skipped: str | None = None


def quote_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _header(path: Path) -> list[str]:
    from gpcluster.sources import header_of

    with path.open("rb") as handle:
        return header_of(handle.read(65536))


def _column_map(header: list[str]) -> tuple[dict[str, str], str | None]:
    """Canonical name -> the file's column name, and the layout ('codes', 'names' or None)."""
    found: dict[str, str] = {}
    for column in (*COLUMNS, NAME_COLUMN):
        match = [h for h in header if header_key(h) in column.accepted_keys()]
        if match:
            found[column.name] = match[0]
    layout = "codes" if "GPPractice" in found else "names" if "GPPracticeName" in found else None
    return found, layout


def _month_from_name(path: Path) -> date | None:
    found = FILE_MONTH.search(path.name)
    if found and 1 <= int(found[2]) <= 12:
        return date(int(found[1]), int(found[2]), 1)
    return None


_NUMERIC = {"NumberOfPaidItems": "items", "PaidQuantity": "quantity", "GrossIngredientCost": "cost"}


def _sql_string(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _stage(con: duckdb.DuckDBPyConnection, path: Path, header: list[str], columns: dict[str, str],
           layout: str) -> None:
    """Read the CSV into rx_staged with typed numbers (the fast path: no line numbers, rejects recorded)."""
    numeric = {columns[name] for name in _NUMERIC if name in columns}
    types = ", ".join(f"{_sql_string(h)}: '{'DOUBLE' if h in numeric else 'VARCHAR'}'" for h in header)

    def col(name: str, default: str = "NULL") -> str:
        return quote_ident(columns[name]) if name in columns else default

    prescriber = col("GPPractice") if layout == "codes" else col("GPPracticeName")
    for table in ("rx_rejects", "rx_reject_scans"):
        con.execute(f"DROP TABLE IF EXISTS temp.{table}")
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE rx_staged AS
        SELECT {col('HBT')} AS board_code, coalesce({prescriber}, '') AS prescriber,
               {col('BNFItemCode')} AS bnf_code, {col('BNFItemDescription')} AS description,
               {col('NumberOfPaidItems')} AS items, {col('PaidQuantity')} AS quantity,
               {col('GrossIngredientCost')} AS cost, trim({col('PaidDateMonth')}) AS month_text
        FROM read_csv(?, header = true, auto_detect = false, delim = ',', quote = '"', escape = '"',
                      columns = {{{types}}}, store_rejects = true, rejects_table = 'rx_rejects',
                      rejects_scan = 'rx_reject_scans')
    """, [str(path)])


def _parse_month(text: str | None) -> date | None:
    text = (text or "").strip()
    for pattern, form in ((r"\d{6}", "%Y%m"), (r"\d{8}", "%Y%m%d"), (r"\d{4}-\d{2}-\d{2}", "%Y-%m-%d")):
        if re.fullmatch(pattern, text):
            try:
                parsed = datetime.strptime(text, form).date()
            except ValueError:
                return None
            return parsed if parsed.day == 1 else None
    return None


def _fast_check(con: duckdb.DuckDBPyConnection, columns: dict[str, str], layout: str,
                expected_month: date | None) -> dict[date, list[str]] | None:
    """The months of a clean file (month -> its PaidDateMonth texts), or None when anything is wrong (then
    the slow path says what and where). A pitcYYYYMM file must hold that one month; a file whose name
    carries no month (e.g. an extract of several months) may hold several, each loaded on its own.

    Codes and months are checked once per distinct value, numbers with one aggregate pass."""
    if con.execute("SELECT count(*) FROM rx_rejects").fetchone()[0]:
        return None
    nulls = [f"count(*) FILTER (WHERE {name} IS NULL OR NOT isfinite({name}))"
             for key, name in _NUMERIC.items() if key in columns]
    counts = con.execute(f"SELECT count(*), count(*) FILTER (WHERE items < 0 OR items <> floor(items)), "
                         f"{', '.join(nulls)} FROM rx_staged").fetchone()
    if counts[0] == 0 or any(counts[1:]):
        return None
    bad = con.execute(
        "SELECT (SELECT count(*) FROM (SELECT DISTINCT board_code FROM rx_staged) "
        "        WHERE board_code IS NULL OR NOT regexp_full_match(board_code, 'S08[0-9]{6}')), "
        "       (SELECT count(*) FROM (SELECT DISTINCT bnf_code FROM rx_staged) "
        "        WHERE bnf_code IS NULL OR NOT regexp_full_match(bnf_code, '[0-9A-Z]{2,15}')), "
        "       (SELECT count(*) FROM rx_staged WHERE ? AND prescriber = '')", [layout == "names"]).fetchone()
    if any(bad):
        return None
    months: dict = {}
    for (text,) in con.execute("SELECT DISTINCT month_text FROM rx_staged").fetchall():
        months.setdefault(_parse_month(text), []).append(text)
    if None in months or (expected_month and set(months) != {expected_month}):
        return None
    return months


class _Checker:
    """Collects Problems for one file; row numbers are file lines (header = line 1)."""

    def __init__(self, con: duckdb.DuckDBPyConnection, file: str):
        self.con, self.file, self.problems = con, file, []

    def add(self, kind: str, message: str, row: int | None = None, column: str | None = None) -> None:
        self.problems.append(Problem(self.file, kind, message, row, column))

    def rows(self, condition: str, column: str, kind: str, message: Callable[[str], str],
             value: str) -> None:
        """One Problem per staged row where `condition` holds (the first MAX_EXAMPLES, then a count)."""
        count = self.con.execute(f"SELECT count(*) FROM rx_text WHERE {condition}").fetchone()[0]
        if not count:
            return
        examples = self.con.execute(
            f"SELECT _line, {value} FROM rx_text WHERE {condition} ORDER BY _line LIMIT {MAX_EXAMPLES}").fetchall()
        for line, shown in examples:
            self.add(kind, "the cell is blank" if shown in (None, "") else message(shown), int(line), column)
        if count > len(examples):
            self.add(kind, f"{count - len(examples):,} more row(s) like these", None, column)


def _stage_text(con: duckdb.DuckDBPyConnection, path: Path, columns: dict[str, str], layout: str) -> None:
    """Read the CSV as text into rx_text, numbering rows by file line, and record structural rejects."""
    def col(name: str, default: str = "NULL") -> str:
        return f"trim({quote_ident(columns[name])})" if name in columns else default

    prescriber = col("GPPractice") if layout == "codes" else col("GPPracticeName")
    con.execute("DROP TABLE IF EXISTS temp.rx_text_rejects")
    con.execute("DROP TABLE IF EXISTS temp.rx_text_reject_scans")
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE rx_text AS
        SELECT (row_number() OVER ())::BIGINT + 1 AS _line,
               {quote_ident(columns['HBT'])} AS board_code,
               {prescriber} AS prescriber,
               {quote_ident(columns['BNFItemCode'])} AS bnf_code,
               {col('BNFItemDescription')} AS description,
               {col('NumberOfPaidItems')} AS items_text,
               {col('PaidQuantity')} AS quantity_text,
               {col('GrossIngredientCost')} AS cost_text,
               {col('PaidDateMonth')} AS month_text
        FROM read_csv(?, header = true, all_varchar = true, delim = ',', quote = '"', escape = '"',
                      store_rejects = true, rejects_table = 'rx_text_rejects', rejects_scan = 'rx_text_reject_scans')
    """, [str(path)])


_NUMBER = "TRY_CAST(replace({0}, ',', '') AS DOUBLE)"


def _text_problems(con: duckdb.DuckDBPyConnection, path: Path, columns: dict[str, str], layout: str,
                   expected_month: date | None) -> tuple[list[Problem], date | None]:
    """Every problem of the file with its line (the slow path, run only when the fast checks fail)."""
    check = _Checker(con, path.name)
    for line, name, error_type, message in con.execute(
            f"SELECT line, column_name, error_type, error_message FROM rx_text_rejects ORDER BY line "
            f"LIMIT {MAX_EXAMPLES}").fetchall():
        kind = {"INVALID ENCODING": "encoding", "MISSING COLUMNS": "truncated_row",
                "TOO MANY COLUMNS": "malformed_row"}.get(error_type, "malformed_row")
        hint = " (saved as Latin-1/Windows-1252? re-save the file as UTF-8)" if kind == "encoding" else ""
        check.add(kind, f"{message}{hint}", int(line), name)
    if check.problems:
        return check.problems, None  # value checks would only add noise
    if con.execute("SELECT count(*) FROM rx_text").fetchone()[0] == 0:
        check.add("empty_file", "the file has a header but no data rows", 1)
        return check.problems, None

    code_col = "GPPractice" if layout == "codes" else "GPPracticeName"
    check.rows("board_code IS NULL OR NOT regexp_full_match(board_code, 'S08[0-9]{6}')", columns["HBT"],
               "bad_code", lambda v: f"{v!r} is not a health board code (S08 and 6 digits, no spaces)", "board_code")
    check.rows("bnf_code IS NULL OR NOT regexp_full_match(bnf_code, '[0-9A-Z]{2,15}')", columns["BNFItemCode"],
               "bad_code", lambda v: f"{v!r} is not a BNF code (2-15 digits or capital letters, no spaces)", "bnf_code")
    if layout == "names":
        check.rows("prescriber IS NULL OR prescriber = ''", columns[code_col], "blank",
                   lambda v: "practice name is blank", "prescriber")
    items = _NUMBER.format("items_text")
    check.rows(f"{items} IS NULL", columns["NumberOfPaidItems"], "not_integer",
               lambda v: f"expected a whole number of items, got {v!r}", "items_text")
    check.rows(f"{items} IS NOT NULL AND ({items} < 0 OR {items} <> floor({items}))", columns["NumberOfPaidItems"],
               "out_of_range", lambda v: f"items must be a whole number of at least 0, got {v}", "items_text")
    for name, text in (("PaidQuantity", "quantity_text"), ("GrossIngredientCost", "cost_text")):
        if name in columns:
            check.rows(f"{_NUMBER.format(text)} IS NULL OR NOT isfinite({_NUMBER.format(text)})", columns[name],
                       "not_number", lambda v: f"expected a number, got {v!r}", text)
    month_sql = ("CASE WHEN regexp_full_match(month_text, '[0-9]{6}') THEN try_strptime(month_text, '%Y%m') "
                 "WHEN regexp_full_match(month_text, '[0-9]{8}') THEN try_strptime(month_text, '%Y%m%d') "
                 "ELSE try_strptime(month_text, '%Y-%m-%d') END")
    con.execute(f"CREATE OR REPLACE TEMP TABLE rx_month AS SELECT _line, ({month_sql})::DATE AS month "
                "FROM rx_text")
    month_col = columns["PaidDateMonth"]
    bad_months = con.execute("SELECT s._line, s.month_text FROM rx_month m JOIN rx_text s USING (_line) "
                             f"WHERE m.month IS NULL OR day(m.month) <> 1 ORDER BY s._line LIMIT {MAX_EXAMPLES}"
                             ).fetchall()
    for line, value in bad_months:
        check.add("bad_date", f"expected a month as YYYYMM (or the month's first day), got {value!r}", int(line),
                  month_col)
    months = con.execute("SELECT month, min(_line), count(*) FROM rx_month WHERE month IS NOT NULL "
                         "GROUP BY month ORDER BY count(*) DESC").fetchall()
    month = months[0][0] if months else None
    for other, line, rows in months[1:] if expected_month else []:
        check.add("mixed_months", f"one month per file expected; {rows:,} row(s) are for {other:%Y-%m} "
                  f"(the file is mostly {month:%Y-%m})", int(line), month_col)
    if month and expected_month and month != expected_month and len(months) == 1:
        check.add("month_mismatch", f"the file name says {expected_month:%Y-%m} but its rows are for "
                  f"{month:%Y-%m}", 2, month_col)
    return check.problems, month


# Constants from NON_PRACTICE only (never file values) are written into this CASE.
_PRESCRIBER_TYPE = ("CASE WHEN prescriber = '' THEN 'unallocated' "
                    + " ".join(f"WHEN lpad(prescriber, 5, '0') = '{code}' THEN '{kind}'"
                               for code, kind in NON_PRACTICE.items())
                    + " WHEN regexp_full_match(prescriber, '[0-9]{1,5}(\\.0+)?') THEN NULL"
                    + " ELSE 'unrecognised_code' END")
# Names compare in upper case with punctuation dropped, '&' as AND and single spaces.
_NAME_KEY = ("trim(regexp_replace(regexp_replace(replace(upper({0}), '&', ' AND '), '[^A-Z0-9 ]', ' ', 'g'), "
             "' +', ' ', 'g'))")
_RECODED_BOARD = ("CASE " + " ".join(f"WHEN board_code = '{old}' THEN '{new}'" for old, new in BOARD_RECODES.items())
                  + " ELSE board_code END")


def _prescribers(con: duckdb.DuckDBPyConnection, layout: str) -> None:
    """rx_prescriber: each distinct (board, prescriber) of the file with its practice code (practice rows)
    or prescriber type (the rest), and its row count. Classifying distinct values keeps this cheap."""
    counted = "SELECT board_code, prescriber, count(*) AS rows FROM rx_staged GROUP BY ALL"
    if layout == "codes":
        con.execute(f"""
            CREATE OR REPLACE TEMP TABLE rx_prescriber AS
            SELECT board_code, prescriber, rows, {_PRESCRIBER_TYPE} AS prescriber_type,
                   CASE WHEN ({_PRESCRIBER_TYPE}) IS NULL
                        THEN lpad(regexp_replace(prescriber, '\\.0+$', ''), 5, '0') END AS practice_code
            FROM ({counted})""")
        return
    # names: (board, normalised name) -> the one practice of that name in that board, in any release
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE rx_prescriber AS
        WITH names AS (
            SELECT board_code, name_key, any_value(practice_code) AS practice_code
            FROM (SELECT DISTINCT board_code, {_NAME_KEY.format('practice_name')} AS name_key, practice_code
                  FROM practice_release)
            GROUP BY ALL HAVING count(DISTINCT practice_code) = 1
        )
        SELECT s.board_code, s.prescriber, s.rows,
               CASE WHEN n.practice_code IS NULL THEN 'unmatched_name' END AS prescriber_type, n.practice_code
        FROM (SELECT *, {_RECODED_BOARD.replace('board_code', 'c.board_code')} AS current_board,
                     {_NAME_KEY.format('c.prescriber')} AS name_key FROM ({counted}) c) s
        LEFT JOIN names n ON n.board_code = s.current_board AND n.name_key = s.name_key""")


def _write_month(con: duckdb.DuckDBPyConnection, load: MonthLoad, sha256: str, synthetic: bool) -> None:
    """Replace the month's rows from rx_staged and rx_prescriber, inside the caller's transaction."""
    month = load.month
    for table in ("prescribing", "prescribing_practice_total", "prescribing_other", "prescribing_month"):
        con.execute(f"DELETE FROM {table} WHERE month = ?", [month])  # (the chapter summary: below)
    rows = "rx_staged s JOIN rx_prescriber m ON m.board_code = s.board_code AND m.prescriber = s.prescriber"
    con.execute(f"""
        INSERT INTO prescribing
        SELECT ?::DATE, m.practice_code, s.bnf_code, s.items::INTEGER, s.quantity, s.cost
        FROM {rows} WHERE m.practice_code IS NOT NULL ORDER BY s.bnf_code""", [month])
    con.execute("""
        INSERT INTO prescribing_practice_total
        SELECT month, practice_code, sum(items), sum(quantity), sum(cost)
        FROM prescribing WHERE month = ? GROUP BY ALL""", [month])
    summarise_prescribing(con, [month])
    con.execute(f"""
        INSERT INTO prescribing_other
        SELECT ?::DATE, s.board_code, s.prescriber, m.prescriber_type, s.bnf_code, sum(s.items)::INTEGER,
               sum(s.quantity), sum(s.cost)
        FROM {rows} WHERE m.practice_code IS NULL GROUP BY ALL""", [month])
    con.execute("""
        INSERT INTO bnf_presentation
        SELECT bnf_code, arg_max(description, items), ?::DATE, ?::DATE FROM rx_staged GROUP BY bnf_code
        ON CONFLICT (bnf_code) DO UPDATE SET
            description = CASE WHEN excluded.last_month >= bnf_presentation.last_month
                               THEN coalesce(excluded.description, bnf_presentation.description)
                               ELSE bnf_presentation.description END,
            first_month = least(bnf_presentation.first_month, excluded.first_month),
            last_month = greatest(bnf_presentation.last_month, excluded.last_month)""", [month, month])
    items, cost = con.execute("SELECT coalesce(sum(items), 0), sum(cost) FROM prescribing_practice_total "
                              "WHERE month = ?", [month]).fetchone()
    con.execute("""INSERT INTO prescribing_month (month, file_name, sha256, layout, source_rows, practice_rows,
                   other_rows, unknown_practice_rows, items, cost, synthetic) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)""",
                [month, load.path.name, sha256, load.layout, load.source_rows, load.practice_rows,
                 sum(load.other_rows.values()), load.unknown_practice_rows, items, cost, synthetic])
    con.execute("""INSERT INTO load_ledger (source, file_name, sha256, row_count, release_date, synthetic)
                   VALUES ('prescriptions', ?, ?, ?, ?, ?)""",
                [load.path.name, sha256, load.source_rows, month, synthetic])


def _summarise(con: duckdb.DuckDBPyConnection, load: MonthLoad) -> None:
    load.source_rows, load.practice_rows = con.execute(
        "SELECT sum(rows), coalesce(sum(rows) FILTER (WHERE practice_code IS NOT NULL), 0) FROM rx_prescriber"
    ).fetchone()
    load.other_rows = {kind: int(n) for kind, n in con.execute(
        "SELECT prescriber_type, sum(rows) FROM rx_prescriber WHERE practice_code IS NULL GROUP BY ALL ORDER BY 1"
    ).fetchall()}
    load.unknown_practice_rows = int(con.execute(
        "SELECT coalesce(sum(rows), 0) FROM rx_prescriber r WHERE practice_code IS NOT NULL AND NOT EXISTS "
        "(SELECT 1 FROM practice_release p WHERE p.practice_code = r.practice_code)").fetchone()[0])
    if load.layout == "names":
        load.unmatched_names = [(name, int(n)) for name, n in con.execute(
            "SELECT prescriber, sum(rows) FROM rx_prescriber WHERE prescriber_type = 'unmatched_name' "
            "GROUP BY ALL ORDER BY 1").fetchall()]
        load.name_matches = [(board, name, code, int(n)) for board, name, code, n in con.execute(
            "SELECT board_code, prescriber, practice_code, rows FROM rx_prescriber ORDER BY 1, 2").fetchall()]


def load_file(con: duckdb.DuckDBPyConnection, path: Path, synthetic: bool = False,
              known: set[str] | None = None) -> tuple[list[MonthLoad], list[Problem]]:
    """Validate and load one file on an open warehouse connection (schema ensured), one transaction per
    month it holds. Returns what was loaded and the problems found; with problems, nothing was written.
    """
    path = Path(path)
    header = _header(path)
    columns, layout = _column_map(header)
    load = MonthLoad(path, None, layout or "unknown")
    if layout is None:
        return [load], [Problem(path.name, "missing_column", "required column 'GPPractice' (or 'GPPracticeName') "
                                "is missing", 1, "GPPractice")]
    missing = [c.name for c in COLUMNS if c.required and c.name not in columns and c.name != "GPPractice"]
    if missing:
        return [load], [Problem(path.name, "missing_column", f"required column {name!r} is missing", 1, name)
                        for name in missing]
    from gpcluster.sources.ckan import file_sha256

    sha256 = file_sha256(path)
    if known is not None and sha256 in known:
        load.skipped = "already loaded (same checksum)"
        return [load], []
    loads = []
    try:
        _stage(con, path, header, columns, layout)
        months = _fast_check(con, columns, layout, _month_from_name(path))
        if months is None:
            _stage_text(con, path, columns, layout)
            problems, _ = _text_problems(con, path, columns, layout, _month_from_name(path))
            return [load], problems or [Problem(path.name, "unreadable", "the file could not be read as CSV")]
        if len(months) > 1:
            con.execute("ALTER TABLE rx_staged RENAME TO rx_all")
        for month, texts in sorted(months.items()):
            if len(months) > 1:
                con.execute("CREATE OR REPLACE TEMP TABLE rx_staged AS SELECT * FROM rx_all "
                            "WHERE list_contains(?::VARCHAR[], month_text)", [texts])
            loads.append(_load_month(con, MonthLoad(path, month, layout), sha256, synthetic))
    except duckdb.Error as exc:
        return [load], [Problem(path.name, "unreadable", f"cannot read the file: {exc}")]
    finally:
        for table in ("rx_staged", "rx_all", "rx_text", "rx_month", "rx_prescriber", "rx_rejects",
                      "rx_reject_scans", "rx_text_rejects", "rx_text_reject_scans"):
            con.execute(f"DROP TABLE IF EXISTS temp.{table}")
    if known is not None:
        known.add(sha256)
    return loads, []


def _load_month(con: duckdb.DuckDBPyConnection, load: MonthLoad, sha256: str, synthetic: bool) -> MonthLoad:
    con.execute("BEGIN TRANSACTION")
    try:
        _prescribers(con, load.layout)
        _summarise(con, load)
        _write_month(con, load, sha256, synthetic)
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise
    return load


def load_prescribing(paths: Iterable[Path | str], *, synthetic: bool = False, warehouse: Path | str | None = None,
                     progress: Progress | None = None,
                     con: duckdb.DuckDBPyConnection | None = None) -> list[MonthLoad]:
    """Load prescribing files, one transaction per month; a file already in the ledger is skipped.

    With `con`, into that connection's warehouse (e.g. a version being written); otherwise into a new
    version of `warehouse` (gpcluster.warehouse.versions), published when at least one month loaded, so a
    running web app never sees half a load. Raises PrescribingLoadFailed listing every problem of every
    refused month (those months changed nothing; the others stayed loaded).
    """
    paths = [Path(p) for p in paths]
    if con is None:
        from gpcluster.warehouse.versions import new_version

        names = ", ".join(p.name for p in paths[:3]) + (f" and {len(paths) - 3} more" if len(paths) > 3 else "")
        failure = None
        with new_version(warehouse, note=f"prescribing {names}") as draft:
            try:
                loads = _load_all(draft.con, paths, synthetic, progress)
            except PrescribingLoadFailed as exc:
                failure, loads = exc, exc.loaded
            draft.keep = any(m.skipped is None for m in loads)
        if failure is not None:
            raise failure
        return loads
    return _load_all(con, paths, synthetic, progress)


def _load_all(con: duckdb.DuckDBPyConnection, paths: list[Path], synthetic: bool,
              progress: Progress | None) -> list[MonthLoad]:
    progress = progress or (lambda *_: None)
    loads: list[MonthLoad] = []
    problems: list[Problem] = []
    _check_kind(con, synthetic)
    known = {r[0] for r in con.execute("SELECT sha256 FROM load_ledger").fetchall()}
    for i, path in enumerate(paths):
        progress(f"Prescribing {path.name}", i, len(paths))
        done, found = load_file(con, path, synthetic, known)
        if found:
            problems.extend(found)
        else:
            loads.extend(done)
    progress("Done", len(paths), len(paths))
    if problems:
        raise PrescribingLoadFailed(problems, [item for item in loads if item.skipped is None])
    return loads


def _check_kind(con: duckdb.DuckDBPyConnection, synthetic: bool) -> None:
    kinds = {r[0] for r in con.execute("SELECT DISTINCT synthetic FROM load_ledger").fetchall()}
    if kinds and kinds != {synthetic}:
        raise UserError("this warehouse holds " + ("synthetic" if True in kinds else "real") + " data; load "
                        + ("synthetic" if synthetic else "real") + " prescribing into a separate warehouse")
