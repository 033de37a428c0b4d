"""The definitions stored with the indicator results, read back without the engine (so that the web app
and light commands can read them without importing the statistics stack)."""

from __future__ import annotations

from pathlib import Path

import duckdb

from gpcluster.errors import UserError
from gpcluster.indicators.definition import Definition, parse_definition


def stored_definitions(con: duckdb.DuckDBPyConnection) -> dict[str, Definition]:
    """The definitions of the stored results, parsed from the text stored with them."""
    rows = con.execute(
        "SELECT d.indicator_id, d.definition FROM indicator_definition d "
        "JOIN (SELECT DISTINCT indicator_id, version FROM indicator_value) v USING (indicator_id, version)"
    ).fetchall()
    found = {}
    for indicator_id, text in rows:
        definition, problems = parse_definition(Path(f"{indicator_id}.toml"), text)
        if definition is None:
            raise UserError(f"stored definition of {indicator_id} no longer validates: {problems[0]}")
        found[indicator_id] = definition
    return found
