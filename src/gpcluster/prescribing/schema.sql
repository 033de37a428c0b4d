-- Prescribing: PHS "Prescriptions in the Community" (pitcYYYYMM.csv), loaded one month per transaction by
-- gpcluster.prescribing.ingest. Months are first days of the month (PaidDateMonth). Costs are gross
-- ingredient cost in pounds. Executed by gpcluster.warehouse.connection.ensure_schema.

-- GP practice prescribing: one row per month x practice x BNF presentation (rows of the file that share
-- these, e.g. different classes of preparation, are summed). Written in BNF-code order so that a measure
-- reading a few BNF sections skips most of the table (DuckDB zone maps).
CREATE TABLE IF NOT EXISTS prescribing (
    month         DATE NOT NULL,
    practice_code VARCHAR NOT NULL,         -- 5-digit text, as elsewhere in the warehouse
    bnf_code      VARCHAR NOT NULL,
    items         INTEGER NOT NULL,         -- NumberOfPaidItems
    quantity      DOUBLE,                   -- PaidQuantity (NULL when the file has no quantity)
    cost          DOUBLE                    -- GrossIngredientCost (NULL when the file has no cost)
);

-- Per practice and month: totals over every presentation (the denominators of share and cost measures).
CREATE TABLE IF NOT EXISTS prescribing_practice_total (
    month         DATE NOT NULL,
    practice_code VARCHAR NOT NULL,
    items         BIGINT NOT NULL,
    quantity      DOUBLE,
    cost          DOUBLE,
    PRIMARY KEY (month, practice_code)
);

-- Per practice, month, BNF chapter and generic (TRUE) or branded (FALSE) medicine (NULL: appliances, which
-- have no such split): measures over whole chapters (generic prescribing, branded cost) read this instead
-- of every row. Written with the month (gpcluster.prescribing.warehouse.summarise_prescribing).
CREATE TABLE IF NOT EXISTS prescribing_practice_chapter (
    month         DATE NOT NULL,
    practice_code VARCHAR NOT NULL,
    chapter       VARCHAR NOT NULL,
    is_generic    BOOLEAN,
    items         BIGINT NOT NULL,
    quantity      DOUBLE,
    cost          DOUBLE
);

-- Prescribing not attributable to a GP practice, kept apart and counted: PHS aggregates it by board
-- under dummy codes (99996 community pharmacy, 99997 unallocated, 99998 hospital, 99999 dental), plus
-- rows whose prescriber code is blank or not a practice code, and (named layout) unmatched names.
CREATE TABLE IF NOT EXISTS prescribing_other (
    month           DATE NOT NULL,
    board_code      VARCHAR,
    prescriber_code VARCHAR,                -- as in the file (or the practice name, named layout)
    prescriber_type VARCHAR NOT NULL,       -- community_pharmacy | unallocated | hospital | dental | unrecognised_code | unmatched_name
    bnf_code        VARCHAR NOT NULL,
    items           INTEGER NOT NULL,
    quantity        DOUBLE,
    cost            DOUBLE
);

-- Every BNF presentation seen, with its latest description.
CREATE TABLE IF NOT EXISTS bnf_presentation (
    bnf_code    VARCHAR PRIMARY KEY,
    description VARCHAR,
    first_month DATE NOT NULL,
    last_month  DATE NOT NULL
);

-- One row per loaded month: what the file held (the monthly ledger; load_ledger has the file too).
CREATE TABLE IF NOT EXISTS prescribing_month (
    month           DATE PRIMARY KEY,
    file_name       VARCHAR NOT NULL,
    sha256          VARCHAR NOT NULL,
    layout          VARCHAR NOT NULL,       -- codes (PHS layout) | names (practice names, matched to codes)
    source_rows     BIGINT NOT NULL,
    practice_rows   BIGINT NOT NULL,
    other_rows      BIGINT NOT NULL,
    unknown_practice_rows BIGINT NOT NULL,  -- practice codes not in practice_release (kept, counted)
    items           DOUBLE NOT NULL,
    cost            DOUBLE,
    synthetic       BOOLEAN NOT NULL,
    loaded_at       TIMESTAMP NOT NULL DEFAULT current_timestamp
);

-- The BNF hierarchy of every presentation, from its code; names of chapters, sections and selected
-- paragraphs come from gpcluster/prescribing/bnf_names.csv (table bnf_name), chemical and product names
-- from the item descriptions (the part before '_').
CREATE TABLE IF NOT EXISTS bnf_name (
    code VARCHAR PRIMARY KEY,
    name VARCHAR NOT NULL
);

CREATE OR REPLACE VIEW bnf_hierarchy AS
WITH coded AS (
    SELECT bnf_code, description,
           left(bnf_code, 2) AS chapter,
           CASE WHEN length(bnf_code) >= 4 THEN left(bnf_code, 4) END AS section,
           CASE WHEN length(bnf_code) >= 6 THEN left(bnf_code, 6) END AS paragraph,
           (length(bnf_code) = 15 AND left(bnf_code, 2) < '20') AS is_drug,
           split_part(coalesce(description, ''), '_', 1) AS lead_name
    FROM bnf_presentation
)
SELECT c.bnf_code, c.description, c.chapter, ch.name AS chapter_name, c.section, se.name AS section_name,
       c.paragraph, pa.name AS paragraph_name,
       CASE WHEN c.is_drug THEN left(c.bnf_code, 9) END AS chemical,
       CASE WHEN c.is_drug THEN left(c.bnf_code, 11) END AS product,
       c.lead_name AS product_name,
       CASE WHEN c.is_drug THEN substr(c.bnf_code, 10, 2) = 'AA' END AS is_generic,
       CASE WHEN c.is_drug THEN left(c.bnf_code, 9) || 'AA' || right(c.bnf_code, 2) || right(c.bnf_code, 2) END
           AS generic_equivalent
FROM coded c
LEFT JOIN bnf_name ch ON ch.code = c.chapter
LEFT JOIN bnf_name se ON se.code = c.section
LEFT JOIN bnf_name pa ON pa.code = c.paragraph;

-- Chemical names from the data: the most common lead name of the chemical's generic presentations
-- (else of any of its presentations).
CREATE OR REPLACE VIEW bnf_chemical AS
SELECT chemical, arg_max(product_name, weight) AS chemical_name
FROM (
    SELECT chemical, product_name, count(*) + CASE WHEN bool_or(is_generic) THEN 1000000 ELSE 0 END AS weight
    FROM bnf_hierarchy WHERE chemical IS NOT NULL AND product_name <> ''
    GROUP BY chemical, product_name
)
GROUP BY chemical;
