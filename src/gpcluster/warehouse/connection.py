"""Opening the DuckDB warehouse with its schema (schema.sql + views.sql) and reference organisations."""

from __future__ import annotations

import csv
import functools
import hashlib
import io
import os
from importlib.resources import files
from pathlib import Path

import duckdb

from gpcluster import config
from gpcluster.errors import UserError
from gpcluster.prescribing.warehouse import ensure_prescribing_schema

# the folder, not files("gpcluster.sources"): that would import the package, every source's reader
REFERENCE = files("gpcluster") / "sources" / "reference"


def connect(path: Path | str | None = None, read_only: bool = False) -> duckdb.DuckDBPyConnection:
    """A plain connection to the warehouse file (default: the `warehouse` setting); a versioned warehouse
    is opened at its current version (see gpcluster.warehouse.versions)."""
    path = Path(path) if path is not None else config.warehouse_path()
    if path.is_symlink():  # DuckDB keeps its write-ahead log beside the name it is given: give the real one
        path = Path(os.path.realpath(path))
    if read_only and not path.exists():
        raise UserError(f"no warehouse at {path}: load some data first (gpcluster load / sync / demo)")
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        return duckdb.connect(str(path), read_only=read_only)
    except duckdb.IOException as exc:
        raise UserError(f"cannot open the warehouse {path}: {exc}") from exc


def ensure_schema(con: duckdb.DuckDBPyConnection) -> None:
    """Create missing tables and views, and seed boards and HSCPs from the packaged reference lists."""
    con.execute((files("gpcluster.warehouse") / "schema.sql").read_text(encoding="utf-8"))
    con.execute("ALTER TABLE practice_release ADD COLUMN IF NOT EXISTS cluster_name VARCHAR")
    _widen_populations(con)
    con.execute((files("gpcluster.warehouse") / "views.sql").read_text(encoding="utf-8"))
    ensure_prescribing_schema(con)
    board_rows = _csv_rows((REFERENCE / "boards.csv").read_bytes())
    hscp_rows = _csv_rows((REFERENCE / "hscps.csv").read_bytes())
    _insert_missing(con, "board", board_rows)
    _insert_missing(con, "hscp", hscp_rows)


# Population tables stored as published (schema.sql): long table a warehouse may still hold -> its area column
WIDE_POPULATIONS = {"data_zone_population": "data_zone", "board_population": "area_code"}


def _widen_populations(con: duckdb.DuckDBPyConnection) -> None:
    """A warehouse made before data_zone_population and board_population became views over tables stored wide
    (one column per age) holds them as long tables (one row per age): move their rows into the wide tables
    and drop them, so views.sql can make the views. Runs inside the new version being written
    (versions.new_version): a failure leaves the current version as it was."""
    long_tables = {r[0] for r in con.execute(
        "SELECT table_name FROM duckdb_tables() WHERE schema_name = 'main'").fetchall()} & set(WIDE_POPULATIONS)
    if not long_tables:
        return
    con.execute("SET enable_progress_bar = false")  # DuckDB would draw one on the terminal for a large table
    try:
        for table in sorted(long_tables):
            _widen(con, table, WIDE_POPULATIONS[table])
    finally:
        con.execute("RESET enable_progress_bar")


def _widen(con: duckdb.DuckDBPyConnection, table: str, area: str) -> None:
    def refuse(why: str) -> UserError:
        return UserError(f"{table} {why}: the warehouse cannot be converted to this version's schema")

    outside = con.execute(f"SELECT min(age), max(age) FROM {table} WHERE age NOT BETWEEN 0 AND 90").fetchone()
    if outside[0] is not None:
        raise refuse(f"holds ages {outside[0]}..{outside[1]}, outside 0..90 (90 = 90 and over)")
    columns = ", ".join(f"age_{a}" for a in range(91))
    cells = ", ".join(f"ages[{a}]" for a in range(91))  # NULL where the long table had no row (suppressed)
    try:  # a map per (year, area, sex): a FILTER aggregate per age took 18 s on 1.9 million rows, this 1.5 s
        con.execute(f"""INSERT INTO {table}_wide (year, {area}, sex, {columns})
                        SELECT year, {area}, sex, {cells}
                        FROM (SELECT year, {area}, sex, map(list(age), list(population)) AS ages
                              FROM {table} GROUP BY year, {area}, sex)""")
        held, moved = con.execute(f"""SELECT (SELECT count(*) FROM {table}),
                                             (SELECT count(*) FROM (UNPIVOT {table}_wide
                                                                    ON COLUMNS('^age_[0-9]+$') INTO NAME a VALUE v))"""
                                  ).fetchone()
    except duckdb.Error as exc:  # map() refuses an age held twice for one (year, area, sex)
        reason = str(exc).strip().splitlines()[0]
    else:
        reason = None if held == moved else f"{held:,} rows became {moved:,} cells"
    if reason is not None:
        raise refuse(f"holds a (year, area, sex, age) in more than one row ({reason})")
    con.execute(f"DROP TABLE {table}")


@functools.lru_cache(maxsize=1)
def schema_fingerprint() -> str:
    """A digest of everything ensure_schema applies: its SQL, the reference lists it seeds and the code that
    runs them. A warehouse version recorded with this digest already has this schema (versions.new_version
    then skips ensure_schema, a fifth of a small load's time)."""
    digest = hashlib.sha256()
    warehouse, prescribing = files("gpcluster.warehouse"), files("gpcluster.prescribing")
    for part in (warehouse / "schema.sql", warehouse / "views.sql", warehouse / "connection.py",
                 prescribing / "schema.sql", prescribing / "warehouse.py", prescribing / "bnf_names.csv",
                 REFERENCE / "boards.csv", REFERENCE / "hscps.csv"):
        digest.update(part.read_bytes())
    return digest.hexdigest()


def _insert_missing(con: duckdb.DuckDBPyConnection, table: str, rows: list[list[str]]) -> None:
    """One INSERT for all rows (executemany runs one statement per row: a tenth of a second per table)."""
    if not rows:
        return
    one = "(" + ", ".join("?" * len(rows[0])) + ")"
    con.execute(f"INSERT INTO {table} VALUES {', '.join([one] * len(rows))} ON CONFLICT DO NOTHING",
                [value for row in rows for value in row])


def _csv_rows(data: bytes) -> list[list[str]]:
    rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))
    return rows[1:]


def open_warehouse(path: Path | str | None = None, read_only: bool = False) -> duckdb.DuckDBPyConnection:
    """A connection to the warehouse with the schema ensured (read-only connections only check it exists)."""
    con = connect(path, read_only=read_only)
    if not read_only:
        ensure_schema(con)
    return con


def reference_codes() -> tuple[set[str], set[str]]:
    """Board and HSCP codes of the packaged reference lists."""
    boards = {r[0] for r in _csv_rows((REFERENCE / "boards.csv").read_bytes())}
    hscps = {r[0] for r in _csv_rows((REFERENCE / "hscps.csv").read_bytes())}
    return boards, hscps
