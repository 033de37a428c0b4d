"""National headline counts for the latest population release."""

from __future__ import annotations

from typing import Any

import duckdb


def summary(con: duckdb.DuckDBPyConnection) -> dict[str, Any]:
    """practices, clusters, hscps, boards, patients for the latest release; releases; synthetic flag."""
    latest, releases = con.execute(
        "SELECT max(release_date), count(DISTINCT release_date) FROM list_population").fetchall()[0]
    counts = con.execute("""
        SELECT count(*), count(DISTINCT cluster_id), count(DISTINCT hscp_code), count(DISTINCT board_code),
               coalesce(sum(list_size), 0)
        FROM practice_period WHERE release_date = ?""", [latest]).fetchall()[0]
    synthetic = con.execute("SELECT coalesce(bool_or(synthetic), FALSE) FROM load_ledger").fetchall()[0][0]
    files = con.execute("SELECT count(*) FROM load_ledger").fetchall()[0][0]
    return {
        "latest_release": latest,
        "practices": counts[0],
        "clusters": counts[1],
        "hscps": counts[2],
        "boards": counts[3],
        "patients": int(counts[4]),
        "releases": releases,
        "files_loaded": files,
        "synthetic": bool(synthetic),
    }
