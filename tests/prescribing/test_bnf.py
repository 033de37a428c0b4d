"""BNF codes and selections: the hierarchy read from a code, and one selection rule applied two ways
(SQL for DuckDB, Python for Spark) that must agree."""

from __future__ import annotations

import duckdb
import pytest
from pydantic import ValidationError

from gpcluster.prescribing.bnf import (
    BnfCode,
    Selection,
    code_selection_sql,
    name_from_description,
    prefix_ranges,
    selection_sql,
)

# code -> chapter, section, paragraph, chemical, product, generic?, generic equivalent
SPEC = [
    ("0501013K0AAAJAJ", "05", "0501", "050101", "0501013K0", "0501013K0AA", True, "0501013K0AAAJAJ"),
    ("0208020Z0BBABAB", "02", "0208", "020802", "0208020Z0", "0208020Z0BB", False, "0208020Z0AAABAB"),
    ("0302000C0BQAABX", "03", "0302", "030200", "0302000C0", "0302000C0BQ", False, "0302000C0AABXBX"),
    ("21480000100", "21", "2148", "214800", None, None, None, None),  # an appliance: no chemical
]


@pytest.mark.parametrize(("code", "chapter", "section", "paragraph", "chemical", "product", "generic", "equivalent"),
                         SPEC)
def test_a_code_carries_its_hierarchy(code, chapter, section, paragraph, chemical, product, generic, equivalent):
    parsed = BnfCode.parse(code)
    assert (parsed.chapter, parsed.section, parsed.paragraph, parsed.chemical, parsed.product, parsed.is_generic,
            parsed.generic_equivalent) == (chapter, section, paragraph, chemical, product, generic, equivalent)


def test_names_come_from_the_descriptions():
    assert name_from_description("NAPROXEN_TAB 500MG") == "NAPROXEN"
    assert name_from_description("FREESTYLE LIBRE SENSOR KIT") == "FREESTYLE LIBRE SENSOR KIT"


@pytest.mark.parametrize(("fields", "message"), [
    ({"include": ["05 01"]}, "not BNF code prefixes"),
    ({"include": ["0501", "0501"]}, "listed twice"),
    ({"include": ["0501"], "exclude": ["0403"]}, "outside every include prefix"),
    ({"description_any": [" "]}, "must not be blank"),
])
def test_bad_selections_are_refused(fields, message):
    with pytest.raises(ValidationError, match=message):
        Selection(**fields)


PRESENTATIONS = [
    ("0501013K0AAAJAJ", "CO-AMOXICLAV_TAB 500MG/125MG"), ("0501013B0AAABAB", "AMOXICILLIN_CAP 500MG"),
    ("0501090H0AAAAAA", "ISONIAZID_TAB 100MG"), ("0501021L0BBAAAA", "KEFLEX_CAP 500MG"),
    ("0103050P0AAAEAE", "OMEPRAZOLE_CAP GASTRO-RESISTANT 40MG"), ("0103050P0AAAAAA", "OMEPRAZOLE_CAP 20MG"),
    ("0302000C0BQAABX", "FOSTAIR_INH 100MCG/6MCG (120D) CFF"), ("0302000N0AAAAAA", "SYMBICORT_TURBOHALER 200/6"),
    ("0301011R0AAAAAA", "SALBUTAMOL_INHALER 100MCG (200D) CFF"), ("21480000100", "FREESTYLE LIBRE SENSOR KIT"),
]
SELECTIONS = [
    [Selection(include=["0501"], exclude=["050109"])],
    [Selection(include=["0501013K0", "0501021"])],
    [Selection(include=["0103050P0"], description_any=["40mg"])],
    [Selection(include=["03"], exclude=["0301011R0"], description_any=["CFF"])],
    [Selection(include=["01", "05"], generic=True)],
    [Selection(generic=False)],
    [Selection(description_none=["CFF", "KIT"])],
    [Selection(include=["0103050P0"], description_any=["40MG"]), Selection(include=["0302"])],
    [Selection()],
]
EXPECTED = [  # hand-picked answers for the selections above
    {"0501013K0AAAJAJ", "0501013B0AAABAB", "0501021L0BBAAAA"},
    {"0501013K0AAAJAJ", "0501021L0BBAAAA"},
    {"0103050P0AAAEAE"},
    {"0302000C0BQAABX"},
    {"0501013K0AAAJAJ", "0501013B0AAABAB", "0501090H0AAAAAA", "0103050P0AAAEAE", "0103050P0AAAAAA"},
    {"0501021L0BBAAAA", "0302000C0BQAABX"},
    {c for c, d in PRESENTATIONS if "CFF" not in d and "KIT" not in d},
    {"0103050P0AAAEAE", "0302000C0BQAABX", "0302000N0AAAAAA"},
    {c for c, _ in PRESENTATIONS},
]


@pytest.mark.parametrize("n", range(len(SELECTIONS)))
def test_sql_and_python_select_the_same_presentations(n):
    con = duckdb.connect()
    con.execute("CREATE TABLE b AS SELECT * FROM (VALUES " + ", ".join(["(?, ?)"] * len(PRESENTATIONS))
                + ") t(bnf_code, description)", [v for row in PRESENTATIONS for v in row])
    con.execute("ALTER TABLE b ADD COLUMN is_generic BOOLEAN")
    con.execute("UPDATE b SET is_generic = CASE WHEN length(bnf_code) = 15 THEN substr(bnf_code, 10, 2) = 'AA' END")
    condition, params = selection_sql(SELECTIONS[n], "b")
    in_sql = {c for (c,) in con.execute(f"SELECT bnf_code FROM b WHERE {condition}", params).fetchall()}
    in_python = {c for c, d in PRESENTATIONS if any(s.matches(c, d) for s in SELECTIONS[n])}
    assert in_sql == in_python == EXPECTED[n]
    if all(s.by_code_only for s in SELECTIONS[n]):  # the in-place filter the engine uses on the fact table
        condition, params = code_selection_sql(SELECTIONS[n], "b.bnf_code")
        in_place = {c for (c,) in con.execute(f"SELECT bnf_code FROM b WHERE {condition}", params).fetchall()}
        assert in_place == EXPECTED[n]


def test_prefixes_become_merged_code_ranges():
    assert prefix_ranges(["0501", "050109"]) == [("0501", "0502")]
    assert prefix_ranges(["10", "11", "12"]) == [("10", "13")]
    assert prefix_ranges(["0103050P0", "0103050L0"]) == [("0103050L0", "0103050L1"), ("0103050P0", "0103050P1")]
