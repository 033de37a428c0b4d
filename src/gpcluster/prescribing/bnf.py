"""The British National Formulary (BNF) code hierarchy, and selecting presentations by code prefix.

A 15-character BNF presentation code carries its own hierarchy (PHS data dictionary):

    0501013K0AAAJAJ
    05          chapter        (Infections)
    0501        section        (Antibacterial drugs)
    050101      paragraph      (Penicillins)
    0501013     sub-paragraph
    0501013K0   chemical       (co-amoxiclav)
    0501013K0AA product        (AA = the generic product; anything else is a brand)
    ...AJ       strength and formulation; the last two characters link to the generic equivalent

Appliances and dressings (chapters 20-23) have shorter codes and no chemical or generic/brand split.
Chapter, section and the paragraph names used by the shipped measures come from the packaged
`bnf_names.csv`; chemical and product names are read from the item descriptions in the data
("NAPROXEN_TAB 500MG" -> chemical "NAPROXEN" when the presentation is generic, product "NAPROXEN").

A measure selects presentations with a `Selection`: code prefixes to include and exclude, optionally
only generic or only branded presentations, and words its description must (or must not) contain.
The same rules are applied in SQL (`selection_sql`, used by the indicator engine) and in Python
(`Selection.matches`, used by the Spark engine and the tests), and the two are tested to agree.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass
from functools import cache
from importlib.resources import files

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

PREFIX = re.compile(r"^[0-9A-Z]{2,15}$")
GENERIC_PRODUCT = "AA"
LEVELS = (("chapter", 2), ("section", 4), ("paragraph", 6), ("subparagraph", 7), ("chemical", 9),
          ("product", 11), ("presentation", 15))
# PHS convention: the first appliance chapter; codes from here on have no chemical or generic/brand split
FIRST_APPLIANCE_CHAPTER = "20"


@dataclass(frozen=True)
class BnfCode:
    """One BNF code split into its levels (None where the code is too short for a level)."""

    code: str
    chapter: str
    section: str | None
    paragraph: str | None
    chemical: str | None
    product: str | None
    is_generic: bool | None
    generic_equivalent: str | None

    @classmethod
    def parse(cls, code: str) -> BnfCode:
        code = code.strip().upper()
        if not PREFIX.match(code):
            raise ValueError(f"{code!r} is not a BNF code (2-15 characters, digits and capital letters)")
        drug = len(code) == 15 and code[:2] < FIRST_APPLIANCE_CHAPTER

        def part(length: int) -> str | None:
            return code[:length] if len(code) >= length else None

        return cls(code=code, chapter=code[:2], section=part(4), paragraph=part(6),
                   chemical=code[:9] if drug else None, product=code[:11] if drug else None,
                   is_generic=(code[9:11] == GENERIC_PRODUCT) if drug else None,
                   generic_equivalent=(code[:9] + GENERIC_PRODUCT + code[13:15] + code[13:15]) if drug else None)


@cache
def reference_names() -> dict[str, str]:
    """Names of BNF chapters, sections and selected paragraphs (packaged bnf_names.csv)."""
    text = (files("gpcluster.prescribing") / "bnf_names.csv").read_text(encoding="utf-8")
    return {row["code"]: row["name"] for row in csv.DictReader(io.StringIO(text))}


def name_from_description(description: str) -> str:
    """The part of a PHS item description before the form: 'NAPROXEN_TAB 500MG' -> 'NAPROXEN'."""
    return description.split("_", 1)[0].strip()


def _prefixes(values: list[str]) -> list[str]:
    cleaned = [v.strip().upper() for v in values]
    bad = [v for v in cleaned if not PREFIX.match(v)]
    if bad:
        raise ValueError(f"not BNF code prefixes (2-15 digits or capital letters): {bad}")
    if len(set(cleaned)) != len(cleaned):
        raise ValueError("a prefix is listed twice")
    return cleaned


class Selection(BaseModel):
    """Which BNF presentations count: every rule given must hold.

    include: code prefixes, any of which selects a presentation (empty = every presentation);
    exclude: code prefixes that deselect; generic: only generic (true) or only branded (false)
    presentations; description_any / description_none: words (case-insensitive) the item description
    must contain at least one of / none of.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    include: list[str] = Field(default_factory=list)
    exclude: list[str] = Field(default_factory=list)
    generic: bool | None = None
    description_any: list[str] = Field(default_factory=list)
    description_none: list[str] = Field(default_factory=list)

    @field_validator("include", "exclude")
    @classmethod
    def _valid_prefixes(cls, values: list[str]) -> list[str]:
        return _prefixes(values)

    @field_validator("description_any", "description_none")
    @classmethod
    def _words(cls, values: list[str]) -> list[str]:
        cleaned = [v.strip().upper() for v in values]
        if any(not v for v in cleaned):
            raise ValueError("description words must not be blank")
        return cleaned

    @model_validator(mode="after")
    def _exclusions_narrow(self) -> Selection:
        for prefix in self.exclude:
            if self.include and not any(prefix.startswith(i) or i.startswith(prefix) for i in self.include):
                raise ValueError(f"exclude prefix {prefix} is outside every include prefix (it would do nothing)")
        return self

    @property
    def by_code_only(self) -> bool:
        """True when the rule reads only the BNF code (no description words)."""
        return not (self.description_any or self.description_none)

    @property
    def selects_everything(self) -> bool:
        return not (self.include or self.exclude or self.generic is not None or self.description_any
                    or self.description_none)

    def matches(self, code: str, description: str = "") -> bool:
        """The rule in Python: does this presentation count?"""
        code, text = code.upper(), (description or "").upper()
        if self.include and not any(code.startswith(p) for p in self.include):
            return False
        if any(code.startswith(p) for p in self.exclude):
            return False
        if self.generic is not None and BnfCode.parse(code).is_generic is not self.generic:
            return False
        if self.description_any and not any(w in text for w in self.description_any):
            return False
        return not any(w in text for w in self.description_none)


def selection_sql(selections: list[Selection], alias: str = "b") -> tuple[str, list]:
    """A boolean SQL condition over `bnf_presentation` (columns bnf_code, description, is_generic)
    true where any of the selections matches, with its parameters (all values bound)."""
    prefix = f"len(list_filter(?::VARCHAR[], lambda p: starts_with({alias}.bnf_code, p)))"
    word = f"len(list_filter(?::VARCHAR[], lambda w: contains(upper(coalesce({alias}.description, '')), w)))"
    parts, params = [], []
    for s in selections:
        terms = []
        for values, test, holds in ((s.include, prefix, "> 0"), (s.exclude, prefix, "= 0"),
                                    (s.description_any, word, "> 0"), (s.description_none, word, "= 0")):
            if values:
                terms.append(f"{test} {holds}")
                params.append(values)
        if s.generic is not None:
            terms.append(f"{alias}.is_generic IS NOT DISTINCT FROM ?::BOOLEAN")
            params.append(s.generic)
        parts.append("(" + " AND ".join(terms or ["TRUE"]) + ")")
    return "(" + " OR ".join(parts or ["FALSE"]) + ")", params


def prefix_ranges(prefixes: list[str]) -> list[tuple[str, str]]:
    """Code ranges [low, high) holding exactly the codes that start with any prefix, adjacent ones merged
    (chapters 01 to 15 become one range). Codes are digits and capitals, so a prefix's range ends at the
    prefix with its last character incremented."""
    ranges: list[list[str]] = []
    for p in sorted(prefixes):
        low, high = p, p[:-1] + chr(ord(p[-1]) + 1)
        if ranges and low <= ranges[-1][1]:
            ranges[-1][1] = max(ranges[-1][1], high)
        else:
            ranges.append([low, high])
    return [(low, high) for low, high in ranges]


def _range_test(prefixes: list[str], column: str) -> tuple[str, list]:
    """Code starts with any prefix, as range comparisons: cheap per row, and on a table in code order
    DuckDB skips the row groups outside the ranges."""
    ranges = prefix_ranges(prefixes)
    sql = " OR ".join(f"({column} >= ? AND {column} < ?)" for _ in ranges)
    return f"({sql})", [bound for pair in ranges for bound in pair]


def code_selection_sql(selections: list[Selection], column: str = "f.bnf_code",
                       generic_column: str | None = None) -> tuple[str, list]:
    """The same rule as selection_sql, evaluated on a code column directly (every selection must be
    by_code_only): no join with the presentations, so a scan of the prescribing table filters in place.
    With `generic_column` (a boolean, NULL for appliances) the generic test reads it instead of the code:
    for the chapter summary, whose `column` holds the chapter only."""
    parts, params = [], []
    for s in selections:
        if not s.by_code_only:
            raise ValueError("description rules need the presentations table: use selection_sql")
        terms = []
        for values, negate in ((s.include, ""), (s.exclude, "NOT ")):
            if values:
                sql, more = _range_test(values, column)
                terms.append(negate + sql)
                params += more
        if s.generic is not None and generic_column:
            terms.append(f"coalesce({generic_column} = ?::BOOLEAN, FALSE)")
            params.append(s.generic)
        elif s.generic is not None:
            drug = f"(length({column}) = 15 AND left({column}, 2) < '{FIRST_APPLIANCE_CHAPTER}')"
            generic = f"substr({column}, 10, 2) = '{GENERIC_PRODUCT}'"
            terms.append(f"({drug} AND ({generic}) = ?::BOOLEAN)")
            params.append(s.generic)
        parts.append("(" + " AND ".join(terms or ["TRUE"]) + ")")
    return "(" + " OR ".join(parts or ["FALSE"]) + ")", params
