-- practice_period: one row per (release_date, practice_code) in list_population. list_size is the
-- 'All'/'All' row. Board and HSCP are those the list-size file publishes for the practice at that date
-- (practice_list_area), else those of its membership. Membership (name, cluster, data zone) comes from the
-- latest contact-details release on or before release_date, else the earliest after it. cluster_status says
-- why a practice has no cluster_id: 'not_in_cluster' (PHS files it under a placeholder such as
-- "Lanarkshire Undefined") or 'unknown' (no contact-details row at all); such practices still count in
-- their HSCP, board and Scotland. cluster_name is the cluster's latest name (ids are stable across renames,
-- so series keep one label). Data-zone attributes are those of the practice's data zone. Read by the
-- indicator engine, web app and planner.
CREATE OR REPLACE VIEW practice_period AS
WITH lists AS (
    SELECT release_date, practice_code, population AS list_size
    FROM list_population
    WHERE sex = 'All' AND age_band = 'All'
),
on_or_before AS (
    SELECT l.release_date, l.practice_code, p.release_date AS membership_date
    FROM lists l ASOF LEFT JOIN practice_release p
      ON l.practice_code = p.practice_code AND l.release_date >= p.release_date
),
after AS (
    SELECT l.release_date, l.practice_code, p.release_date AS membership_date
    FROM lists l ASOF LEFT JOIN practice_release p
      ON l.practice_code = p.practice_code AND l.release_date <= p.release_date
)
SELECT
    l.release_date,
    l.practice_code,
    l.list_size,
    m.practice_name,
    m.cluster_id,
    c.cluster_name,
    CASE WHEN m.cluster_id IS NOT NULL THEN 'cluster'
         WHEN m.cluster_name IS NOT NULL THEN 'not_in_cluster'
         ELSE 'unknown' END AS cluster_status,
    coalesce(pa.hscp_code, m.hscp_code) AS hscp_code,
    coalesce(pa.board_code, m.board_code) AS board_code,
    m.data_zone,
    m.release_date AS membership_release,
    dz.simd_rank,
    dz.simd_decile,
    dz.simd_quintile,
    dz.urban_rural_6,
    dz.urban_rural_8,
    dz.urban_rural_2
FROM lists l
JOIN on_or_before b USING (release_date, practice_code)
JOIN after a USING (release_date, practice_code)
LEFT JOIN practice_release m
  ON m.practice_code = l.practice_code
 AND m.release_date = coalesce(b.membership_date, a.membership_date)
LEFT JOIN practice_list_area pa ON pa.release_date = l.release_date AND pa.practice_code = l.practice_code
LEFT JOIN cluster c ON c.cluster_id = m.cluster_id
LEFT JOIN data_zone dz ON dz.data_zone = m.data_zone;

-- data_zone_population: small-area population estimates, one row per (year, data zone, sex, age), age a
-- single year (90 = 90 and over), from the table stored as published (data_zone_population_wide, schema.sql).
-- A cell PHS suppressed (NULL there) is no row, as in the long table this view replaces.
CREATE OR REPLACE VIEW data_zone_population AS
SELECT year, data_zone, sex, CAST(substr(age, 5) AS INTEGER) AS age, population
FROM (UNPIVOT data_zone_population_wide ON COLUMNS('^age_[0-9]+$') INTO NAME age VALUE population);

-- board_population: board (S08) and Scotland (S92000003) population estimates, one row per (year, area, sex,
-- age), from board_population_wide (schema.sql), as data_zone_population.
CREATE OR REPLACE VIEW board_population AS
SELECT year, area_code, sex, CAST(substr(age, 5) AS INTEGER) AS age, population
FROM (UNPIVOT board_population_wide ON COLUMNS('^age_[0-9]+$') INTO NAME age VALUE population);
