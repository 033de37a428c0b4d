"""gpcluster's local-extract format for practice activity counts (the demo's synthetic activity uses it):
CSV columns Date (YYYYMMDD, first day of the quarter), PracticeCode, Measure, Value."""

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
    duplicates,
    practice_codes,
    reading,
    to_float,
    usable,
    yyyymmdd,
)

MEASURE = re.compile(r"^[a-z][a-z0-9_]*$")


def parse(raw: RawTable, release: date | None) -> Reading:
    if not usable(raw):
        return reading(SOURCE, raw, pd.DataFrame())
    f = raw.frame
    period = yyyymmdd(raw, "Date")
    not_quarter = period.notna() & period.map(lambda d: d is not None and (d.day != 1 or d.month not in (1, 4, 7, 10)))
    for line, value in zip(f.loc[not_quarter, LINE].head(20), period[not_quarter].head(20), strict=False):
        raw.problem("bad_date", f"{value} is not the first day of a quarter", row=int(line), column="Date")
    measure = f["Measure"].fillna("").str.strip()
    bad = ~measure.str.match(MEASURE.pattern)
    for line, value in zip(f.loc[bad, LINE].head(20), measure[bad].head(20), strict=False):
        raw.problem("bad_value", f"measure must be lower_snake_case, got {value!r}", row=int(line), column="Measure")
    out = pd.DataFrame({"period": period, "practice_code": practice_codes(raw), "measure": measure,
                        "value": to_float(raw, "Value"), LINE: f[LINE]})
    duplicates(raw, out, ["period", "practice_code", "measure"], "period, practice and measure")
    return reading(SOURCE, raw, out)


SOURCE = Source(
    file_names=r"activity",
    name="practice_activity", title="Practice activity counts (local extract)", publisher="local",
    columns=(Column("Date", ("Period",)), Column("PracticeCode", ("GPPracticeCode",)), Column("Measure", ()),
             Column("Value", ())),
    parse=parse, target="practice_activity",
)
