-- MDT roster tables, owned by gpcluster.workforce. The roster is replaced as a whole on each import;
-- load_id points at the load_ledger row (source 'mdt_roster') that recorded the file.
CREATE TABLE IF NOT EXISTS mdt_post (
    post_id                        VARCHAR PRIMARY KEY,
    role                           VARCHAR NOT NULL,
    wte                            DOUBLE NOT NULL,
    employer                       VARCHAR NOT NULL,
    base                           VARCHAR,
    start_date                     DATE NOT NULL,
    end_date                       DATE,
    line_manager                   VARCHAR,
    gp_supervision_hours_per_week  DOUBLE NOT NULL DEFAULT 0,
    load_id                        BIGINT NOT NULL
);

CREATE TABLE IF NOT EXISTS mdt_post_session (
    post_id            VARCHAR NOT NULL,
    practice_code      VARCHAR NOT NULL,
    sessions_per_week  DOUBLE NOT NULL,
    PRIMARY KEY (post_id, practice_code)
);
