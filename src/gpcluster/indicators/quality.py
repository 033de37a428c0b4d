"""Data-quality notes: what a reader must know about the figures of a period, in plain words.

Rebuilt with every compute run into the warehouse table data_quality_note, from the loaded facts: practices
counted in their HSCP but in no cluster, GP headcount snapshots too far from any list-size release to be
combined (or GPs left out because their practice has no list then), practices PHS lists without age bands.
Notes carry only aggregates (numbers of practices, patients, GPs), never a practice's code or figures,
so any viewer may read them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import duckdb

from gpcluster import config
from gpcluster.indicators.compile import HEADCOUNT_PLACEMENT_SQL

HEADCOUNT_INDICATORS = ("gps_per_1000", "gp_headcount", "gp_registrars_and_retainees")
AGE_INDICATORS = ("aged_0_4", "aged_under_15", "aged_15_64", "aged_65_plus", "aged_75_plus", "aged_85_plus")

SCHEMA = """
CREATE TABLE IF NOT EXISTS data_quality_note (
    period        DATE,        -- the release the note is about (NULL: all periods)
    topic         VARCHAR NOT NULL,  -- no_cluster | placeholder_cluster | headcount_not_combined | headcount_dropped | no_age_bands
    indicator_ids VARCHAR[],   -- the indicators it affects (empty: every indicator)
    message       VARCHAR NOT NULL,
    practices     INTEGER,
    patients      BIGINT
)"""


@dataclass(frozen=True)
class Note:
    period: date | None
    topic: str
    indicator_ids: tuple[str, ...]
    message: str
    practices: int | None = None
    patients: int | None = None


def _day(d: date) -> str:
    return f"{d.day} {d:%b %Y}"


def _cluster_notes(con: duckdb.DuckDBPyConnection) -> list[Note]:
    rows = con.execute("""
        SELECT release_date, cluster_status, count(*), sum(list_size)
        FROM practice_period WHERE cluster_status <> 'cluster' GROUP BY 1, 2 ORDER BY 1, 2""").fetchall()
    notes = []
    for period, status, practices, patients in rows:
        if status == "unknown":
            message = (f"{practices:,} practice{'s' if practices != 1 else ''} ({patients:,} patients) "
                       f"had no contact-details row for {_day(period)}, so no known cluster: they count in their "
                       "HSCP, board and Scotland (codes from the list-size file) and are shown as "
                       "'cluster unknown'.")
        else:
            message = (f"{practices:,} practice{'s' if practices != 1 else ''} ({patients:,} patients) "
                       "are filed by PHS under placeholder cluster names such as 'Lanarkshire Undefined' "
                       "(special services, not GP clusters): they count in their HSCP, board and Scotland "
                       "but in no cluster, and are left out of cluster lists and rankings.")
        notes.append(Note(period, "no_cluster" if status == "unknown" else "placeholder_cluster", (),
                          message, practices, patients))
    return notes


def _headcount_notes(con: duckdb.DuckDBPyConnection) -> list[Note]:
    tolerance = int(config.get("max_date_gap_days"))
    has_lists = con.execute("SELECT count(*) FROM list_population").fetchone()[0]
    if not has_lists:
        return []
    placements = con.execute(HEADCOUNT_PLACEMENT_SQL + " ORDER BY snapshot_date").fetchall()
    notes = []
    for snapshot, period, gap in placements:
        gps = con.execute("SELECT sum(headcount) FROM gp_headcount WHERE snapshot_date = ?", [snapshot]).fetchone()[0]
        if gap > tolerance:
            notes.append(Note(None, "headcount_not_combined", HEADCOUNT_INDICATORS,
                              f"The GP headcount snapshot of {_day(snapshot)} ({gps:,} GPs) is {gap:,} days from "
                              f"the nearest list-size release ({_day(period)}), more than the {tolerance} days "
                              "allowed, so no GP workforce figure is made from it. Load the list-size release "
                              "nearest the snapshot to combine them."))
            continue
        dropped, practices = con.execute("""
            SELECT coalesce(sum(g.headcount), 0), count(DISTINCT g.practice_code) FROM gp_headcount g
            WHERE g.snapshot_date = ? AND g.practice_code NOT IN
                  (SELECT practice_code FROM list_population WHERE release_date = ?)""",
                                         [snapshot, period]).fetchone()
        combined = (f"GP figures for {_day(period)} use the GP headcount snapshot of {_day(snapshot)}"
                    + (f" ({gap:,} days apart)." if gap else "."))
        notes.append(Note(period, "headcount_combined", HEADCOUNT_INDICATORS, combined))
        if dropped:
            notes.append(Note(period, "headcount_dropped", HEADCOUNT_INDICATORS,
                              f"{int(dropped):,} GPs in {practices:,} practices of the {_day(snapshot)} snapshot "
                              f"have no practice list at {_day(period)} (the practices closed or changed code) "
                              "and are left out of every GP figure.", practices))
    return notes


def _age_band_notes(con: duckdb.DuckDBPyConnection) -> list[Note]:
    rows = con.execute("""
        SELECT release_date, count(*), sum(population) FROM list_population l
        WHERE sex = 'All' AND age_band = 'All' AND NOT EXISTS (
            SELECT 1 FROM list_population b WHERE b.release_date = l.release_date
               AND b.practice_code = l.practice_code AND b.sex = 'All' AND b.age_band <> 'All')
        GROUP BY 1 ORDER BY 1""").fetchall()
    return [Note(period, "no_age_bands", AGE_INDICATORS,
                 f"PHS publishes no age bands for {n:,} very small practice{'s' if n != 1 else ''} "
                 f"({patients:,} patients) at {_day(period)}: they have no age figures, and area age figures "
                 "leave them out.", n, patients) for period, n, patients in rows]


def quality_notes(con: duckdb.DuckDBPyConnection) -> list[Note]:
    """Every data-quality note the warehouse's facts call for."""
    return _cluster_notes(con) + _headcount_notes(con) + _age_band_notes(con)


def rebuild_quality_notes(con: duckdb.DuckDBPyConnection) -> int:
    """Replace data_quality_note with the notes for the warehouse as it is; returns how many."""
    notes = quality_notes(con)
    con.execute(SCHEMA)
    con.execute("DELETE FROM data_quality_note")
    if notes:
        con.executemany("INSERT INTO data_quality_note VALUES (?, ?, ?, ?, ?, ?)",
                        [(n.period, n.topic, list(n.indicator_ids), n.message, n.practices, n.patients)
                         for n in notes])
    return len(notes)
