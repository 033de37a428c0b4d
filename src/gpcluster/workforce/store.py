"""The warehouse adapter: roster tables (workforce/schema.sql) loaded transactionally with a ledger
record, and the practice and age-sex frames of one release read from practice_period/list_population."""

from __future__ import annotations

import contextlib
import hashlib
from dataclasses import dataclass
from datetime import date
from importlib.resources import files
from pathlib import Path

import duckdb
import pandas as pd

from gpcluster.errors import Problem, UserError, ValidationFailed
from gpcluster.workforce.params import Assumptions
from gpcluster.workforce.roster import POST_COLUMNS, SESSION_COLUMNS, read_roster

LEDGER_SOURCE = "mdt_roster"
PRACTICE_FIELDS = (
    "practice_code, practice_name, cluster_id, cluster_name, hscp_code, board_code, data_zone, list_size, "
    "simd_rank, simd_decile, simd_quintile, urban_rural_6, urban_rural_8, urban_rural_2"
)


def ensure_roster_schema(con: duckdb.DuckDBPyConnection) -> None:
    """Create the roster tables if missing."""
    con.execute((files("gpcluster.workforce") / "schema.sql").read_text(encoding="utf-8"))


@dataclass(frozen=True)
class RosterLoad:
    """What an import did."""

    file_name: str
    posts: int
    sessions: int
    total_wte: float
    load_id: int | None
    unchanged: bool = False


def latest_release(con: duckdb.DuckDBPyConnection) -> date:
    """The latest population release in the warehouse."""
    row = con.execute("SELECT max(release_date) FROM list_population").fetchone()
    if not row or row[0] is None:
        raise UserError("the warehouse has no practice populations: load data first (gpcluster demo / load)")
    return row[0]


def read_practices(con: duckdb.DuckDBPyConnection, release_date: date | None = None) -> pd.DataFrame:
    """One row per practice for a release (default: the latest) from the practice_period view."""
    release = release_date or latest_release(con)
    df = con.execute(f"SELECT {PRACTICE_FIELDS} FROM practice_period WHERE release_date = ? ORDER BY practice_code",
                     [release]).df()
    if df.empty:
        raise UserError(f"no practices in the warehouse for release {release}")
    return df


def read_agesex(con: duckdb.DuckDBPyConnection, release_date: date | None = None) -> pd.DataFrame:
    """Registered list by practice, sex and PHS age band for a release (default: the latest)."""
    release = release_date or latest_release(con)
    return con.execute(
        "SELECT practice_code, sex, age_band, population FROM list_population "
        "WHERE release_date = ? AND sex <> 'All' AND age_band <> 'All'", [release]).df()


def import_roster(con: duckdb.DuckDBPyConnection, path, assumptions: Assumptions | None = None,
                  synthetic: bool = False) -> RosterLoad:
    """Validate a roster file against the warehouse's practices and replace the stored roster with it in
    one transaction, recording the file in load_ledger. A file identical to the last one loaded is not
    loaded again. Nothing changes when validation fails."""
    path = Path(path)
    ensure_roster_schema(con)
    known = {r[0] for r in con.execute("SELECT DISTINCT practice_code FROM practice_release").fetchall()}
    known |= {r[0] for r in con.execute("SELECT DISTINCT practice_code FROM list_population").fetchall()}
    if not known:
        raise ValidationFailed([Problem(path.name, "no_practices",
                                        "the warehouse has no practices to check codes against; load data first")])
    posts, sessions = read_roster(path, known_practices=known, assumptions=assumptions)
    sha = hashlib.sha256(path.read_bytes()).hexdigest()
    last = con.execute("SELECT sha256 FROM load_ledger WHERE source = ? ORDER BY load_id DESC LIMIT 1",
                       [LEDGER_SOURCE]).fetchone()
    summary = dict(file_name=path.name, posts=len(posts), sessions=len(sessions), total_wte=float(posts["wte"].sum()))
    if last and last[0] == sha:
        return RosterLoad(**summary, load_id=None, unchanged=True)
    con.execute("BEGIN TRANSACTION")
    try:
        load_id = con.execute(
            "INSERT INTO load_ledger (source, file_name, sha256, row_count, synthetic) VALUES (?, ?, ?, ?, ?) "
            "RETURNING load_id", [LEDGER_SOURCE, path.name, sha, len(posts), synthetic]).fetchone()[0]
        con.execute("DELETE FROM mdt_post_session")
        con.execute("DELETE FROM mdt_post")
        frame = posts.assign(load_id=load_id)
        con.register("roster_posts", frame)
        con.register("roster_sessions", sessions)
        con.execute(f"INSERT INTO mdt_post ({', '.join(POST_COLUMNS)}, load_id) "
                    f"SELECT {', '.join(POST_COLUMNS)}, load_id FROM roster_posts")
        con.execute(f"INSERT INTO mdt_post_session ({', '.join(SESSION_COLUMNS)}) "
                    f"SELECT {', '.join(SESSION_COLUMNS)} FROM roster_sessions")
        con.execute("COMMIT")
    except Exception:
        con.execute("ROLLBACK")
        raise
    finally:
        for view in ("roster_posts", "roster_sessions"):
            with contextlib.suppress(duckdb.Error):  # a view that was never registered
                con.unregister(view)
    return RosterLoad(**summary, load_id=int(load_id))


def read_roster_tables(con: duckdb.DuckDBPyConnection, as_at: date | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(posts, sessions) of the stored roster; with `as_at`, only posts in post on that date.
    Empty frames when no roster was ever imported."""
    exists = con.execute("SELECT count(*) FROM information_schema.tables WHERE table_name = 'mdt_post'").fetchone()[0]
    if not exists:
        return pd.DataFrame(columns=POST_COLUMNS), pd.DataFrame(columns=SESSION_COLUMNS)
    where, params = "", []
    if as_at is not None:
        where, params = " WHERE start_date <= ? AND (end_date IS NULL OR end_date >= ?)", [as_at, as_at]
    posts = con.execute(f"SELECT {', '.join(POST_COLUMNS)} FROM mdt_post{where} ORDER BY post_id", params).df()
    sessions = con.execute(f"SELECT {', '.join(SESSION_COLUMNS)} FROM mdt_post_session ORDER BY post_id, practice_code").df()
    return posts, sessions[sessions["post_id"].isin(posts["post_id"])].reset_index(drop=True)
