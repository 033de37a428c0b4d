"""GP headcount by practice, designation and sex, aggregated from PHS 'General Practitioner Contact
Details' so no doctor is named. Its HSCP codes may be an older set: practices are joined on practice code."""

from __future__ import annotations

import re
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
    practice_codes,
    reading,
    release_date_of,
    sexes,
    to_int,
    usable,
)

# PERFORMER, SALARIED, REGISTRAR, RETAINEE, and combinations such as 'PERFORMER SALARIED'.
DESIGNATION = re.compile(r"^[A-Z]+( [A-Z]+)*$")


def parse(raw: RawTable, release: date | None) -> Reading:
    if not usable(raw):
        return reading(SOURCE, raw, pd.DataFrame())
    f = raw.frame
    release = release_date_of(raw, release)
    designation = f["GPDesignation"].fillna("").str.strip().str.upper()
    bad = ~designation.str.match(DESIGNATION.pattern)
    for line, value in zip(f.loc[bad, LINE].head(20), designation[bad].head(20), strict=False):
        raw.problem("bad_value", f"designation must be words such as PERFORMER or SALARIED, got {value!r}",
                    row=int(line), column="GPDesignation")
    out = pd.DataFrame({
        "snapshot_date": release,
        "practice_code": practice_codes(raw),
        "board_code": codes(raw, "HB", "board") if "HB" in f else None,
        "designation": designation,
        "sex": sexes(raw, also=("Unknown",)),
        "headcount": to_int(raw, "Headcount"),
        LINE: f[LINE],
    })
    if "HSCP" in f:
        codes(raw, "HSCP", "hscp")  # format only: the 2020 files use an older HSCP code set
    duplicates(raw, out, ["practice_code", "designation", "sex"], "practice, designation and sex")
    return reading(SOURCE, raw, out, release)


SOURCE = Source(
    file_names=r"headcount",
    name="gp_headcount", title="GP headcount by practice (from General Practitioner Contact Details)",
    publisher="Public Health Scotland",
    columns=(Column("PracticeCode", ("GPPracticeCode",)), Column("HB", ("HB2019",), required=False),
             Column("HSCP", ("HSCP2019", "HSCP2016"), required=False), Column("GPDesignation", ("Designation",)),
             Column("Sex", ("Gender",)), Column("Headcount", ()), Column("Date", (), required=False)),
    parse=parse, target="gp_headcount",
)
