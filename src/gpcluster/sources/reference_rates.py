"""Scotland's activity rates by sex and age band, per quarter: the reference for indirectly standardising a
practice's activity (its expected count is its own list by sex and age band times these rates).

gpcluster's local-extract format (the demo's synthetic activity comes with one): CSV columns Date
(YYYYMMDD, first day of the quarter), Measure (as in practice activity), Sex (Male/Female), AgeBand (PHS
bands 0-4, 5-14, 15-24, 25-44, 45-64, 65-74, 75-84, 85+) and Rate (events per person in the quarter)."""

from __future__ import annotations

from datetime import date

import pandas as pd

from gpcluster.sources.base import (
    LINE,
    Column,
    RawTable,
    Reading,
    Source,
    duplicates,
    reading,
    sexes,
    to_float,
    usable,
    yyyymmdd,
)
from gpcluster.sources.practice_activity import MEASURE

AGE_BANDS = ("0-4", "5-14", "15-24", "25-44", "45-64", "65-74", "75-84", "85+")


def parse(raw: RawTable, release: date | None) -> Reading:
    if not usable(raw):
        return reading(SOURCE, raw, pd.DataFrame())
    f = raw.frame
    measure = f["Measure"].fillna("").str.strip()
    for line, value in zip(f.loc[~measure.str.match(MEASURE.pattern), LINE].head(20),
                           measure[~measure.str.match(MEASURE.pattern)].head(20), strict=False):
        raw.problem("bad_value", f"measure must be lower_snake_case, got {value!r}", row=int(line), column="Measure")
    band = f["AgeBand"].fillna("").str.strip()
    for line, value in zip(f.loc[~band.isin(AGE_BANDS), LINE].head(20), band[~band.isin(AGE_BANDS)].head(20),
                           strict=False):
        raw.problem("bad_value", f"age band must be one of {', '.join(AGE_BANDS)}, got {value!r}",
                    row=int(line), column="AgeBand")
    sex = sexes(raw)
    for line, value in zip(f.loc[~sex.isin(("Male", "Female")), LINE].head(20),
                           sex[~sex.isin(("Male", "Female"))].head(20), strict=False):
        raw.problem("bad_value", f"sex must be Male or Female, got {value!r}", row=int(line), column="Sex")
    rate = to_float(raw, "Rate")
    for line, value in zip(f.loc[rate < 0, LINE].head(20), rate[rate < 0].head(20), strict=False):
        raw.problem("bad_value", f"a rate cannot be negative, got {value}", row=int(line), column="Rate")
    out = pd.DataFrame({"period": yyyymmdd(raw, "Date"), "measure": measure, "sex": sex, "age_band": band,
                        "rate": rate, LINE: f[LINE]})
    duplicates(raw, out, ["period", "measure", "sex", "age_band"], "period, measure, sex and age band")
    return reading(SOURCE, raw, out)


SOURCE = Source(
    name="reference_rates", title="Scotland's activity rates by sex and age band (local extract)",
    publisher="local",
    columns=(Column("Date", ("Period",)), Column("Measure", ()), Column("Sex", ()), Column("AgeBand", ("AgeGroup",)),
             Column("Rate", ())),
    parse=parse, target="reference_rate",
)
