"""Tables derived from the loaded facts, rebuilt inside every load transaction: cluster ids and their name
history, the practice dimension, practice events, and each data zone's latest population."""

from __future__ import annotations

import duckdb

from gpcluster.warehouse.clusters import identify_clusters

MERGE_SHARE = 0.5  # a closed practice merged into the cluster-mate whose list grew by at least this share


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
        con.execute("""UPDATE practice_release SET cluster_id = m.cluster_id FROM new_memberships m
                       WHERE practice_release.release_date = CAST(m.release_date AS DATE)
                         AND practice_release.cluster_name = m.cluster_name""")
        con.execute("UPDATE practice_release SET cluster_id = NULL WHERE cluster_name IS NULL")
    finally:
        for name in ("new_memberships", "new_clusters", "new_history"):
            con.unregister(name)


def rebuild_practices(con: duckdb.DuckDBPyConnection) -> None:
    con.execute("DELETE FROM practice")
    con.execute("""
        INSERT INTO practice
        SELECT practice_code,
               arg_max(practice_name, release_date), arg_max(postcode, release_date),
               arg_max(data_zone, release_date), min(release_date), max(release_date)
        FROM practice_release GROUP BY practice_code""")
    con.execute("""
        UPDATE practice SET first_release = least(first_release, l.first_seen),
                            last_release = greatest(last_release, l.last_seen)
        FROM (SELECT practice_code, min(release_date) AS first_seen, max(release_date) AS last_seen
              FROM list_population GROUP BY practice_code) l
        WHERE practice.practice_code = l.practice_code""")


def rebuild_events(con: duckdb.DuckDBPyConnection) -> None:
    """opened / closed / moved_cluster / renamed / merged_into between consecutive contact-details releases.

    merged_into: a practice that closed, whose cluster-mate's list grew by at least MERGE_SHARE of the
    closed practice's last list; detail names the cluster-mate whose list grew most."""
    con.execute("DELETE FROM practice_event")
    con.execute(f"""
        INSERT INTO practice_event
        WITH ordered AS (
            SELECT release_date AS now, lag(release_date) OVER (ORDER BY release_date) AS before
            FROM (SELECT DISTINCT release_date FROM practice_release)
        ),
        steps AS (SELECT * FROM ordered WHERE before IS NOT NULL),
        was AS (SELECT s.now, p.* FROM steps s JOIN practice_release p ON p.release_date = s.before),
        is_ AS (SELECT p.* FROM steps s JOIN practice_release p ON p.release_date = s.now),
        kept AS (
            SELECT w.now, w.practice_code, w.practice_name AS old_name, i.practice_name AS new_name,
                   w.cluster_id AS old_cluster, i.cluster_id AS new_cluster, i.list_size - w.list_size AS growth
            FROM was w JOIN is_ i ON i.release_date = w.now AND i.practice_code = w.practice_code
        ),
        closed AS (
            SELECT w.now, w.practice_code, w.cluster_id, w.list_size FROM was w
            WHERE NOT EXISTS (SELECT 1 FROM is_ i WHERE i.release_date = w.now AND i.practice_code = w.practice_code)
        ),
        merged AS (
            SELECT c.now, c.practice_code,
                   first(k.practice_code ORDER BY k.growth DESC, k.practice_code) AS gainer,
                   max(k.growth) AS growth, any_value(c.list_size) AS list_size
            FROM closed c JOIN kept k ON k.now = c.now AND k.old_cluster = c.cluster_id
            GROUP BY c.now, c.practice_code
        )
        SELECT i.release_date, i.practice_code, 'opened', NULL FROM is_ i JOIN steps s ON s.now = i.release_date
        WHERE NOT EXISTS (SELECT 1 FROM was w WHERE w.now = i.release_date AND w.practice_code = i.practice_code)
        UNION ALL SELECT now, practice_code, 'closed', NULL FROM closed
        UNION ALL SELECT now, practice_code, 'moved_cluster', old_cluster || ' -> ' || new_cluster FROM kept
                  WHERE old_cluster <> new_cluster
        UNION ALL SELECT now, practice_code, 'renamed', old_name || ' -> ' || new_name FROM kept
                  WHERE old_name <> new_name
        UNION ALL SELECT now, practice_code, 'merged_into', gainer FROM merged
                  WHERE list_size > 0 AND growth >= {MERGE_SHARE} * list_size""")


def refresh_data_zone_population(con: duckdb.DuckDBPyConnection) -> None:
    con.execute("""
        INSERT INTO data_zone (data_zone, population)
        SELECT data_zone, sum(population) FROM data_zone_population
        WHERE sex = 'All' AND year = (SELECT max(year) FROM data_zone_population)
        GROUP BY data_zone
        ON CONFLICT (data_zone) DO UPDATE SET population = excluded.population""")
