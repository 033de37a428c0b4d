"""PHS 'GP Practice Populations': registered list by practice x sex (Male/Female/All) x age band."""

from __future__ import annotations

from datetime import date

import pandas as pd

from gpcluster.sources.age_tables import check_wide
from gpcluster.sources.base import (
    LINE,
    Column,
    RawTable,
    Reading,
    Source,
    codes,
    duplicates,
    practice_codes,
    reading,
    release_date_of,
    sexes,
    usable,
)

AGE_BANDS = {  # file column -> warehouse age_band
    "AllAges": "All", "Ages0to4": "0-4", "Ages5to14": "5-14", "Ages15to24": "15-24", "Ages25to44": "25-44",
    "Ages45to64": "45-64", "Ages65to74": "65-74", "Ages75to84": "75-84", "Ages85plus": "85+",
}

COLUMNS = (
    Column("Date", ()),
    Column("PracticeCode", ("GPPracticeCode", "Practice")),
    Column("HB", ("HB2019", "HB2018", "HB2014", "HealthBoard"), required=False),
    Column("HSCP", ("HSCP2019", "HSCP2018", "HSCP2016"), required=False),
    Column("Sex", ()),
    *(Column(c, (c.replace("Ages", "Age"),)) for c in AGE_BANDS),
)


def parse(raw: RawTable, release: date | None) -> Reading:
    if not usable(raw):
        return reading(SOURCE, raw, pd.DataFrame())
    f = raw.frame
    release = release_date_of(raw, release)
    base = pd.DataFrame({
        "release_date": release,
        "practice_code": practice_codes(raw),
        "board_code": codes(raw, "HB", "board") if "HB" in f else None,
        "hscp_code": codes(raw, "HSCP", "hscp") if "HSCP" in f else None,
        "sex": sexes(raw),
        LINE: f[LINE],
    })
    duplicates(raw, base, ["practice_code", "sex"], "practice and sex")
    wide, unpivot = check_wide(raw, base, AGE_BANDS, ["practice_code"], "age_band")
    return reading(SOURCE, raw, wide, release, unpivot)


SOURCE = Source(
    file_names=r"listsize|practicepopulation",
    name="gp_practice_populations",
    title="GP Practice Populations",
    publisher="Public Health Scotland",
    columns=COLUMNS,
    parse=parse,
    dataset_id="e3300e98-cdd2-4f4e-a24e-06ee14fcc66c",
    resource_ids={
        "2025-07": "9cb891c1-e886-4470-b06c-9a8cf6bf4b22",
        "2025-04": "571f5b52-7cae-4ca9-9867-72dc7e39dbad",
        "2025-01": "ce967fa9-0f7f-4389-9f19-4958c45e43c2",
        "2024-10": "cec9341e-ccba-4c71-afe4-a614f5e97b9f",
        "2024-07": "81c6fd6a-6837-4fe2-8f4b-bd42293804df",
        "2024-04": "3306ab5a-cd22-494a-be76-ee6753cef92d",
        "2024-01": "488685e9-95ff-4a48-b085-af50e1dc1863",
        "2023-10": "ab677c28-f495-4191-83e1-aaa0c3e6a9b4",
    },
    all_resources=True,
    target="list_population",
)
