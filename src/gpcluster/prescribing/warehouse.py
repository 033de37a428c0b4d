"""The prescribing tables of the warehouse (schema.sql) and the packaged BNF names they are named from."""

from __future__ import annotations

from importlib.resources import files

import duckdb

from gpcluster.prescribing.bnf import reference_names


def ensure_prescribing_schema(con: duckdb.DuckDBPyConnection) -> None:
    """Create the prescribing tables and views if missing, and (re)seed the BNF names."""
    con.execute((files("gpcluster.prescribing") / "schema.sql").read_text(encoding="utf-8"))
    names = reference_names()
    known = con.execute("SELECT count(*) FROM bnf_name").fetchone()[0]
    if known != len(names):
        con.execute("DELETE FROM bnf_name")
        con.executemany("INSERT INTO bnf_name VALUES (?, ?)", list(names.items()))
