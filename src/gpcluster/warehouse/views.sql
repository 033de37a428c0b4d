-- practice_period: one row per (release_date, practice_code) in list_population. list_size is the
-- 'All'/'All' row. Membership (name, cluster, HSCP, board, data zone) comes from the latest
-- contact-details release on or before release_date, else the earliest after it. cluster_name is the
-- cluster's latest name (ids are stable across renames, so series keep one label). Data-zone
-- attributes are those of the practice's data zone. Read by the indicator engine, web app and planner.
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
    m.hscp_code,
    m.board_code,
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
LEFT JOIN cluster c ON c.cluster_id = m.cluster_id
LEFT JOIN data_zone dz ON dz.data_zone = m.data_zone;
