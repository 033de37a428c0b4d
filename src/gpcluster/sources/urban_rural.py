"""Scottish Government Urban Rural Classification by data zone. Accepts the PHS open-data layout
(UrbanRural8fold2020/6fold/3fold/2fold, or the 2016 columns, QF columns ignored) and the 6-fold-only
`dz11_code, ruc16_code` layout. Missing folds are derived: 8-fold -> 6-fold (4+5 -> 4, 6 -> 5, 7+8 -> 6)
and 6-fold -> 2-fold (1-4 urban = 1, 5-6 rural = 2)."""

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
    Column("UR8", ("UrbanRural8fold2020", "UrbanRural8fold2016", "UR8_2020", "UR8_2016"), required=False),
    Column("UR6", ("UrbanRural6fold2020", "UrbanRural6fold2016", "UR6_2020", "UR6_2016", "ruc16_code",
                   "ruc20_code"), required=False),
    Column("UR2", ("UrbanRural2fold2020", "UrbanRural2fold2016", "UR2_2020", "UR2_2016"), required=False),
    # Detection needs one required fold-specific column; files have at least one of 8- or 6-fold.
    Column("UrbanRuralFold", ("UrbanRural8fold2020", "UrbanRural8fold2016", "UrbanRural6fold2020",
                              "UrbanRural6fold2016", "ruc16_code", "ruc20_code")),
)
EIGHT_TO_SIX = {1: 1, 2: 2, 3: 3, 4: 4, 5: 4, 6: 5, 7: 6, 8: 6}


def parse(raw: RawTable, release: date | None) -> Reading:
    if not usable(raw):
        return reading(SOURCE, raw, pd.DataFrame())
    f = raw.frame
    ur8 = to_int(raw, "UR8", minimum=1, maximum=8) if "UR8" in f else pd.Series(pd.NA, index=f.index,
                                                                                dtype="Int64")
    if "UR6" in f:
        ur6 = to_int(raw, "UR6", minimum=1, maximum=6)
    else:
        ur6 = ur8.map(EIGHT_TO_SIX, na_action="ignore").astype("Int64")
    ur2 = to_int(raw, "UR2", minimum=1, maximum=2) if "UR2" in f else (ur6 >= 5).astype("Int64") + 1
    out = pd.DataFrame({"data_zone": codes(raw, "DataZone", "data_zone"), "urban_rural_8": ur8,
                        "urban_rural_6": ur6, "urban_rural_2": ur2, LINE: f[LINE]})
    duplicates(raw, out, ["data_zone"], "data zone")
    return reading(SOURCE, raw, out)


SOURCE = Source(
    file_names=r"urbanrural|ruc\d",
    name="urban_rural",
    title="Urban Rural Classification by data zone",
    publisher="Scottish Government (via Public Health Scotland open data)",
    columns=COLUMNS,
    parse=parse,
    dataset_id="9f942fdb-e59e-44f5-b534-d6e17229cc7b",
    resource_ids={"urban_rural_2020": "c8bd76cd-6613-4dd7-8a28-6c99a16dc678"},
    target="data_zone",
)
