-- Indicator results: the contract between the indicator engine and its readers (web app, packs,
-- exports, planner). Written by gpcluster.indicators; never edited by hand.

CREATE TABLE IF NOT EXISTS indicator_definition (
    indicator_id  VARCHAR NOT NULL,
    version       VARCHAR NOT NULL,     -- first 12 hex of sha256 of the definition file
    title         VARCHAR NOT NULL,
    description   VARCHAR NOT NULL,     -- plain language
    why_it_matters VARCHAR NOT NULL,
    measure_type  VARCHAR NOT NULL,     -- proportion | crude_rate | standardised_ratio | mean | count | change
    multiplier    DOUBLE NOT NULL,      -- e.g. 100 for %, 1000 for per 1,000
    unit          VARCHAR NOT NULL,     -- e.g. '%', 'per 1,000 patients'
    polarity      VARCHAR NOT NULL,     -- higher_is_better | higher_is_worse | neither
    synthetic     BOOLEAN NOT NULL,     -- TRUE for the demo's synthetic activity indicators
    definition    VARCHAR NOT NULL,     -- the definition file's text, verbatim
    computed_at   TIMESTAMP NOT NULL DEFAULT current_timestamp,
    PRIMARY KEY (indicator_id, version)
);

-- One row per indicator x period x level x area. level in ('practice','cluster','hscp','board','scotland').
-- area_code: practice code, cluster_id, S37 HSCP, S08 board, or 'S92000003' for Scotland.
-- Disclosure control is NOT applied here (this table never leaves the server); every output path
-- applies gpcluster.stats.disclosure using `suppressible` and the definition's rule.
CREATE TABLE IF NOT EXISTS indicator_value (
    indicator_id    VARCHAR NOT NULL,
    version         VARCHAR NOT NULL,
    period          DATE NOT NULL,
    level           VARCHAR NOT NULL,
    area_code       VARCHAR NOT NULL,
    cluster_id      VARCHAR,            -- membership in force in this period (practice rows)
    hscp_code       VARCHAR,
    board_code      VARCHAR,
    numerator       DOUBLE,
    denominator     DOUBLE,
    numerator_date  DATE,               -- when the numerator describes another date than `period` (else NULL)
    denominator_date DATE,              -- likewise for the denominator
    note            VARCHAR,            -- what a reader must know about this figure (e.g. a merger)
    value           DOUBLE,
    lower95         DOUBLE,
    upper95         DOUBLE,
    lower998        DOUBLE,
    upper998        DOUBLE,
    expected        DOUBLE,             -- performance indicators: the count expected of the unit (E)
    z_score         DOUBLE,             -- performance: (Y - Y_Scotland) / sqrt(s² + τ²) on the funnel's scale
    cluster_value   DOUBLE,             -- comparators for the same period
    hscp_value      DOUBLE,
    board_value     DOUBLE,
    scotland_value  DOUBLE,
    funnel_scotland VARCHAR,            -- performance only, overdispersion-adjusted: high_998 | high_95 |
                                        -- not_significant | low_95 | low_998 | NULL
    funnel_hscp     VARCHAR,
    spc_signal      VARCHAR,            -- performance only: special_cause_improvement | special_cause_concern |
                                        -- special_cause_neutral_high | special_cause_neutral_low | common_cause |
                                        -- too_few_points | NULL
    spc_rule        VARCHAR,            -- e.g. 'Above UCL', '7 Point Trend (Increasing)'
    national_rank   INTEGER,            -- 1 = highest value among practices in the period
    national_decile INTEGER             -- 1 = lowest tenth .. 10 = highest tenth
);
-- No primary key: DuckDB's ART index made every compute run 4x slower to store. The engine writes
-- each (indicator_id, period, level, area_code) once, replacing an indicator's rows in one
-- transaction; tests/indicators check the key is unique.


-- The funnel each performance indicator's positions were judged on, per level and period: the scale of
-- comparison, the overdispersion φ and the between-unit variance τ² (DerSimonian-Laird), and whether the
-- limits were widened (φ > 1). Pages say which adjustment a chart uses and why.
CREATE TABLE IF NOT EXISTS funnel_model (
    indicator_id VARCHAR NOT NULL,
    version      VARCHAR NOT NULL,
    period       DATE NOT NULL,
    level        VARCHAR NOT NULL,
    scale        VARCHAR NOT NULL,      -- sqrt(O/E) | arcsine
    units        INTEGER NOT NULL,
    phi          DOUBLE,
    tau2         DOUBLE NOT NULL,
    adjusted     BOOLEAN NOT NULL,
    target       DOUBLE NOT NULL
);
