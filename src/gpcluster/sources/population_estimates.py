"""Small-area and board population estimates by single year of age (90 = 90 and over) and sex.

`data_zone_populations`: PHS layout (Year, DataZone, Sex, AllAges, Age0..Age90plus) or the NRS-derived
layout (dz11_code, total_population, sex, 0..90+) whose year is only in the file name (population20_...).
`board_populations`: PHS 'Population Estimates' by health board (HBdemography.csv: Year, HB, Sex, ...)."""

from __future__ import annotations

import re
from datetime import date

import pandas as pd

from gpcluster.sources.age_tables import check_wide
from gpcluster.sources.base import (
    CODE_PATTERNS,
    LINE,
    Column,
    RawTable,
    Reading,
    Source,
    codes,
    duplicates,
    reading,
    sexes,
    to_int,
    usable,
)

AGES = {"AllAges": "All", **{f"Age{a}": a for a in range(90)}, "Age90plus": 90}
AGE_COLUMNS = (
    Column("AllAges", ("total_population", "Total")),
    *(Column(f"Age{a}", (str(a),)) for a in range(90)),
    Column("Age90plus", ("90+", "Age90")),
)
SCOTLAND = "S92000003"


def _year(raw: RawTable, release: date | None) -> pd.Series | int | None:
    if "Year" in raw.frame:
        return to_int(raw, "Year", minimum=1900, maximum=2100)
    if release is not None:
        return release.year
    found = re.search(r"(?<!\d)(\d{4})(?!\d)", raw.path.stem) or re.search(r"population(\d{2})(?!\d)", raw.path.stem)
    if found is None:
        raw.problem("no_year", "cannot tell the year: the file has no Year column and its name has no year")
        return None
    year = int(found[1])
    return year if year > 100 else 2000 + year


def _melt(source: Source, raw: RawTable, release: date | None, area: str, area_column: str,
          area_codes: pd.Series) -> Reading:
    base = pd.DataFrame({"year": _year(raw, release), area_column: area_codes, "sex": sexes(raw),
                         LINE: raw.frame[LINE]})
    duplicates(raw, base, ["year", area_column, "sex"], f"{area} and sex")
    wide, unpivot = check_wide(raw, base, AGES, ["year", area_column], "age", keep=range(91))
    return reading(source, raw, wide, unpivot=unpivot)


def _parse_data_zones(raw: RawTable, release: date | None) -> Reading:
    if not usable(raw):
        return reading(DATA_ZONE_POPULATIONS, raw, pd.DataFrame())
    return _melt(DATA_ZONE_POPULATIONS, raw, release, "data zone", "data_zone",
                 codes(raw, "DataZone", "data_zone"))


def _parse_boards(raw: RawTable, release: date | None) -> Reading:
    if not usable(raw):
        return reading(BOARD_POPULATIONS, raw, pd.DataFrame())
    text = raw.frame["HB"].fillna("").str.strip().str.upper()
    ok = text.str.match(CODE_PATTERNS["board"].pattern) | (text == SCOTLAND)
    for line, value in zip(raw.frame.loc[~ok, LINE].head(20), text[~ok].head(20), strict=False):
        raw.problem("bad_code", f"{value!r} is not a board code (S08xxxxxx) or Scotland ({SCOTLAND})",
                    row=int(line), column="HB")
    return _melt(BOARD_POPULATIONS, raw, release, "area", "area_code", text)


DATA_ZONE_POPULATIONS = Source(
    file_names=r"^dz\d\d.*population|population.*dz\d\d",
    name="data_zone_populations", title="Data Zone (2011) population estimates",
    publisher="Public Health Scotland (from National Records of Scotland)",
    columns=(Column("Year", (), required=False), Column("DataZone", ("DataZone2011", "dz11_code")),
             Column("Sex", ()), *AGE_COLUMNS),
    parse=_parse_data_zones, dataset_id="7f010430-6ce1-4813-b25c-f7f335bdc4dc",
    resource_ids={"dz2011_estimates": "c505f490-c201-44bd-abd1-1bd7a64285ee"}, target="data_zone_population",
)
BOARD_POPULATIONS = Source(
    file_names=r"hbdemography",
    name="board_populations", title="Population estimates by health board",
    publisher="Public Health Scotland (from National Records of Scotland)",
    columns=(Column("Year", ()), Column("HB", ("HB2019", "HB2014")), Column("Sex", ()), *AGE_COLUMNS),
    parse=_parse_boards, target="board_population",
)
