"""The synthetic files have exactly the real PHS column layouts (hard-coded here, and checked against the
real files' headers when ../shared is present)."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest


def _header(text: str) -> list[str]:
    """A header line pasted from the real file, as a list of column names."""
    return text.split(",")


BANDS = ["0to4", "5to14", "15to24", "25to44", "45to64", "65to74", "75to84", "85plus"]
BAND_QF = ["0To4", "5To14", "15To24", "25To44", "45To64", "65To74", "75To84", "85Plus"]
EXPECTED = {
    "geography_boards": _header("HB,HBName,HBDateEnacted,HBDateArchived,Country"),
    "geography_hscps": _header("HSCP,HSCPName,HSCPDateEnacted,HSCPDateArchived,Country"),
    "simd": _header("DataZone,IntZone,HB,HSCP,CA,SIMD2020V2Rank,SIMD2020V2CountryDecile,SIMD2020V2CountryQuintile,"
                    "SIMD2020V2HBDecile,SIMD2020V2HBQuintile,SIMD2020V2HSCPDecile,SIMD2020V2HSCPQuintile,"
                    "SIMD2020V2CADecile,SIMD2020V2CAQuintile,SIMD2020V2Most15pc,SIMD2020V2Least15pc"),
    "urban_rural": _header("DataZone,UrbanRural2fold2020,UrbanRural2fold2020QF,UrbanRural3fold2020,"
                           "UrbanRural3fold2020QF,UrbanRural6fold2020,UrbanRural6fold2020QF,UrbanRural8fold2020,"
                           "UrbanRural8fold2020QF"),
    "data_zone_populations": ["Year", "DataZone", "DataZoneQF", "Sex", "SexQF", "AllAges",
                              *[f"Age{a}" for a in range(90)], "Age90plus"],
    "gp_practice_contact_details": _header("PracticeCode,GPPracticeName,PracticeListSize,AddressLine1,"
                                           "AddressLine2,AddressLine3,AddressLine4,Postcode,TelephoneNumber,"
                                           "PracticeType,Dispensing,HB,HSCP,DataZone,GPCluster"),
    "gp_practice_populations": ["Date", "PracticeCode", "HB", "HSCP", "Sex", "SexQF", "AllAges", "AllAgesQF",
                                *[c for b, q in zip(BANDS, BAND_QF, strict=True) for c in (f"Ages{b}", f"Ages{q}QF")]],
    "gp_headcount": _header("PracticeCode,HB,HSCP,GPDesignation,Sex,Headcount"),
    "practice_activity": _header("Date,PracticeCode,Measure,Value"),
    "reference_rates": _header("Date,Measure,Sex,AgeBand,Rate"),
}
REAL = {
    "geography_boards": "phs_geography/hb14_hb19.csv",
    "simd": "phs_simd/simd2020v2_22062020.csv",
    "gp_practice_contact_details": "phs_gp_practices/practice_contactdetails_apr2024-open-data.csv",
    "gp_practice_populations": "phs_gp_practices/practice_listsizes_apr2024-open-data.csv",
    "gp_headcount": "phs_gp_workforce/gp_contact_details_headcount_by_practice_2020.csv",
}


def header(path: Path) -> list[str]:
    with path.open(encoding="utf-8-sig", newline="") as f:
        return next(csv.reader(f))


def test_every_source_is_written_with_its_expected_header(written):
    sources = {s for s, _ in written}
    assert sources == set(EXPECTED)
    for source, path in written:
        assert header(path) == EXPECTED[source], path.name


@pytest.mark.realdata
@pytest.mark.parametrize("source", sorted(REAL))
def test_headers_match_the_real_phs_files(raw_dir, written, source):
    real = header(raw_dir / REAL[source])
    for s, path in written:
        if s == source:
            assert header(path) == real, path.name


def test_load_order_and_release_file_names(written):
    names = [p.name for _, p in written]
    sources = [s for s, _ in written]
    assert sources[:5] == ["geography_boards", "geography_hscps", "simd", "urban_rural", "data_zone_populations"]
    assert sources[-3:] == ["gp_headcount", "practice_activity", "reference_rates"]
    assert names[5] == "practice_contactdetails_apr2016-open-data.csv"
    assert names[6] == "practice_listsizes_apr2016-open-data.csv"
    assert names[-4] == "practice_listsizes_jan2025-open-data.csv"
    assert sum(s == "gp_practice_contact_details" for s in sources) == 36
    assert sum(s == "gp_practice_populations" for s in sources) == 36
    assert all(p.parent == written[0][1].parent for _, p in written)


def test_folder_says_it_is_synthetic(written, synthetic_dir):
    from gpcluster.synthetic import is_synthetic_dir

    readme = (synthetic_dir / "README.txt").read_text(encoding="utf-8")
    assert "SYNTHETIC" in readme and "seed 20180401" in readme and "not real" in readme.lower()
    assert is_synthetic_dir(synthetic_dir)
    assert not is_synthetic_dir(synthetic_dir / "nowhere")
