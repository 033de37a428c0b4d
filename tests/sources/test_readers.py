"""Readers of the PHS formats: column-name variants, BOM and CKAN `_id`, suppressed cells, checks."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from gpcluster.sources import SOURCES, detect_source, header_of, read_file
from gpcluster.sources.base import date_from_filename

POPS = ("Date,PracticeCode,HB,HSCP,Sex,SexQF,AllAges,AllAgesQF,Ages0to4,Ages0To4QF,Ages5to14,Ages5To14QF,"
        "Ages15to24,Ages15To24QF,Ages25to44,Ages25To44QF,Ages45to64,Ages45To64QF,Ages65to74,Ages65To74QF,"
        "Ages75to84,Ages75To84QF,Ages85plus,Ages85PlusQF")


def write(tmp_path: Path, name: str, text: str, bom: bool = False) -> Path:
    path = tmp_path / name
    path.write_bytes((b"\xef\xbb\xbf" if bom else b"") + text.encode("utf-8"))
    return path


def test_population_variants_bom_and_ckan_id(tmp_path):
    header = "_id," + POPS.replace("HB,HSCP", "HB2019,HSCP2019").replace("Ages85plus", "Ages85Plus")
    rows = ["1,20240401,1002,S08000030,S37000007,Male,,10,,1,,1,,1,,2,,2,,1,,1,,1,",
            "2,20240401,1002,S08000030,S37000007,Female,,12,,2,,1,,1,,2,,2,,2,,1,,1,",
            "3,20240401,1002,S08000030,S37000007,All,d,22,,3,,2,,2,,4,,4,,3,,2,,2,"]
    reading = read_file(write(tmp_path, "pops.csv", "\n".join([header, *rows]) + "\n", bom=True))
    assert reading.source == "gp_practice_populations" and reading.problems == []
    assert reading.release_date == date(2024, 4, 1)
    frame = reading.tidy().set_index(["sex", "age_band"])
    assert set(reading.tidy()["practice_code"]) == {"01002"}  # integer code in the file, 5-digit text here
    assert frame.loc[("All", "All"), "population"] == 22
    assert frame.loc[("Female", "0-4"), "population"] == 2
    assert frame.loc[("Male", "85+"), "population"] == 1
    assert frame.loc[("All", "25-44"), "_line"] == 4
    assert len(reading.tidy()) == 27


def test_suppressed_cells_are_accepted_and_left_out(tmp_path):
    rows = ["20240401,25826,S08000019,S37000005,Male,,,c" + ",,c" * 8,
            "20240401,25826,S08000019,S37000005,Female,,,c" + ",,c" * 8,
            "20240401,25826,S08000019,S37000005,All,d,32," + ",,c" * 8]
    reading = read_file(write(tmp_path, "pops.csv", "\n".join([POPS, *rows]) + "\n"))
    assert reading.problems == []
    assert reading.tidy()[["sex", "age_band", "population"]].values.tolist() == [["All", "All", 32]]


def test_blank_value_without_suppression_flag_is_a_problem(tmp_path):
    rows = ["20240401,25826,S08000019,S37000005,All,d,32," + ",," * 8]
    reading = read_file(write(tmp_path, "pops.csv", "\n".join([POPS, *rows]) + "\n"))
    assert any(p.kind == "not_integer" and p.row == 2 and p.column == "Ages0to4" for p in reading.problems)


def test_age_bands_must_sum_to_all_ages(tmp_path):
    rows = ["20240401,10002,S08000030,S37000007,All,d,23,,3,,2,,2,,4,,4,,3,,2,,2,"]
    reading = read_file(write(tmp_path, "pops.csv", "\n".join([POPS, *rows]) + "\n"))
    assert [(p.kind, p.row, p.column) for p in reading.problems] == [("sum_mismatch", 2, "AllAges")]
    assert "sum to 22 but AllAges is 23" in reading.problems[0].message


def test_urban_rural_eight_fold_gives_six_and_two_fold(tmp_path):
    text = "DataZone,UrbanRural8fold2020,UrbanRural8fold2020QF\n" + "\n".join(
        f"S0100{7000 + k},{k}," for k in range(1, 9)) + "\n"
    reading = read_file(write(tmp_path, "ur.csv", text))
    assert reading.source == "urban_rural" and reading.problems == []
    got = reading.tidy()[["urban_rural_8", "urban_rural_6", "urban_rural_2"]].values.tolist()
    # Scottish Government: 6-fold merges 4+5 and 7+8; rural (2) = accessible and remote rural.
    assert got == [[1, 1, 1], [2, 2, 1], [3, 3, 1], [4, 4, 1], [5, 4, 1], [6, 5, 2], [7, 6, 2], [8, 6, 2]]


def test_urban_rural_six_fold_only_layout(tmp_path):
    text = "dz11_code,ruc16_code,ruc,classification\nS01006517,1,Urban,Large urban areas\nS01006600,6,Rural,x\n"
    reading = read_file(write(tmp_path, "ruc16_dz11.csv", text))
    assert reading.tidy()[["data_zone", "urban_rural_6", "urban_rural_2"]].values.tolist() == [
        ["S01006517", 1, 1], ["S01006600", 6, 2]]
    assert reading.tidy()["urban_rural_8"].isna().all()


def test_data_zone_population_layouts_agree(tmp_path):
    ages = list(range(91))
    phs_header = "Year,DataZone,Sex,AllAges," + ",".join(f"Age{a}" for a in range(90)) + ",Age90plus"
    nrs_header = "dz11_code,total_population,sex," + ",".join(str(a) for a in range(90)) + ",90+"
    values = {"Male": [1] * 91, "Female": [2] * 91, "All": [3] * 91}
    phs = [phs_header] + [f"2020,S01006506,{s},{sum(v)}," + ",".join(map(str, v)) for s, v in values.items()]
    nrs = [nrs_header] + [f"S01006506,{sum(v)},{s}," + ",".join(map(str, v)) for s, v in values.items()]
    a = read_file(write(tmp_path, "dz_pops.csv", "\n".join(phs) + "\n"))
    b = read_file(write(tmp_path, "population20_dz11.csv", "\n".join(nrs) + "\n"))
    assert a.source == b.source == "data_zone_populations" and a.problems == b.problems == []
    columns = ["year", "data_zone", "sex", "age", "population"]
    assert a.tidy()[columns].values.tolist() == b.tidy()[columns].values.tolist()
    assert sorted(set(a.tidy()["age"])) == ages and set(a.tidy()["year"]) == {2020}


def test_contact_details_codes_are_checked(tmp_path):
    text = ("PracticeCode,GPPracticeName,PracticeListSize,HB,HSCP,DataZone,GPCluster\n"
            "10002,A,100,S08000030,S37000007,S01007129,Dundee 4\n"
            "123456,B,100,S8000030,S37000007,X,Dundee 4\n")
    reading = read_file(write(tmp_path, "contacts_apr2024.csv", text))
    assert sorted((p.row, p.column) for p in reading.problems) == [(3, "DataZone"), (3, "HB"), (3, "PracticeCode")]


def test_tab_separated_and_quoted_newlines(tmp_path):
    text = ('PracticeCode,GPPracticeName,PracticeListSize,HB,HSCP,GPCluster\n'
            '10002,"Two\nLines",100,S08000030,S37000007,Dundee 4\n10017,B,x,S08000030,S37000007,Dundee 4\n')
    reading = read_file(write(tmp_path, "contacts_apr2024.csv", text))
    assert [(p.row, p.column) for p in reading.problems] == [(4, "PracticeListSize")]
    tsv = text.replace(",", "\t").replace('"Two\nLines"', "Two")
    assert read_file(write(tmp_path, "contacts_apr2024.tsv", tsv)).problems[0].row == 3


@pytest.mark.parametrize(("name", "expected"), [
    ("practice_contactdetails_apr2024-open-data.csv", date(2024, 4, 1)),
    ("practice_contactdetails_july2025-open-data.csv", date(2025, 7, 1)),
    ("contacts_2024-10-01.csv", date(2024, 10, 1)),
    ("contacts_20250101.csv", date(2025, 1, 1)),
    ("contacts_2025-04.csv", date(2025, 4, 1)),
    ("gp_contact_details_headcount_by_practice_2020.csv", None),
])
def test_release_date_from_file_name(name, expected):
    assert date_from_filename(Path(name)) == expected


def test_detection_needs_a_clear_match():
    assert detect_source(["PracticeCode", "GPPracticeName"]) is None
    assert detect_source(["Date", "PracticeCode", "Measure", "Value"]).name == "practice_activity"
    assert header_of(b"\xef\xbb\xbf_id,HB,HBName\r\n1,2,3") == ["_id", "HB", "HBName"]


def test_registry_has_every_named_source():
    assert set(SOURCES) == {
        "gp_practice_contact_details", "gp_practice_populations", "simd", "urban_rural", "geography_boards",
        "geography_hscps", "geography_data_zones", "data_zone_populations", "board_populations", "gp_headcount",
        "practice_activity", "reference_rates", "prescriptions"}
    for source in SOURCES.values():
        assert source.target and source.publisher and any(c.required for c in source.columns)


@pytest.mark.realdata
@pytest.mark.parametrize(("relative", "source"), [
    ("phs_gp_practices/practice_contactdetails_apr2024-open-data.csv", "gp_practice_contact_details"),
    ("phs_gp_practices/practice_listsizes_oct2023-open-data.csv", "gp_practice_populations"),
    ("phs_simd/simd2020v2_22062020.csv", "simd"),
    ("humaniverse_scot/ruc16_dz11.csv", "urban_rural"),
    ("phs_geography/hb14_hb19.csv", "geography_boards"),
    ("humaniverse_scot/lookup_dz11_iz11_ltla20.csv", "geography_data_zones"),
    ("humaniverse_scot/population20_dz11.csv", "data_zone_populations"),
    ("phs_populations/HBdemography.csv", "board_populations"),
    ("phs_gp_workforce/gp_contact_details_headcount_by_practice_2020.csv", "gp_headcount"),
    ("phs_geography/scotpho_geo_lookup.csv", None),
    ("humaniverse_scot/imd2020_scotland_dz11.csv", None),
])
def test_real_files_are_recognised(raw_dir, relative, source):
    found = detect_source(header_of((raw_dir / relative).read_bytes()[:65536]))
    assert (found.name if found else None) == source


@pytest.mark.parametrize("text", ["a,b\n1,2,3\n4,5\n", "a,b\n1,2\n4,5,6\n"])
def test_rows_with_extra_fields_are_reported(tmp_path, text):
    from gpcluster.sources.base import Column, read_csv

    raw = read_csv(write(tmp_path, "x.csv", text), (Column("a"),))
    bad_line = 2 if text.startswith("a,b\n1,2,3") else 3
    assert [(p.kind, p.row) for p in raw.problems] == [("malformed_row", bad_line)]


@pytest.mark.parametrize("value", ["inf", "nan", "1.5", "-3", "12a", " "])
def test_list_size_must_be_a_whole_non_negative_number(tmp_path, value):
    text = ("PracticeCode,GPPracticeName,PracticeListSize,HB,HSCP,GPCluster\n"
            f"10002,A,{value},S08000030,S37000007,Dundee 4\n10017,B, 1,234 ,S08000030,S37000007,Dundee 4\n")
    reading = read_file(write(tmp_path, "contacts_apr2024.csv", text.replace(" 1,234 ", '" 1,234 "')))
    assert [(p.row, p.column) for p in reading.problems] == [(2, "PracticeListSize")]
    assert reading.tidy()["list_size"].iloc[1] == 1234


def _pops_row(sex: str, all_ages: int | str, bands: list[int | str]) -> str:
    """A list-size row; a band given as 'c' is blank with PHS's suppression flag."""
    cells = "".join(",,c" if band == "c" else f",{band}," for band in bands)
    return f"20240401,10002,S08000030,S37000007,{sex},,{all_ages},{cells}"


def test_suppressed_cell_is_not_compared_but_other_sex_mismatches_are_reported(tmp_path):
    """A suppressed Male cell skips that age's Male + Female = All check (nothing to compare) and the
    Male row's sum check; a real mismatch in another age of the same practice is still reported."""
    rows = [_pops_row("Male", 10, ["c", 1, 1, 2, 2, 1, 1, 1]),
            _pops_row("Female", 12, [2, 1, 1, 2, 2, 2, 1, 1]),
            _pops_row("All", 22, [3, 2, 2, 4, 4, 3, 3, 1])]  # 75-84: 1 + 1 = 2, not 3; 85+: 1 + 1 = 2, not 1
    reading = read_file(write(tmp_path, "pops.csv", "\n".join([POPS, *rows]) + "\n"))
    assert [(p.kind, p.row, p.column) for p in reading.problems] == [("sex_mismatch", 4, "Ages75to84")]
    assert "Male + Female = 2 but All is 3" in reading.problems[0].message
    kept = reading.tidy().set_index(["sex", "age_band"])["population"]
    assert ("Male", "0-4") not in kept.index and kept[("Female", "0-4")] == 2 and len(kept) == 26


def test_blank_cell_flagged_in_one_row_does_not_excuse_a_blank_in_another(tmp_path):
    rows = [_pops_row("Male", 10, ["c", 1, 1, 2, 2, 1, 1, 1]),
            _pops_row("Female", 12, ["", 1, 1, 2, 2, 2, 1, 1]),  # blank without the flag
            _pops_row("All", 22, [3, 2, 2, 4, 4, 3, 2, 2])]
    reading = read_file(write(tmp_path, "pops.csv", "\n".join([POPS, *rows]) + "\n"))
    assert [(p.kind, p.row, p.column) for p in reading.problems] == [("not_integer", 3, "Ages0to4")]


def test_checks_of_interleaved_wide_rows_name_each_practice_own_row(tmp_path):
    """Rows in no particular order (All before Male, practices interleaved): each problem names the row of
    its own practice, and a practice with only an All row is reported at that row."""
    rows = [_pops_row("All", 22, [3, 2, 2, 4, 4, 3, 2, 2]).replace("10002", "10003"),    # line 2: 10003 All
            _pops_row("Male", 10, [1, 1, 1, 2, 2, 1, 1, 1]),                            # line 3: 10002 Male
            _pops_row("Female", 12, [2, 1, 1, 2, 2, 2, 1, 1]).replace("10002", "10003"),  # line 4
            _pops_row("All", 22, [3, 2, 2, 4, 4, 3, 2, 2]).replace("10002", "10004"),    # line 5: no M/F
            _pops_row("All", 23, [3, 2, 2, 4, 4, 3, 2, 3]),                              # line 6: 10002 All
            _pops_row("Male", 10, [1, 1, 1, 2, 2, 1, 1, 1]).replace("10002", "10003"),   # line 7
            _pops_row("Female", 12, [2, 1, 1, 2, 2, 2, 1, 1])]                           # line 8
    reading = read_file(write(tmp_path, "pops.csv", "\n".join([POPS, *rows]) + "\n"))
    found = [(p.kind, p.row, p.column) for p in reading.problems]
    assert found == [("missing_row", 5, None), ("sex_mismatch", 6, "AllAges")]
    assert "for 10004 " in reading.problems[0].message
    assert "Male + Female = 22 but All is 23" in reading.problems[1].message


@pytest.mark.parametrize(("cell", "kind"), [("0x10", "not_integer"), ("-3", "out_of_range"), ("1.5", "not_integer")])
def test_wide_cells_other_than_plain_digits_are_read_as_before(tmp_path, cell, kind):
    """A cell Arrow's integer cast would take, or that is not plain digits, is a problem at its own row and
    column (each alone in its file, so no other cell sends the file to the column-by-column checks)."""
    rows = [_pops_row("Male", 10, [1, 1, 1, 2, 2, 1, 1, 1]),
            _pops_row("Female", 12, [2, 1, 1, 2, 2, 2, 1, cell]),
            _pops_row("All", 22, [3, 2, 2, 4, 4, 3, 2, 2])]
    reading = read_file(write(tmp_path, "pops.csv", "\n".join([POPS, *rows]) + "\n"))
    assert [(p.kind, p.row, p.column) for p in reading.problems] == [(kind, 3, "Ages85plus")]


def test_wide_cells_that_are_whole_numbers_in_other_spellings_are_read(tmp_path):
    """'2.0' and ' 2' are whole numbers, read as 2."""
    rows = [_pops_row("Male", 10, ["2.0", 1, 1, 2, 2, 1, 0, 1]),
            _pops_row("Female", 12, [" 2", 1, 1, 2, 2, 2, 1, 1]),
            _pops_row("All", 22, [4, 2, 2, 4, 4, 3, 1, 2])]
    reading = read_file(write(tmp_path, "pops.csv", "\n".join([POPS, *rows]) + "\n"))
    assert reading.problems == []
    kept = reading.tidy().set_index(["sex", "age_band"])["population"]
    assert kept[("Male", "0-4")] == kept[("Female", "0-4")] == 2 and len(kept) == 27


@pytest.mark.parametrize("gap", ["\n", "\r\n"])
def test_rows_after_a_blank_line_are_named_by_their_file_line(tmp_path, gap):
    rows = [_pops_row("Male", 10, [1, 1, 1, 2, 2, 1, 1, 1]), _pops_row("Female", 12, [2, 1, 1, 2, 2, 2, 1, 1]),
            "", _pops_row("All", 23, [3, 2, 2, 4, 4, 3, 2, 2])]  # line 5, after the blank line 4
    reading = read_file(write(tmp_path, "pops.csv", gap.join([POPS, *rows]) + gap))
    assert [(p.kind, p.row, p.column) for p in reading.problems] == [
        ("sum_mismatch", 5, "AllAges"), ("sex_mismatch", 5, "AllAges")]


def test_sex_mismatches_of_complete_practices_are_reported_in_file_order(tmp_path):
    """Every practice has its three rows (in no order): each mismatch is named at its own All row, in the
    file's order, not the practice codes' order."""
    rows = [_pops_row("All", 23, [3, 2, 2, 4, 4, 3, 2, 3]).replace("10002", "10003"),    # line 2: 85+ off
            _pops_row("Male", 10, [1, 1, 1, 2, 2, 1, 1, 1]),                            # line 3
            _pops_row("Female", 12, [2, 1, 1, 2, 2, 2, 1, 1]).replace("10002", "10003"),  # line 4
            _pops_row("All", 23, [4, 2, 2, 4, 4, 3, 2, 2]),                              # line 5: 0-4 off
            _pops_row("Male", 10, [1, 1, 1, 2, 2, 1, 1, 1]).replace("10002", "10003"),   # line 6
            _pops_row("Female", 12, [2, 1, 1, 2, 2, 2, 1, 1])]                           # line 7
    reading = read_file(write(tmp_path, "pops.csv", "\n".join([POPS, *rows]) + "\n"))
    assert [(p.kind, p.row, p.column) for p in reading.problems] == [
        ("sex_mismatch", 2, "AllAges"), ("sex_mismatch", 5, "AllAges")]
    assert "Male + Female = 22 but All is 23" in reading.problems[1].message


@pytest.mark.parametrize(("value", "kind"), [("99999999999999999999999", "out_of_range"), ("0x10", "not_integer"),
                                             ("+5", None), ("3000000000", "out_of_range")])
def test_list_size_beyond_an_integer_or_in_other_spellings_is_read_as_before(tmp_path, value, kind):
    """A column of plain digits is cast in one step; a number too large for it, or any other spelling, is
    still checked cell by cell ('+5' is 5; '0x10' is not a number)."""
    text = ("PracticeCode,GPPracticeName,PracticeListSize,HB,HSCP,GPCluster\n"
            f"10002,A,{value},S08000030,S37000007,Dundee 4\n10017,B,7,S08000030,S37000007,Dundee 4\n")
    reading = read_file(write(tmp_path, "contacts_apr2024.csv", text))
    assert [(p.kind, p.row, p.column) for p in reading.problems] == ([(kind, 2, "PracticeListSize")] if kind else [])
    assert reading.tidy()["list_size"].fillna(-1).tolist() == [5 if kind is None else -1, 7]


def test_codes_are_checked_as_python_reads_them(tmp_path):
    """A code in Unicode digits is a code to Python's re (as before) though not to Arrow's RE2; a blank or
    malformed code is a problem at its row; lower-case codes are upper-cased."""
    text = ("PracticeCode,GPPracticeName,PracticeListSize,HB,HSCP,DataZone,GPCluster\n"
            "10002,A,100,s08000030,S37000007,S01\u0660\u0660\u0660\u0660\u0660\u0661,Dundee 4\n"
            "10017,B,100,S08000030,S37000007,S0100000x,Dundee 4\n"
            "10020,C,100,S08000030,,S01007129,Dundee 4\n")
    reading = read_file(write(tmp_path, "contacts_apr2024.csv", text))
    assert [(p.row, p.column) for p in reading.problems] == [(4, "HSCP"), (3, "DataZone")]
    assert reading.frame["board_code"].tolist()[0] == "S08000030"
    fixed = text.replace("S0100000x", "S01007130").replace(",,S01007129", ",S37000007,S01007129")
    clean = read_file(write(tmp_path, "contacts_apr2024.csv", fixed))
    assert clean.problems == [] and clean.frame["data_zone"].tolist()[2] == "S01007129"


def test_blank_and_repeated_column_names_are_read_as_pandas_names_them(tmp_path):
    """A blank header name is pandas' 'Unnamed: <i>' and a repeated one its '<name>.1', whichever reader
    took the file; the recognised columns are read as usual."""
    from gpcluster.sources.base import Column, read_csv

    blank = read_csv(write(tmp_path, "x.csv", "a,,b\n1,2,3\n"), (Column("a"), Column("b")))
    assert blank.problems == [] and blank.frame.columns.tolist() == ["_line", "a", "b", "Unnamed: 1"]
    assert blank.frame.iloc[0].tolist() == [2, "1", "3", "2"]
    repeated = read_csv(write(tmp_path, "y.csv", "a,b,b\n1,3,4\n"), (Column("a"), Column("b")))
    assert repeated.problems == [] and repeated.frame.columns.tolist() == ["_line", "a", "b", "b.1"]
    assert repeated.frame.iloc[0].tolist() == [2, "1", "3", "4"]
