"""The prescribing tables of the warehouse (schema.sql) and the packaged BNF names they are named from."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from importlib.resources import files

import duckdb

from gpcluster.prescribing.bnf import FIRST_APPLIANCE_CHAPTER, GENERIC_PRODUCT, reference_names


def ensure_prescribing_schema(con: duckdb.DuckDBPyConnection) -> None:
    """Create the prescribing tables and views if missing, and (re)seed the BNF names."""
    con.execute((files("gpcluster.prescribing") / "schema.sql").read_text(encoding="utf-8"))
    names = reference_names()
    known = con.execute("SELECT count(*) FROM bnf_name").fetchone()[0]
    if known != len(names):
        con.execute("DELETE FROM bnf_name")
        # one statement (executemany runs one per row: most of a new warehouse's schema time)
        con.execute("INSERT INTO bnf_name SELECT unnest(?::VARCHAR[]), unnest(?::VARCHAR[])",
                    [list(names), list(names.values())])
    # warehouses loaded before the chapter summary existed: summarise their months once
    missing = [m for (m,) in con.execute(
        "SELECT month FROM prescribing_month EXCEPT SELECT DISTINCT month FROM prescribing_practice_chapter"
    ).fetchall()]
    if missing:
        summarise_prescribing(con, missing)


def summarise_prescribing(con: duckdb.DuckDBPyConnection, months: list | None = None) -> None:
    """(Re)write prescribing_practice_chapter for these months (default: every month in `prescribing`),
    inside the caller's transaction."""
    where = "WHERE list_contains(?::DATE[], month)" if months is not None else ""
    params = [months] if months is not None else []
    con.execute(f"DELETE FROM prescribing_practice_chapter {where}", params)
    con.execute(f"""
        INSERT INTO prescribing_practice_chapter
        SELECT month, practice_code, left(bnf_code, 2),
               CASE WHEN length(bnf_code) = 15 AND left(bnf_code, 2) < '{FIRST_APPLIANCE_CHAPTER}'
                    THEN substr(bnf_code, 10, 2) = '{GENERIC_PRODUCT}' END,
               sum(items), sum(quantity), sum(cost)
        FROM prescribing {where} GROUP BY ALL""", params)


@dataclass(frozen=True)
class Coverage:
    """Which prescribing months are loaded and which quarters a measure can be computed for: a quarter
    needs all three months and a list-size release on its first day (the measures' denominator)."""

    first: date | None
    last: date | None
    months: int
    quarters: tuple[date, ...]  # first days of the quarters with all three months loaded
    list_dates: tuple[date, ...]  # list-size release dates loaded

    @property
    def computable(self) -> tuple[date, ...]:
        dates = set(self.list_dates)
        return tuple(q for q in self.quarters if q in dates)

    def why_no_values(self) -> str:
        """Why the loaded prescribing can give no measure value, in plain words ('' when it can)."""
        if not self.months:
            return "No prescribing is loaded: load months with gpcluster prescribing load."
        loaded = f"Prescribing is loaded for {self.first:%B %Y} to {self.last:%B %Y} ({self.months} months)"
        if not self.quarters:
            return (f"{loaded}, but no quarter has all three of its months, and a measure is computed only for "
                    "complete quarters: load the missing months.")
        if not self.list_dates:
            return (f"{loaded}, but no practice list sizes are loaded, and every measure is per patient on the "
                    "list: load PHS GP practice list sizes.")
        if not self.computable:
            quarters = ", ".join(f"{q:%-d %B %Y}" for q in self.quarters)
            n = len(self.list_dates)
            return (f"{loaded}. A measure is computed for each quarter with all three months loaded ({quarters}), "
                    "per patient on the practice list on the quarter's first day, but list sizes are loaded only "
                    f"for {n} date{'s' if n != 1 else ''}, {self.list_dates[0]:%-d %B %Y} to "
                    f"{self.list_dates[-1]:%-d %B %Y}. Load list sizes for those quarters (or prescribing for "
                    "the list-size quarters), then run gpcluster prescribing compute.")
        return ""


def prescribing_coverage(con: duckdb.DuckDBPyConnection) -> Coverage:
    """The warehouse's prescribing months, complete quarters and list-size dates."""
    from gpcluster.indicators.compile import COMPLETE_PRESCRIBING_MONTHS_SQL

    first, last, months = con.execute(
        "SELECT min(month), max(month), count(*) FROM prescribing_month").fetchone()
    quarters = [q for (q,) in con.execute(
        f"SELECT DISTINCT date_trunc('quarter', month)::DATE AS q FROM ({COMPLETE_PRESCRIBING_MONTHS_SQL}) "
        "ORDER BY q").fetchall()]
    lists = [d for (d,) in con.execute(
        "SELECT DISTINCT release_date FROM list_population ORDER BY release_date").fetchall()]
    return Coverage(first, last, int(months), tuple(quarters), tuple(lists))
