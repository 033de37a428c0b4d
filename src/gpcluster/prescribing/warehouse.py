"""The prescribing tables of the warehouse (schema.sql) and the packaged BNF names they are named from."""

from __future__ import annotations

from importlib.resources import files

import duckdb

from gpcluster.prescribing.bnf import FIRST_APPLIANCE_CHAPTER, GENERIC_PRODUCT, reference_names


def ensure_prescribing_schema(con: duckdb.DuckDBPyConnection) -> None:
    """Create the prescribing tables and views if missing, and (re)seed the BNF names."""
    con.execute((files("gpcluster.prescribing") / "schema.sql").read_text(encoding="utf-8"))
    names = reference_names()
    known = con.execute("SELECT count(*) FROM bnf_name").fetchone()[0]
    if known != len(names):
        con.execute("DELETE FROM bnf_name")
        # one statement (executemany runs one per row: most of a new warehouse's schema time)
        con.execute("INSERT INTO bnf_name SELECT unnest(?::VARCHAR[]), unnest(?::VARCHAR[])",
                    [list(names), list(names.values())])
    # warehouses loaded before the chapter summary existed: summarise their months once
    missing = [m for (m,) in con.execute(
        "SELECT month FROM prescribing_month EXCEPT SELECT DISTINCT month FROM prescribing_practice_chapter"
    ).fetchall()]
    if missing:
        summarise_prescribing(con, missing)


def summarise_prescribing(con: duckdb.DuckDBPyConnection, months: list | None = None) -> None:
    """(Re)write prescribing_practice_chapter for these months (default: every month in `prescribing`),
    inside the caller's transaction."""
    where = "WHERE list_contains(?::DATE[], month)" if months is not None else ""
    params = [months] if months is not None else []
    con.execute(f"DELETE FROM prescribing_practice_chapter {where}", params)
    con.execute(f"""
        INSERT INTO prescribing_practice_chapter
        SELECT month, practice_code, left(bnf_code, 2),
               CASE WHEN length(bnf_code) = 15 AND left(bnf_code, 2) < '{FIRST_APPLIANCE_CHAPTER}'
                    THEN substr(bnf_code, 10, 2) = '{GENERIC_PRODUCT}' END,
               sum(items), sum(quantity), sum(cost)
        FROM prescribing {where} GROUP BY ALL""", params)
