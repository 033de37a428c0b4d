"""Tables derived from the loaded facts, rebuilt inside every load transaction: cluster ids and their name
history, the practice dimension, practice events, and each data zone's latest population."""

from __future__ import annotations

import duckdb

from gpcluster.warehouse.clusters import identify_clusters

MERGE_SHARE = 0.5  # a closed practice merged into a neighbour whose list grew by at least this share of its list
RECODE_SHARE = 0.05  # a closed practice re-opened under a new code when a new practice's list is this close


def rebuild_derived(con: duckdb.DuckDBPyConnection) -> None:
    """Recompute every derived table from practice_release, list_population and data_zone_population."""
    rebuild_clusters(con)
    rebuild_practices(con)
    rebuild_events(con)
    refresh_data_zone_population(con)


def rebuild_clusters(con: duckdb.DuckDBPyConnection) -> None:
    rows = con.execute(
        "SELECT release_date, practice_code, hscp_code, cluster_name, list_size FROM practice_release"
    ).df()
    identity = identify_clusters(rows)
    con.execute("DELETE FROM cluster; DELETE FROM cluster_name_history")
    con.register("new_memberships", identity.memberships)
    con.register("new_clusters", identity.clusters)
    con.register("new_history", identity.name_history)
    try:
        con.execute("INSERT INTO cluster SELECT cluster_id, hscp_code, cluster_name FROM new_clusters")
        con.execute("""INSERT INTO cluster_name_history
                       SELECT cluster_id, cluster_name, CAST(first_release AS DATE), CAST(last_release AS DATE)
                       FROM new_history""")
        con.execute("UPDATE practice_release SET cluster_id = NULL")
        con.execute("""UPDATE practice_release SET cluster_id = m.cluster_id FROM new_memberships m
                       WHERE practice_release.release_date = CAST(m.release_date AS DATE)
                         AND practice_release.cluster_name = m.cluster_name""")
    finally:
        for name in ("new_memberships", "new_clusters", "new_history"):
            con.unregister(name)


def rebuild_practices(con: duckdb.DuckDBPyConnection) -> None:
    """One row per practice ever seen. A practice that appears only in list-size files (it closed before any
    contact-details release in the warehouse) is named 'Practice <code>' until its details are loaded."""
    con.execute("DELETE FROM practice")
    con.execute("""
        INSERT INTO practice
        SELECT practice_code,
               arg_max(practice_name, release_date), arg_max(postcode, release_date),
               arg_max(data_zone, release_date), min(release_date), max(release_date)
        FROM practice_release GROUP BY practice_code""")
    con.execute("""
        INSERT INTO practice
        SELECT practice_code, 'Practice ' || practice_code, NULL, NULL, min(release_date), max(release_date)
        FROM list_population
        WHERE practice_code NOT IN (SELECT practice_code FROM practice)
        GROUP BY practice_code""")
    con.execute("""
        UPDATE practice SET first_release = least(first_release, l.first_seen),
                            last_release = greatest(last_release, l.last_seen)
        FROM (SELECT practice_code, min(release_date) AS first_seen, max(release_date) AS last_seen
              FROM list_population GROUP BY practice_code) l
        WHERE practice.practice_code = l.practice_code""")


def rebuild_events(con: duckdb.DuckDBPyConnection) -> None:
    """Practice events between consecutive releases.

    From the list-size releases (every practice is in them, with or without contact details; contact-details
    releases stand in on dates with no list-size file): opened,
    closed, and for a closed practice either recoded_as (a practice opened in the same HSCP with a list
    within RECODE_SHARE of the closed one's: the same practice under a new code) or merged_into (a practice
    of the same cluster, or of the same HSCP when a cluster is unknown, whose list grew by at least
    MERGE_SHARE of the closed one's; among several, the one whose growth is closest to the closed list).
    detail names the other practice. From consecutive contact-details releases: moved_cluster and renamed.
    """
    con.execute("DELETE FROM practice_event")
    con.execute(f"""
        INSERT INTO practice_event
        WITH lists AS (  -- list-size releases, and contact-details releases on dates with no list-size file
            SELECT release_date, practice_code, list_size, hscp_code, cluster_id FROM practice_period
            UNION ALL
            SELECT release_date, practice_code, list_size, hscp_code, cluster_id FROM practice_release
            WHERE release_date NOT IN (SELECT DISTINCT release_date FROM list_population)
        ),
        steps AS (
            SELECT now, before FROM (
                SELECT release_date AS now, lag(release_date) OVER (ORDER BY release_date) AS before
                FROM (SELECT DISTINCT release_date FROM lists))
            WHERE before IS NOT NULL
        ),
        was AS (SELECT s.now, l.* EXCLUDE (release_date) FROM steps s JOIN lists l ON l.release_date = s.before),
        is_ AS (SELECT s.now, l.* EXCLUDE (release_date) FROM steps s JOIN lists l ON l.release_date = s.now),
        closed AS (SELECT w.* FROM was w ANTI JOIN is_ i USING (now, practice_code)),
        opened AS (SELECT i.* FROM is_ i ANTI JOIN was w USING (now, practice_code)),
        growth AS (  -- what each practice present now gained; a new code gained its whole list
            SELECT i.now, i.practice_code, i.hscp_code, i.cluster_id, i.list_size,
                   i.list_size - coalesce(w.list_size, 0) AS growth, w.practice_code IS NULL AS is_new
            FROM is_ i LEFT JOIN was w USING (now, practice_code)
        ),
        recoded AS (
            SELECT c.now, c.practice_code, arg_min(o.practice_code, abs(o.list_size - c.list_size)) AS other
            FROM closed c JOIN opened o ON o.now = c.now AND o.hscp_code = c.hscp_code
            WHERE abs(o.list_size - c.list_size) <= {RECODE_SHARE} * c.list_size
            GROUP BY c.now, c.practice_code
        ),
        merged AS (
            SELECT c.now, c.practice_code, arg_min(g.practice_code, abs(g.growth - c.list_size)) AS other
            FROM closed c JOIN growth g ON g.now = c.now
             AND (CASE WHEN c.cluster_id IS NOT NULL AND g.cluster_id IS NOT NULL THEN g.cluster_id = c.cluster_id
                       ELSE g.hscp_code = c.hscp_code END)
            WHERE c.list_size > 0 AND g.growth >= {MERGE_SHARE} * c.list_size
              AND c.practice_code NOT IN (SELECT practice_code FROM recoded r WHERE r.now = c.now)
            GROUP BY c.now, c.practice_code
        ),
        contact_steps AS (
            SELECT now, before FROM (
                SELECT release_date AS now, lag(release_date) OVER (ORDER BY release_date) AS before
                FROM (SELECT DISTINCT release_date FROM practice_release))
            WHERE before IS NOT NULL
        ),
        kept AS (
            SELECT s.now, w.practice_code, w.practice_name AS old_name, i.practice_name AS new_name,
                   w.cluster_id AS old_cluster, i.cluster_id AS new_cluster
            FROM contact_steps s
            JOIN practice_release w ON w.release_date = s.before
            JOIN practice_release i ON i.release_date = s.now AND i.practice_code = w.practice_code
        )
        SELECT now, practice_code, 'opened', NULL FROM opened
        UNION ALL SELECT now, practice_code, 'closed', NULL FROM closed
        UNION ALL SELECT now, practice_code, 'recoded_as', other FROM recoded
        UNION ALL SELECT now, practice_code, 'merged_into', other FROM merged
        UNION ALL SELECT now, practice_code, 'moved_cluster', old_cluster || ' -> ' || new_cluster FROM kept
                  WHERE old_cluster <> new_cluster
        UNION ALL SELECT now, practice_code, 'renamed', old_name || ' -> ' || new_name FROM kept
                  WHERE old_name <> new_name""")


def refresh_data_zone_population(con: duckdb.DuckDBPyConnection) -> None:
    con.execute("""
        INSERT INTO data_zone (data_zone, population)
        SELECT data_zone, sum(population) FROM data_zone_population
        WHERE sex = 'All' AND year = (SELECT max(year) FROM data_zone_population)
        GROUP BY data_zone
        ON CONFLICT (data_zone) DO UPDATE SET population = excluded.population""")
