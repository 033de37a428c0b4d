"""Set-based writes of one validated Reading into its warehouse table (inside the caller's transaction).

Release-shaped facts replace the rows of the releases (or years, periods) the file carries, so loading
a corrected file for a release replaces it; attribute tables (data zones, boards, HSCPs) are upserted
column by column, so SIMD, urban-rural and geography files each fill in their own columns."""

from __future__ import annotations

from collections.abc import Callable

import duckdb
import pandas as pd
import pyarrow as pa

from gpcluster.sources.base import LINE, Reading

INCOMING = "incoming"
WIDE = "incoming_wide"  # a wide reading, registered as it is; INCOMING is then a view unpivoting it
STORED_WIDE = {"data_zone_populations", "board_populations"}  # wide readings written as they are (INCOMING is the wide table)


def _replace(table: str, key: str, columns: list[str], casts: dict[str, str] | None = None):
    casts = casts or {}

    def write(con: duckdb.DuckDBPyConnection, frame: pd.DataFrame) -> int:
        select = ", ".join(f"CAST({c} AS {casts[c]})" if c in casts else c for c in columns)
        key_expr = f"CAST({key} AS {casts[key]})" if key in casts else key
        con.execute(f"DELETE FROM {table} WHERE {key} IN (SELECT DISTINCT {key_expr} FROM {INCOMING})")
        return _inserted(con, f"INSERT INTO {table} ({', '.join(columns)}) SELECT {select} FROM {INCOMING}")

    return write


def _upsert(table: str, key: str, columns: list[str]):
    def write(con: duckdb.DuckDBPyConnection, frame: pd.DataFrame) -> None:
        present = [c for c in columns if c in frame.columns and frame[c].notna().any()]
        updates = ", ".join(f"{c} = coalesce(excluded.{c}, {table}.{c})" for c in present)
        conflict = f"DO UPDATE SET {updates}" if updates else "DO NOTHING"
        names = ", ".join([key, *present])
        con.execute(f"INSERT INTO {table} ({names}) SELECT {names} FROM {INCOMING} "
                    f"ON CONFLICT ({key}) {conflict}")

    return write


def _inserted(con: duckdb.DuckDBPyConnection, insert: str) -> int:
    """Run an INSERT and return how many rows it wrote."""
    return int(con.execute(insert).fetchall()[0][0])


def _write_list_population(con: duckdb.DuckDBPyConnection, frame: pd.DataFrame) -> int:
    """The list by sex and age band, and the board and HSCP the same file publishes for each practice."""
    written = _replace("list_population", "release_date", ["release_date", "practice_code", "sex", "age_band", "population"],
             DATE)(con, frame)
    con.execute(f"DELETE FROM practice_list_area WHERE release_date IN (SELECT DISTINCT CAST(release_date AS DATE) "
                f"FROM {INCOMING})")
    _inserted(con, f"""INSERT INTO practice_list_area
                       SELECT CAST(release_date AS DATE), practice_code, any_value(board_code), any_value(hscp_code)
                       FROM {INCOMING} GROUP BY ALL""")
    return written


def _write_activity(con: duckdb.DuckDBPyConnection, frame: pd.DataFrame) -> int:
    con.execute(f"""DELETE FROM practice_activity WHERE (period, measure) IN
                    (SELECT DISTINCT CAST(period AS DATE), measure FROM {INCOMING})""")
    return _inserted(con, f"""INSERT INTO practice_activity SELECT CAST(period AS DATE), practice_code, measure,
                              value FROM {INCOMING}""")


def _write_reference_rates(con: duckdb.DuckDBPyConnection, frame: pd.DataFrame) -> None:
    con.execute(f"""DELETE FROM reference_rate WHERE (period, measure) IN
                    (SELECT DISTINCT CAST(period AS DATE), measure FROM {INCOMING})""")
    con.execute(f"""INSERT INTO reference_rate SELECT CAST(period AS DATE), measure, sex, age_band, rate
                    FROM {INCOMING}""")


def _write_wide(table: str, area: str):
    """A wide reading (one column per single year of age, named by the age) as it is, into `table` (read
    through the view that unpivots it, views.sql). Replaces the years the file carries."""
    ages = [str(a) for a in range(91)]
    columns = ", ".join(f"age_{a}" for a in ages)
    cells = ", ".join(f'"{a}"' for a in ages)

    def write(con: duckdb.DuckDBPyConnection, frame: pd.DataFrame) -> int:
        con.execute(f"DELETE FROM {table} WHERE year IN (SELECT DISTINCT year FROM {INCOMING})")
        return _inserted(con, f"""INSERT INTO {table} (year, {area}, sex, {columns})
                                  SELECT year, {area}, sex, {cells} FROM {INCOMING}""")

    return write


DATE = {"release_date": "DATE", "snapshot_date": "DATE"}
DATA_ZONE_COLUMNS = [
    "intermediate_zone", "board_code", "hscp_code", "council_code", "simd_rank", "simd_decile",
    "simd_quintile", "simd_hb_decile", "simd_hb_quintile", "simd_hscp_decile", "simd_hscp_quintile",
    "simd_most15", "simd_least15", "urban_rural_6", "urban_rural_8", "urban_rural_2",
]

# A writer returns how many rows it wrote to the table checked below (NATURAL_KEYS), or None.
WRITERS: dict[str, Callable[[duckdb.DuckDBPyConnection, pd.DataFrame], int | None]] = {
    "gp_practice_contact_details": _replace(
        "practice_release", "release_date",
        ["release_date", "practice_code", "practice_name", "board_code", "hscp_code", "cluster_name",
         "data_zone", "postcode", "practice_type", "dispensing", "list_size"], DATE),
    "gp_practice_populations": _write_list_population,
    "simd": _upsert("data_zone", "data_zone", DATA_ZONE_COLUMNS),
    "urban_rural": _upsert("data_zone", "data_zone", DATA_ZONE_COLUMNS),
    "geography_data_zones": _upsert("data_zone", "data_zone", DATA_ZONE_COLUMNS),
    "geography_boards": _upsert("board", "board_code", ["board_name"]),
    "geography_hscps": _upsert("hscp", "hscp_code", ["hscp_name", "board_code"]),
    "data_zone_populations": _write_wide("data_zone_population_wide", "data_zone"),
    "board_populations": _write_wide("board_population_wide", "area_code"),
    "gp_headcount": _replace(
        "gp_headcount", "snapshot_date", ["snapshot_date", "practice_code", "designation", "sex", "headcount"],
        DATE),
    "practice_activity": _write_activity,
    "reference_rates": _write_reference_rates,
}


# Large fact tables have no primary-key index (maintaining one was most of a large load's time). Each file's
# parser refuses a key held twice within the file, and the writers replace every row of the releases (years,
# periods) the file carries, so after a write the table holds exactly the file's rows for those releases:
# one count checks that, and only when it fails does one aggregate over the table name a key held twice.
NATURAL_KEYS = {
    "list_population": ("release_date", "practice_code", "sex", "age_band"),
    "data_zone_population_wide": ("year", "data_zone", "sex"),
    "board_population_wide": ("year", "area_code", "sex"),
    "practice_activity": ("period", "practice_code", "measure"),
}
REPLACED_BY = {"list_population": ("release_date",), "data_zone_population_wide": ("year",),
               "board_population_wide": ("year",), "practice_activity": ("period", "measure")}
TABLE_OF = {"gp_practice_populations": "list_population", "data_zone_populations": "data_zone_population_wide",
            "board_populations": "board_population_wide", "practice_activity": "practice_activity"}


def _all_written(con: duckdb.DuckDBPyConnection, table: str, written: int) -> bool:
    """True when the table holds exactly the `written` rows for the releases INCOMING carries."""
    replaced = REPLACED_BY[table]
    incoming = ", ".join(f"CAST({k} AS DATE)" if k in DATE or k == "period" else k for k in replaced)
    return con.execute(f"SELECT count(*) FROM {table} WHERE ({', '.join(replaced)}) IN "
                       f"(SELECT DISTINCT {incoming} FROM {INCOMING})").fetchall()[0][0] == written


def duplicate_key(con: duckdb.DuckDBPyConnection, source: str) -> str | None:
    """A key held by more than one row of the table `source` writes to (as text), or None."""
    table = TABLE_OF.get(source)
    if table is None:
        return None
    keys = NATURAL_KEYS[table]
    found = con.execute(f"SELECT {', '.join(keys)} FROM {table} GROUP BY ALL HAVING count(*) > 1 LIMIT 1").fetchone()
    return None if found is None else ", ".join(f"{k}={v}" for k, v in zip(keys, found, strict=True))


# Sources whose writer replaces every row of the releases INCOMING carries, named by one column. Several files
# of such a source with no release in common are written as one table: one set of statements, not one per file.
BATCH_KEY = {"gp_practice_populations": "release_date", "gp_practice_contact_details": "release_date",
             "gp_headcount": "snapshot_date"}


def batches(items: list[Reading]) -> list[list[Reading]]:
    """`items` (in load order) as runs written together: consecutive readings of one source in BATCH_KEY,
    with the same columns and no release in common. A file holding a release an earlier file of its run
    holds starts a new run, so the later file still replaces the earlier one's rows."""
    runs: list[list[Reading]] = []
    held: set = set()
    for item in items:
        key = BATCH_KEY.get(item.source)
        releases = set(item.frame[key].dropna().unique()) if key is not None and key in item.frame else None
        run = runs[-1] if runs else None
        if (run is not None and releases is not None and run[0].source == item.source
                and run[0].unpivot == item.unpivot and run[0].frame.columns.equals(item.frame.columns)
                and not releases & held):
            run.append(item)
            held |= releases
        else:
            runs.append([item])
            held = releases or set()
    return runs


def write_readings(con: duckdb.DuckDBPyConnection, items: list[Reading]) -> str | None:
    """Write readings of one source (one of `batches`' runs) as one table with the writer registered for it;
    return a key the table now holds twice (as text), or None. A wide reading is unpivoted in SQL, inside the
    caller's transaction."""
    frames = [item.frame.drop(columns=[LINE], errors="ignore") for item in items]
    for frame in frames:
        for column in ("release_date", "snapshot_date", "period"):
            if column in frame:
                frame[column] = pd.to_datetime(frame[column])
    # DuckDB scans an Arrow table natively; a pandas frame of nullable and Arrow-string columns it
    # converts cell by cell (most of a large load's write time)
    tables = [pa.Table.from_pandas(frame, preserve_index=False) for frame in frames]
    if any(t.schema != tables[0].schema for t in tables[1:]):  # e.g. a column all blank in one file only
        return next((clash for item in items if (clash := write_readings(con, [item])) is not None), None)
    arrow = pa.concat_tables(tables) if len(tables) > 1 else tables[0]
    frame = frames[0] if len(frames) == 1 else pd.concat(frames, ignore_index=True)
    source, unpivot = items[0].source, items[0].unpivot
    table = TABLE_OF.get(source)
    unpivot = unpivot if source not in STORED_WIDE else None
    if unpivot is not None:
        spec = unpivot
        con.register(WIDE, arrow)
        ids = ", ".join(f'"{c}"' for c in frame.columns if c not in spec.columns)
        on = ", ".join(f'"{c}"' for c in spec.columns)
        con.execute(f"""CREATE OR REPLACE TEMP VIEW {INCOMING} AS
                        SELECT {ids}, CAST({spec.name} AS {spec.name_type}) AS {spec.name}, {spec.value}
                        FROM (UNPIVOT {WIDE} ON {on} INTO NAME {spec.name} VALUE {spec.value})""")
    else:
        con.register(INCOMING, arrow)
    try:
        written = WRITERS[source](con, frame)
        if table is None or (isinstance(written, int) and _all_written(con, table, written)):
            return None
    finally:
        if unpivot is not None:
            con.execute(f"DROP VIEW {INCOMING}")
            con.unregister(WIDE)
        else:
            con.unregister(INCOMING)
    return duplicate_key(con, source)
