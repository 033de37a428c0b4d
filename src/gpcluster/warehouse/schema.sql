-- gpcluster warehouse schema (DuckDB). The contract between loaders, the indicator engine,
-- the web app and the workforce planner. Codes are stored as text exactly as PHS publishes them
-- (practice codes as 5-digit text, e.g. '10002'). Dates are release dates (first of the month).

-- Organisation tree -----------------------------------------------------------------------
CREATE TABLE IF NOT EXISTS board (
    board_code   VARCHAR PRIMARY KEY,          -- S08xxxxxx
    board_name   VARCHAR NOT NULL
);

CREATE TABLE IF NOT EXISTS hscp (
    hscp_code    VARCHAR PRIMARY KEY,          -- S37xxxxxx
    hscp_name    VARCHAR NOT NULL,
    board_code   VARCHAR NOT NULL              -- the board most of its practices sit in
);

-- PHS publishes cluster names, not codes. cluster_id = '<hscp_code>/<normalised name>', fixed at
-- first sight; a later rename keeps the id and adds a row to cluster_name_history.
CREATE TABLE IF NOT EXISTS cluster (
    cluster_id   VARCHAR PRIMARY KEY,
    hscp_code    VARCHAR NOT NULL,
    cluster_name VARCHAR NOT NULL              -- latest published name
);

CREATE TABLE IF NOT EXISTS cluster_name_history (
    cluster_id    VARCHAR NOT NULL,
    cluster_name  VARCHAR NOT NULL,
    first_release DATE NOT NULL,
    last_release  DATE NOT NULL,
    PRIMARY KEY (cluster_id, cluster_name)
);

CREATE TABLE IF NOT EXISTS practice (
    practice_code VARCHAR PRIMARY KEY,
    practice_name VARCHAR NOT NULL,            -- latest published name
    postcode      VARCHAR,
    data_zone     VARCHAR,                     -- latest; S01xxxxxx (DZ2011)
    first_release DATE NOT NULL,
    last_release  DATE NOT NULL
);

-- Time-versioned membership and attributes: one row per practice per contact-details release.
CREATE TABLE IF NOT EXISTS practice_release (
    release_date  DATE NOT NULL,
    practice_code VARCHAR NOT NULL,
    practice_name VARCHAR NOT NULL,
    board_code    VARCHAR NOT NULL,
    hscp_code     VARCHAR NOT NULL,
    cluster_id    VARCHAR,                     -- NULL when the release gives no cluster
    data_zone     VARCHAR,
    postcode      VARCHAR,
    practice_type VARCHAR,
    dispensing    BOOLEAN,
    list_size     INTEGER NOT NULL,
    cluster_name  VARCHAR,                     -- the cluster name exactly as published in this release
    PRIMARY KEY (release_date, practice_code)
);

-- The board and HSCP that each list-size release publishes for each practice: the codes in force at that
-- date, known even for practices with no contact-details row (which carries the cluster).
CREATE TABLE IF NOT EXISTS practice_list_area (
    release_date  DATE NOT NULL,
    practice_code VARCHAR NOT NULL,
    board_code    VARCHAR,
    hscp_code     VARCHAR,
    PRIMARY KEY (release_date, practice_code)
);

-- Derived on every load: opened, closed, merged_into, recoded_as (from the list-size releases) and
-- moved_cluster, renamed (from consecutive contact-details releases). See gpcluster.warehouse.derived.
CREATE TABLE IF NOT EXISTS practice_event (
    release_date  DATE NOT NULL,
    practice_code VARCHAR NOT NULL,
    event         VARCHAR NOT NULL,
    detail        VARCHAR,
    PRIMARY KEY (release_date, practice_code, event)
);

-- Facts ------------------------------------------------------------------------------------
-- Registered list by sex and PHS age band. sex in ('Male','Female','All');
-- age_band in ('0-4','5-14','15-24','25-44','45-64','65-74','75-84','85+','All').
CREATE TABLE IF NOT EXISTS list_population (
    release_date  DATE NOT NULL,
    practice_code VARCHAR NOT NULL,
    sex           VARCHAR NOT NULL,
    age_band      VARCHAR NOT NULL,
    population    INTEGER NOT NULL
    -- unique (release_date, practice_code, sex, age_band): checked after each load (writers.NATURAL_KEYS); a primary key
    -- index made a load of 1.9 million data-zone rows 16 times slower
);

-- Data-zone attributes: SIMD 2020v2 (rank 1 = most deprived) and Urban Rural Classification.
CREATE TABLE IF NOT EXISTS data_zone (
    data_zone          VARCHAR PRIMARY KEY,
    intermediate_zone  VARCHAR,
    board_code         VARCHAR,
    hscp_code          VARCHAR,
    council_code       VARCHAR,
    simd_rank          INTEGER,
    simd_decile        INTEGER,               -- Scotland, data-zone-count based
    simd_quintile      INTEGER,
    simd_hb_decile     INTEGER,
    simd_hb_quintile   INTEGER,
    simd_hscp_decile   INTEGER,
    simd_hscp_quintile INTEGER,
    simd_most15        BOOLEAN,
    simd_least15       BOOLEAN,
    urban_rural_6      INTEGER,               -- 1 large urban .. 6 remote rural
    urban_rural_8      INTEGER,               -- 1 .. 8 (8 = very remote rural); NULL if only 6-fold known
    urban_rural_2      INTEGER,               -- 1 urban, 2 rural
    population         INTEGER                -- latest small-area population estimate
);

-- Small-area population estimates as published: one row per (year, data zone, sex), one column per single
-- year of age (age_90 = 90 and over); NULL where PHS suppressed the cell. sex in ('Male','Female','All').
-- Readers use the view data_zone_population (views.sql: one row per age). Stored wide because the long
-- form is 1.9 million rows per release, most of a real load's write time (docs/performance.md, Loads,
-- seventh session); a warehouse made before holds a long table, converted by connection.ensure_schema.
CREATE TABLE IF NOT EXISTS data_zone_population_wide (
    year       INTEGER NOT NULL,
    data_zone  VARCHAR NOT NULL,
    sex        VARCHAR NOT NULL,
    age_0 INTEGER, age_1 INTEGER, age_2 INTEGER, age_3 INTEGER, age_4 INTEGER, age_5 INTEGER, age_6 INTEGER, age_7 INTEGER, age_8 INTEGER, age_9 INTEGER,
    age_10 INTEGER, age_11 INTEGER, age_12 INTEGER, age_13 INTEGER, age_14 INTEGER, age_15 INTEGER, age_16 INTEGER, age_17 INTEGER, age_18 INTEGER, age_19 INTEGER,
    age_20 INTEGER, age_21 INTEGER, age_22 INTEGER, age_23 INTEGER, age_24 INTEGER, age_25 INTEGER, age_26 INTEGER, age_27 INTEGER, age_28 INTEGER, age_29 INTEGER,
    age_30 INTEGER, age_31 INTEGER, age_32 INTEGER, age_33 INTEGER, age_34 INTEGER, age_35 INTEGER, age_36 INTEGER, age_37 INTEGER, age_38 INTEGER, age_39 INTEGER,
    age_40 INTEGER, age_41 INTEGER, age_42 INTEGER, age_43 INTEGER, age_44 INTEGER, age_45 INTEGER, age_46 INTEGER, age_47 INTEGER, age_48 INTEGER, age_49 INTEGER,
    age_50 INTEGER, age_51 INTEGER, age_52 INTEGER, age_53 INTEGER, age_54 INTEGER, age_55 INTEGER, age_56 INTEGER, age_57 INTEGER, age_58 INTEGER, age_59 INTEGER,
    age_60 INTEGER, age_61 INTEGER, age_62 INTEGER, age_63 INTEGER, age_64 INTEGER, age_65 INTEGER, age_66 INTEGER, age_67 INTEGER, age_68 INTEGER, age_69 INTEGER,
    age_70 INTEGER, age_71 INTEGER, age_72 INTEGER, age_73 INTEGER, age_74 INTEGER, age_75 INTEGER, age_76 INTEGER, age_77 INTEGER, age_78 INTEGER, age_79 INTEGER,
    age_80 INTEGER, age_81 INTEGER, age_82 INTEGER, age_83 INTEGER, age_84 INTEGER, age_85 INTEGER, age_86 INTEGER, age_87 INTEGER, age_88 INTEGER, age_89 INTEGER,
    age_90 INTEGER
    -- unique (year, data_zone, sex): checked after each load (writers.NATURAL_KEYS)
);

-- Board population estimates (PHS "Population Estimates") as published: one row per (year, area, sex), a
-- column per single year of age (age_90 = 90 and over). Readers use the view board_population (views.sql),
-- one row per age; stored wide for the reason given for data_zone_population_wide.
CREATE TABLE IF NOT EXISTS board_population_wide (
    year       INTEGER NOT NULL,
    area_code  VARCHAR NOT NULL,              -- S08 board or S92000003 Scotland
    sex        VARCHAR NOT NULL,
    age_0 INTEGER, age_1 INTEGER, age_2 INTEGER, age_3 INTEGER, age_4 INTEGER, age_5 INTEGER, age_6 INTEGER, age_7 INTEGER, age_8 INTEGER, age_9 INTEGER,
    age_10 INTEGER, age_11 INTEGER, age_12 INTEGER, age_13 INTEGER, age_14 INTEGER, age_15 INTEGER, age_16 INTEGER, age_17 INTEGER, age_18 INTEGER, age_19 INTEGER,
    age_20 INTEGER, age_21 INTEGER, age_22 INTEGER, age_23 INTEGER, age_24 INTEGER, age_25 INTEGER, age_26 INTEGER, age_27 INTEGER, age_28 INTEGER, age_29 INTEGER,
    age_30 INTEGER, age_31 INTEGER, age_32 INTEGER, age_33 INTEGER, age_34 INTEGER, age_35 INTEGER, age_36 INTEGER, age_37 INTEGER, age_38 INTEGER, age_39 INTEGER,
    age_40 INTEGER, age_41 INTEGER, age_42 INTEGER, age_43 INTEGER, age_44 INTEGER, age_45 INTEGER, age_46 INTEGER, age_47 INTEGER, age_48 INTEGER, age_49 INTEGER,
    age_50 INTEGER, age_51 INTEGER, age_52 INTEGER, age_53 INTEGER, age_54 INTEGER, age_55 INTEGER, age_56 INTEGER, age_57 INTEGER, age_58 INTEGER, age_59 INTEGER,
    age_60 INTEGER, age_61 INTEGER, age_62 INTEGER, age_63 INTEGER, age_64 INTEGER, age_65 INTEGER, age_66 INTEGER, age_67 INTEGER, age_68 INTEGER, age_69 INTEGER,
    age_70 INTEGER, age_71 INTEGER, age_72 INTEGER, age_73 INTEGER, age_74 INTEGER, age_75 INTEGER, age_76 INTEGER, age_77 INTEGER, age_78 INTEGER, age_79 INTEGER,
    age_80 INTEGER, age_81 INTEGER, age_82 INTEGER, age_83 INTEGER, age_84 INTEGER, age_85 INTEGER, age_86 INTEGER, age_87 INTEGER, age_88 INTEGER, age_89 INTEGER,
    age_90 INTEGER
    -- unique (year, area_code, sex): checked after each load (writers.NATURAL_KEYS)
);

CREATE TABLE IF NOT EXISTS gp_headcount (
    snapshot_date DATE NOT NULL,
    practice_code VARCHAR NOT NULL,
    designation   VARCHAR NOT NULL,           -- PERFORMER, SALARIED, REGISTRAR, RETAINEE
    sex           VARCHAR NOT NULL,
    headcount     INTEGER NOT NULL,
    PRIMARY KEY (snapshot_date, practice_code, designation, sex)
);

-- Practice activity from local extracts (the demo's are synthetic). One value per quarter.
-- measure examples: gp_consultations, mdt_consultations, emergency_admissions, ae_attendances,
-- high_risk_rx_patients, high_risk_rx_denominator.
CREATE TABLE IF NOT EXISTS practice_activity (
    period        DATE NOT NULL,              -- first day of the quarter (aligned with releases)
    practice_code VARCHAR NOT NULL,
    measure       VARCHAR NOT NULL,
    value         DOUBLE NOT NULL
    -- unique (period, practice_code, measure): checked after each load (writers.NATURAL_KEYS); a primary key
    -- index made a load of 1.9 million data-zone rows 16 times slower
);

-- Scotland's activity rates by sex and age band (events per person in the quarter): the reference for
-- indirect standardisation. sex in ('Male','Female'); age_band as in list_population.
CREATE TABLE IF NOT EXISTS reference_rate (
    period    DATE NOT NULL,
    measure   VARCHAR NOT NULL,
    sex       VARCHAR NOT NULL,
    age_band  VARCHAR NOT NULL,
    rate      DOUBLE NOT NULL,
    PRIMARY KEY (period, measure, sex, age_band)
);

-- Provenance: every file ever loaded. A file whose checksum is already here is not loaded again.
CREATE SEQUENCE IF NOT EXISTS load_id_seq;
CREATE TABLE IF NOT EXISTS load_ledger (
    load_id      BIGINT PRIMARY KEY DEFAULT nextval('load_id_seq'),
    source       VARCHAR NOT NULL,            -- sources registry name, e.g. 'gp_practice_populations'
    file_name    VARCHAR NOT NULL,
    sha256       VARCHAR NOT NULL,
    row_count    INTEGER NOT NULL,
    release_date DATE,
    synthetic    BOOLEAN NOT NULL DEFAULT FALSE,
    loaded_at    TIMESTAMP NOT NULL DEFAULT current_timestamp
);

-- Convenience view used downstream: one row per practice per population release, with the
-- cluster/HSCP/board membership in force at that date (latest contact-details release on or
-- before it, else the earliest after it), and the practice data zone's deprivation and rurality.
-- Defined by gpcluster.warehouse (it needs ASOF joins); see warehouse/views.sql.
