"""Geography files extend the known codes; data-zone attributes from several sources merge by column."""

from __future__ import annotations

import pytest
from warehouse_builders import Practice, contact_csv

from gpcluster.errors import ValidationFailed
from gpcluster.warehouse import load_paths, open_warehouse


def query(sql):
    con = open_warehouse()
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def test_a_board_from_a_geography_file_becomes_known(tmp_path):
    boards = tmp_path / "hb.csv"
    boards.write_text("HB,HBName,HBDateEnacted,HBDateArchived,Country\n"
                      "S08000099,NHS Atlantis,20300401,,S92000003\n"
                      "S08000018,NHS Fife,20140401,20180201,S92000003\n")
    practice = [Practice(90001, "Atlantis Practice", "Atlantis 1", hb="S08000099")]
    load_paths([boards, contact_csv(tmp_path / "c_apr2031.csv", practice)])
    assert query("SELECT board_name FROM board WHERE board_code IN ('S08000099', 'S08000018')") == [
        ("NHS Atlantis",)]  # archived boards are not loaded


def test_a_new_hscp_needs_its_board(tmp_path):
    hscps = tmp_path / "hscp.csv"
    hscps.write_text("HSCP,HSCPName,HSCPDateEnacted,HSCPDateArchived,Country\n"
                     "S37000007,Dundee City,20190401,,S92000003\nS37000099,Atlantis,20300401,,S92000003\n")
    with pytest.raises(ValidationFailed, match=r"hscp.csv, row 3, column 'HB': new HSCP S37000099 needs its board"):
        load_paths([hscps])


def test_data_zone_columns_merge_across_sources(tmp_path):
    simd = tmp_path / "simd.csv"
    simd.write_text("DataZone,IntZone,HB,HSCP,CA,SIMD2020V2Rank,SIMD2020V2CountryDecile,SIMD2020V2CountryQuintile\n"
                    "S01007129,S02001350,S08000030,S37000007,S12000042,120,1,1\n")
    ur = tmp_path / "ur.csv"
    ur.write_text("DataZone,UrbanRural8fold2020\nS01007129,7\n")
    load_paths([simd])
    load_paths([ur])
    assert query("SELECT simd_rank, simd_quintile, hscp_code, urban_rural_8, urban_rural_6, urban_rural_2 "
                 "FROM data_zone") == [(120, 1, "S37000007", 7, 6, 2)]
