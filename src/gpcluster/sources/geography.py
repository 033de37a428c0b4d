"""PHS 'Geography Codes and Labels': health boards, HSCPs and 2011 data zones (three sources, one dataset).

Archived boards/HSCPs (a non-blank DateArchived) are not current organisations and are not loaded."""

from __future__ import annotations

from datetime import date

import pandas as pd

from gpcluster.sources.base import LINE, Column, RawTable, Reading, Source, codes, duplicates, reading, usable

DATASET = "9f942fdb-e59e-44f5-b534-d6e17229cc7b"


def _current(raw: RawTable, column: str) -> pd.Series:
    if column not in raw.frame:
        return pd.Series(True, index=raw.frame.index)
    return raw.frame[column].fillna("").str.strip() == ""


def _parse_boards(raw: RawTable, release: date | None) -> Reading:
    if not usable(raw):
        return reading(BOARDS, raw, pd.DataFrame())
    out = pd.DataFrame({"board_code": codes(raw, "HB", "board"),
                        "board_name": raw.frame["HBName"].str.strip(), LINE: raw.frame[LINE]})
    out = out[_current(raw, "HBDateArchived")]
    duplicates(raw, out, ["board_code"], "board")
    return reading(BOARDS, raw, out)


def _parse_hscps(raw: RawTable, release: date | None) -> Reading:
    if not usable(raw):
        return reading(HSCPS, raw, pd.DataFrame())
    f = raw.frame
    out = pd.DataFrame({"hscp_code": codes(raw, "HSCP", "hscp"), "hscp_name": f["HSCPName"].str.strip(),
                        "board_code": codes(raw, "HB", "board") if "HB" in f else None, LINE: f[LINE]})
    out = out[_current(raw, "HSCPDateArchived")]
    duplicates(raw, out, ["hscp_code"], "HSCP")
    return reading(HSCPS, raw, out)


def _parse_data_zones(raw: RawTable, release: date | None) -> Reading:
    if not usable(raw):
        return reading(DATA_ZONES, raw, pd.DataFrame())
    f = raw.frame
    out = pd.DataFrame({
        "data_zone": codes(raw, "DataZone", "data_zone"),
        "intermediate_zone": codes(raw, "IntZone", "intermediate_zone"),
        "council_code": codes(raw, "CA", "council"),
        "hscp_code": codes(raw, "HSCP", "hscp") if "HSCP" in f else None,
        "board_code": codes(raw, "HB", "board") if "HB" in f else None,
        LINE: f[LINE],
    })
    duplicates(raw, out, ["data_zone"], "data zone")
    return reading(DATA_ZONES, raw, out)


BOARDS = Source(
    file_names=r"^hb\d\dhb\d\d",
    name="geography_boards", title="Health Board 2014 - Health Board 2019 codes and labels",
    publisher="Public Health Scotland",
    columns=(Column("HB", ("HB2019", "HB2014")), Column("HBName", ("HealthBoardName",)),
             Column("HBDateEnacted", ()), Column("HBDateArchived", (), required=False)),
    parse=_parse_boards, dataset_id=DATASET,
    resource_ids={"hb14_hb19": "652ff726-e676-4a20-abda-435b98dd7bdc"}, target="board",
)
HSCPS = Source(
    file_names=r"^hscp\d\d",
    name="geography_hscps", title="HSCP 2016 - HSCP 2019 codes and labels",
    publisher="Public Health Scotland",
    columns=(Column("HSCP", ("HSCP2019", "HSCP2016")), Column("HSCPName", ()),
             Column("HSCPDateEnacted", ()), Column("HSCPDateArchived", (), required=False),
             Column("HB", ("HB2019",), required=False)),
    parse=_parse_hscps, dataset_id=DATASET,
    resource_ids={"hscp16_hscp19": "944765d7-d0d9-46a0-b377-abb3de51d08e"}, target="hscp",
)
DATA_ZONES = Source(
    name="geography_data_zones", title="Data Zone 2011 codes and labels",
    publisher="Public Health Scotland",
    columns=(Column("DataZone", ("DataZone2011", "dz11_code")),
             Column("IntZone", ("IntZone2011", "iz11_code")),
             Column("CA", ("CA2019", "CA2011", "ltla20_code")),
             Column("HSCP", ("HSCP2019",), required=False), Column("HB", ("HB2019",), required=False)),
    parse=_parse_data_zones, dataset_id=DATASET,
    resource_ids={"dz2011": "395476ab-0720-4740-be07-ff4467141352"}, target="data_zone",
)
