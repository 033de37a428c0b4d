"""PHS open data 'Scottish Index of Multiple Deprivation' 2020v2 by data zone (rank 1 = most deprived),
with the data zone's intermediate zone, board, HSCP and council area."""

from __future__ import annotations

from datetime import date

import pandas as pd

from gpcluster.sources.base import (
    LINE,
    Column,
    RawTable,
    Reading,
    Source,
    codes,
    duplicates,
    reading,
    to_int,
    usable,
)

COLUMNS = (
    Column("DataZone", ("DataZone2011", "DZ2011", "dz11_code")),
    Column("IntZone", ("IntZone2011", "IZ2011"), required=False),
    Column("HB", ("HB2019", "HB2018", "HB2014"), required=False),
    Column("HSCP", ("HSCP2019", "HSCP2018", "HSCP2016"), required=False),
    Column("CA", ("CA2019", "CA2018", "CA2011"), required=False),
    Column("Rank", ("SIMD2020V2Rank", "SIMD2020Rank")),
    Column("CountryDecile", ("SIMD2020V2CountryDecile", "SIMD2020CountryDecile")),
    Column("CountryQuintile", ("SIMD2020V2CountryQuintile", "SIMD2020CountryQuintile")),
    Column("HBDecile", ("SIMD2020V2HBDecile",), required=False),
    Column("HBQuintile", ("SIMD2020V2HBQuintile",), required=False),
    Column("HSCPDecile", ("SIMD2020V2HSCPDecile",), required=False),
    Column("HSCPQuintile", ("SIMD2020V2HSCPQuintile",), required=False),
    Column("Most15pc", ("SIMD2020V2Most15pc",), required=False),
    Column("Least15pc", ("SIMD2020V2Least15pc",), required=False),
)
DATA_ZONES = 6976


def parse(raw: RawTable, release: date | None) -> Reading:
    if not usable(raw):
        return reading(SOURCE, raw, pd.DataFrame())
    f = raw.frame

    def optional(column: str, make):
        return make(column) if column in f else pd.Series(pd.NA, index=f.index)

    out = pd.DataFrame({
        "data_zone": codes(raw, "DataZone", "data_zone"),
        "intermediate_zone": optional("IntZone", lambda c: codes(raw, c, "intermediate_zone")),
        "board_code": optional("HB", lambda c: codes(raw, c, "board")),
        "hscp_code": optional("HSCP", lambda c: codes(raw, c, "hscp")),
        "council_code": optional("CA", lambda c: codes(raw, c, "council")),
        "simd_rank": to_int(raw, "Rank", minimum=1, maximum=DATA_ZONES),
        "simd_decile": to_int(raw, "CountryDecile", minimum=1, maximum=10),
        "simd_quintile": to_int(raw, "CountryQuintile", minimum=1, maximum=5),
        "simd_hb_decile": optional("HBDecile", lambda c: to_int(raw, c, minimum=1, maximum=10)),
        "simd_hb_quintile": optional("HBQuintile", lambda c: to_int(raw, c, minimum=1, maximum=5)),
        "simd_hscp_decile": optional("HSCPDecile", lambda c: to_int(raw, c, minimum=1, maximum=10)),
        "simd_hscp_quintile": optional("HSCPQuintile", lambda c: to_int(raw, c, minimum=1, maximum=5)),
        "simd_most15": optional("Most15pc", lambda c: to_int(raw, c, maximum=1).astype("boolean")),
        "simd_least15": optional("Least15pc", lambda c: to_int(raw, c, maximum=1).astype("boolean")),
        LINE: f[LINE],
    })
    duplicates(raw, out, ["data_zone"], "data zone")
    return reading(SOURCE, raw, out)


SOURCE = Source(
    file_names=r"simd",
    name="simd",
    title="Scottish Index of Multiple Deprivation 2020v2 by data zone",
    publisher="Public Health Scotland (from Scottish Government)",
    columns=COLUMNS,
    parse=parse,
    dataset_id="78d41fa9-1a62-4f7b-9edb-3e8522a93378",
    resource_ids={"simd2020v2": "acade396-8430-4b34-895a-b3e757fa346e"},
    target="data_zone",
)
