"""Indicator definitions: one reviewed TOML file per indicator, validated when loaded.

A definition names its numerator and (for ratio measures) its denominator as one of a few typed
*series*, each yielding one value per practice per period:

* ``population``: registered list from ``list_population`` (sex, PHS age bands);
* ``weighted_population``: list population times age-sex weights given in the file;
* ``practice_attribute``: an attribute of the practice in ``practice_period`` times its list size
  (used for list-weighted means such as SIMD rank), optionally only where a condition holds;
* ``activity``: a measure from ``practice_activity``;
* ``gp_headcount``: GPs of the given roles in a headcount snapshot, placed at the list-size release nearest
  the snapshot when it lies within the ``max_date_gap_days`` setting (the snapshot date is kept with the
  figure);
* ``prescribing``: items, quantity or cost of selected BNF presentations from ``prescribing`` (quarterly);
* ``sql``: a reviewed SELECT returning ``period, practice_code, value`` for anything else.

Every value a definition supplies to a typed series is bound as a query parameter, never pasted into SQL.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import tomllib
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from gpcluster.errors import Problem, ValidationFailed
from gpcluster.prescribing.bnf import Selection as BnfSelection

CATALOGUE_DIR = Path(__file__).parent / "catalogue"

LEVELS = ("practice", "cluster", "hscp", "board", "scotland")
AGE_BANDS = ("0-4", "5-14", "15-24", "25-44", "45-64", "65-74", "75-84", "85+")
SEXES = ("Male", "Female", "All")
# Practice attributes a definition may weight by list size; a closed list keeps SQL identifiers out of files.
PRACTICE_ATTRIBUTES = ("simd_rank", "simd_decile", "simd_quintile", "urban_rural_6", "urban_rural_8",
                       "urban_rural_2", "list_size")

# 'change': the numerator's change since the previous period as a share of its previous value (times the
# multiplier), on each area's own total, so a practice closing or moving within an area changes nothing.
MeasureType = Literal["proportion", "crude_rate", "standardised_ratio", "mean", "count", "change"]
# Measure types whose numerator and denominator are sums over patients, so they roll up by addition
# and have a sampling-error confidence interval.
RATIO_TYPES = ("proportion", "crude_rate", "standardised_ratio", "mean")
_ID = re.compile(r"^[a-z][a-z0-9_]{2,63}$")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class PopulationSeries(_Strict):
    """Registered list size from list_population, summed over the given sex and age bands."""

    kind: Literal["population"]
    sex: Literal["Male", "Female", "All"] = "All"
    age_bands: list[str] = Field(default_factory=lambda: ["All"])

    @field_validator("age_bands")
    @classmethod
    def _known_bands(cls, bands: list[str]) -> list[str]:
        unknown = [b for b in bands if b not in (*AGE_BANDS, "All")]
        if unknown:
            raise ValueError(f"unknown age band(s) {unknown}; use {list(AGE_BANDS)} or 'All'")
        if not bands:
            raise ValueError("give at least one age band")
        return bands


class WeightedPopulationSeries(_Strict):
    """Sum over sex and age band of list population x weight (e.g. workload weights)."""

    kind: Literal["weighted_population"]
    weights: dict[Literal["Male", "Female"], dict[str, float]]

    @field_validator("weights")
    @classmethod
    def _complete(cls, weights: dict[str, dict[str, float]]) -> dict[str, dict[str, float]]:
        for sex in ("Male", "Female"):
            bands = weights.get(sex, {})
            if sorted(bands) != sorted(AGE_BANDS):
                raise ValueError(f"weights.{sex} must give exactly the bands {list(AGE_BANDS)}")
            if any(w < 0 for w in bands.values()):
                raise ValueError(f"weights.{sex} must not be negative")
        return weights


class PracticeAttributeSeries(_Strict):
    """list_size x attribute (or list_size where attribute = equals) from practice_period."""

    kind: Literal["practice_attribute"]
    attribute: Literal[PRACTICE_ATTRIBUTES]  # type: ignore[valid-type]
    equals: int | None = None


class ActivitySeries(_Strict):
    """A practice_activity measure (quarterly; period = first day of the quarter)."""

    kind: Literal["activity"]
    measure: str = Field(pattern=r"^[a-z][a-z0-9_]*$")


GP_ROLES = ("qualified", "registrar", "retainee")


class HeadcountSeries(_Strict):
    """GP headcount by role: 'qualified' (performers and salaried GPs), 'registrar' (GPs in training) and
    'retainee' (GPs on the retainer scheme), from designations such as 'PERFORMER REGISTRAR'."""

    kind: Literal["gp_headcount"]
    roles: list[Literal["qualified", "registrar", "retainee"]] = Field(min_length=1)


class PrescribingSeries(_Strict):
    """Prescribing from PHS Prescriptions in the Community (table ``prescribing``), summed per practice
    over the three months of each quarter: items, quantity or gross ingredient cost of the BNF
    presentations selected (gpcluster.prescribing.bnf.Selection). Period = first day of the quarter,
    so Apr-Jun prescribing sits with the list at 1 April. Only quarters with all three months loaded
    count; a practice that prescribed something that quarter but nothing selected counts 0.

    Either the selection fields directly (include, exclude, generic, description_any, description_none;
    none at all = every presentation) or ``any_of``: a list of selections, any of which counts.
    """

    kind: Literal["prescribing"]
    value: Literal["items", "quantity", "cost"] = "items"
    include: list[str] = Field(default_factory=list)
    exclude: list[str] = Field(default_factory=list)
    generic: bool | None = None
    description_any: list[str] = Field(default_factory=list)
    description_none: list[str] = Field(default_factory=list)
    any_of: list[BnfSelection] = Field(default_factory=list)

    @model_validator(mode="after")
    def _one_way(self) -> PrescribingSeries:
        self.selections()  # validates the direct fields as a Selection
        if self.any_of and not self.direct_selection().selects_everything:
            raise ValueError("give either the selection fields or any_of, not both")
        return self

    def direct_selection(self) -> BnfSelection:
        return BnfSelection(include=self.include, exclude=self.exclude, generic=self.generic,
                            description_any=self.description_any, description_none=self.description_none)

    def selections(self) -> list[BnfSelection]:
        """The selections whose union this series counts."""
        return list(self.any_of) or [self.direct_selection()]


class SqlSeries(_Strict):
    """A reviewed SELECT over the warehouse returning columns period, practice_code, value."""

    kind: Literal["sql"]
    sql: str

    @field_validator("sql")
    @classmethod
    def _single_select(cls, sql: str) -> str:
        body = sql.strip().rstrip(";").strip()
        if ";" in body:
            raise ValueError("must be a single statement (no ';')")
        if not re.match(r"^(select|with)\b", body, re.IGNORECASE):
            raise ValueError("must be a SELECT (or WITH ... SELECT) query")
        return body


Series = Annotated[
    PopulationSeries | WeightedPopulationSeries | PracticeAttributeSeries | ActivitySeries | HeadcountSeries
    | PrescribingSeries
    | SqlSeries,
    Field(discriminator="kind"),
]


_CELL = r"^[a-z][a-z0-9_]{2,63}\.(numerator|denominator)$"


class SumRelation(_Strict):
    """This indicator's `total` column equals, for every area and period, the sum of the named columns of
    other indicators ('aged_under_15.numerator'): a relation an attacker could subtract along."""

    total: Literal["numerator", "denominator"] = "numerator"
    parts: list[Annotated[str, Field(pattern=_CELL)]] = Field(min_length=1)


class ReferenceRatesExpected(_Strict):
    """Indirect standardisation: the expected count of a practice is its list by sex and age band times
    Scotland's rates of the same measure in the same quarter (warehouse table reference_rate)."""

    kind: Literal["reference_rates"]
    measure: str = Field(pattern=r"^[a-z][a-z0-9_]*$")


class Disclosure(_Strict):
    """Small-number rule applied by every output path (see gpcluster.indicators.suppression)."""

    rule: Literal["suppress_small_counts", "none"] = "suppress_small_counts"
    columns: list[Literal["numerator", "denominator"]] = Field(default_factory=lambda: ["numerator"])
    threshold: int | None = Field(default=None, ge=0, description="None means the disclosure_threshold setting")
    reason: str = Field(default="", description="Why no small-number rule applies (required with rule 'none')")
    part_of: str | None = Field(default=None, pattern=r"^[a-z][a-z0-9_]{2,63}$",
                                description="An indicator whose numerator contains this one's; the unpublished "
                                            "remainder is a count of people (0-4 within under 15)")
    sums: list[SumRelation] = Field(default_factory=list)

    @model_validator(mode="after")
    def _none_needs_reason(self) -> Disclosure:
        if self.rule == "none" and len(self.reason.strip()) < 20:
            raise ValueError("rule 'none' needs a reason (at least a sentence) saying why no count is disclosive")
        return self


class Definition(_Strict):
    """One indicator, as written in catalogue/<id>.toml (id and version come from the file)."""

    id: str
    version: str
    path: str
    text: str
    title: str = Field(min_length=3, max_length=120)
    description: str = Field(min_length=10)
    why_it_matters: str = Field(min_length=10)
    measure_type: MeasureType
    # context: describes the population or the practice (age, deprivation, list size): shown with its
    # position, never flagged as unusual. performance: activity, prescribing, outcomes: may raise signals.
    purpose: Literal["context", "performance"]
    multiplier: float = Field(gt=0)
    unit: str
    polarity: Literal["higher_is_better", "higher_is_worse", "neither"]
    numerator: Series
    denominator: Series | None = None
    expected: ReferenceRatesExpected | None = None
    # performance only: expected counts also allow for where the practice is (case-mix adjustment)
    # ('hscp': each quarter, what the practice's HSCP provides, for services HSCPs allocate such as the MDT)
    adjust_for: list[Literal["deprivation", "rurality", "hscp"]] = Field(default_factory=list)
    denominator_label: str = Field(default="patients", min_length=3, max_length=60,
                                   description="What the denominator counts, in plain words")
    disclosure: Disclosure = Field(default_factory=Disclosure)
    source: str = Field(min_length=3)
    caveats: str = ""
    levels: list[Literal["practice", "cluster", "hscp", "board", "scotland"]] = Field(
        default_factory=lambda: list(LEVELS))
    synthetic: bool = False
    authored_by: str = Field(min_length=2)
    reviewed_by: str = Field(min_length=2)
    next_review: dt.date

    @field_validator("id")
    @classmethod
    def _id_shape(cls, value: str) -> str:
        if not _ID.match(value):
            raise ValueError("file name must be lower_snake_case, 3-64 characters, starting with a letter")
        return value

    @field_validator("levels")
    @classmethod
    def _levels(cls, levels: list[str]) -> list[str]:
        if "practice" not in levels:
            raise ValueError("must include 'practice' (every level is built from practices)")
        if len(set(levels)) != len(levels):
            raise ValueError("must not repeat a level")
        return levels

    @model_validator(mode="after")
    def _denominator_matches_type(self) -> Definition:
        if self.measure_type in RATIO_TYPES and self.denominator is None:
            raise ValueError(f"measure_type {self.measure_type!r} needs a denominator")
        if self.measure_type in ("count", "change") and self.denominator is not None:
            raise ValueError(f"measure_type {self.measure_type!r} takes no denominator")
        if self.measure_type == "proportion" and self.multiplier not in (1, 100):
            raise ValueError("a proportion's multiplier must be 1 or 100")
        if self.expected is not None and (self.purpose != "performance" or self.measure_type != "crude_rate"):
            raise ValueError("'expected' (indirect standardisation) applies to performance crude rates only")
        if self.adjust_for and self.purpose != "performance":
            raise ValueError("'adjust_for' applies to performance indicators only")
        if self.purpose == "performance" and self.measure_type not in ("proportion", "crude_rate",
                                                                       "standardised_ratio"):
            raise ValueError("a performance indicator must be a proportion, crude rate or standardised ratio "
                             "(signals compare observed with expected counts)")
        return self

    @property
    def is_performance(self) -> bool:
        return self.purpose == "performance"

    @property
    def has_ci(self) -> bool:
        """Proportions, crude rates and standardised ratios carry sampling-error intervals."""
        return self.measure_type in ("proportion", "crude_rate", "standardised_ratio")


def version_of(text: str) -> str:
    """First 12 hex of the sha256 of a definition file's text: stored with every result."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:12]


def _field_name(loc: tuple) -> str:
    # pydantic puts the discriminator tag after a series field: ('numerator', 'sql', 'sql') -> numerator.sql
    parts = [str(p) for i, p in enumerate(loc)
             if not (i > 0 and loc[i - 1] in ("numerator", "denominator") and p in _SERIES_TAGS)]
    return ".".join(parts) or "(file)"


_SERIES_TAGS = {"population", "weighted_population", "practice_attribute", "activity", "gp_headcount",
                "prescribing", "sql"}


def parse_definition(path: Path, text: str) -> tuple[Definition | None, list[Problem]]:
    """Validate one definition's text; return the definition or every problem found (file + field)."""
    name = str(path)
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        return None, [Problem(name, "toml", f"not valid TOML: {exc}")]
    for reserved in ("id", "version", "path", "text"):
        if reserved in data:
            return None, [Problem(name, "reserved", f"field {reserved!r} is set from the file, not in it",
                                  column=reserved)]
    try:
        definition = Definition(id=path.stem, version=version_of(text), path=name, text=text, **data)
    except ValidationError as exc:
        problems = [Problem(name, err["type"], err["msg"], column=_field_name(err["loc"]))
                    for err in exc.errors()]
        return None, problems
    return definition, []


def load_catalogue(folder: Path | None = None) -> list[Definition]:
    """Load and validate every ``*.toml`` definition in a folder (default: the built-in catalogue).

    Raises ValidationFailed listing every problem in every file when any file is invalid.
    """
    folder = folder or CATALOGUE_DIR
    paths = sorted(folder.glob("*.toml"))
    definitions: list[Definition] = []
    problems: list[Problem] = []
    for path in paths:
        definition, found = parse_definition(path, path.read_text(encoding="utf-8"))
        problems.extend(found)
        if definition is not None:
            definitions.append(definition)
    problems += _unknown_references(definitions)
    if problems:
        raise ValidationFailed(problems=problems)
    return definitions


def _unknown_references(definitions: list[Definition]) -> list[Problem]:
    """Disclosure relations must name indicators of the same catalogue."""
    ids = {d.id for d in definitions}
    problems = []
    for d in definitions:
        named = [("disclosure.part_of", d.disclosure.part_of)] if d.disclosure.part_of else []
        named += [("disclosure.sums", cell.split(".")[0]) for rel in d.disclosure.sums for cell in rel.parts]
        problems += [Problem(d.path, "unknown_indicator", f"names {other!r}, which is not in the catalogue",
                             column=field) for field, other in named if other not in ids]
    return problems


def load_definition(indicator_id: str, folder: Path | None = None) -> Definition:
    """One definition by id, validated."""
    from gpcluster.errors import UserError

    path = (folder or CATALOGUE_DIR) / f"{indicator_id}.toml"
    if not _ID.match(indicator_id) or not path.exists():
        raise UserError(f"no indicator {indicator_id!r} in {path.parent}")
    definition, problems = parse_definition(path, path.read_text(encoding="utf-8"))
    if problems:
        raise ValidationFailed(problems=problems)
    assert definition is not None
    return definition
