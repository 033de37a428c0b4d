"""Indicator definitions: one reviewed TOML file per indicator, validated when loaded.

A definition names its numerator and (for ratio measures) its denominator as one of a few typed
*series*, each yielding one value per practice per period:

* ``population``: registered list from ``list_population`` (sex, PHS age bands);
* ``weighted_population``: list population times age-sex weights given in the file;
* ``practice_attribute``: an attribute of the practice in ``practice_period`` times its list size
  (used for list-weighted means such as SIMD rank), optionally only where a condition holds;
* ``activity``: a measure from ``practice_activity``;
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

CATALOGUE_DIR = Path(__file__).parent / "catalogue"

LEVELS = ("practice", "cluster", "hscp", "board", "scotland")
AGE_BANDS = ("0-4", "5-14", "15-24", "25-44", "45-64", "65-74", "75-84", "85+")
SEXES = ("Male", "Female", "All")
# Practice attributes a definition may weight by list size; a closed list keeps SQL identifiers out of files.
PRACTICE_ATTRIBUTES = ("simd_rank", "simd_decile", "simd_quintile", "urban_rural_6", "urban_rural_8",
                       "urban_rural_2", "list_size")

MeasureType = Literal["proportion", "crude_rate", "standardised_ratio", "mean", "count"]
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
    PopulationSeries | WeightedPopulationSeries | PracticeAttributeSeries | ActivitySeries | SqlSeries,
    Field(discriminator="kind"),
]


class Disclosure(_Strict):
    """Small-number rule applied by every output path (see gpcluster.exports)."""

    rule: Literal["suppress_small_counts", "none"] = "suppress_small_counts"
    columns: list[Literal["numerator", "denominator"]] = Field(default_factory=lambda: ["numerator"])
    threshold: int | None = Field(default=None, ge=0, description="None means the disclosure_threshold setting")


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
    multiplier: float = Field(gt=0)
    unit: str
    polarity: Literal["higher_is_better", "higher_is_worse", "neither"]
    numerator: Series
    denominator: Series | None = None
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
        if self.measure_type == "count" and self.denominator is not None:
            raise ValueError("measure_type 'count' takes no denominator")
        if self.measure_type == "proportion" and self.multiplier not in (1, 100):
            raise ValueError("a proportion's multiplier must be 1 or 100")
        return self

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


_SERIES_TAGS = {"population", "weighted_population", "practice_attribute", "activity", "sql"}


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
    if problems:
        raise ValidationFailed(problems=problems)
    return definitions


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
