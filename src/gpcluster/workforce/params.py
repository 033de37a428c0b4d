"""Parameters as data: the planning assumptions and the allocation models are TOML files, validated
with pydantic when loaded. Every number carries a `source` (a citation or the word 'assumption').
Errors name the file and the field, and every error in a file is reported at once."""

from __future__ import annotations

import tomllib
from functools import cache, cached_property
from pathlib import Path
from typing import Annotated, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    TypeAdapter,
    ValidationError,
    field_validator,
    model_validator,
)

from gpcluster.errors import Problem, UserError, ValidationFailed
from gpcluster.workforce.roles import AGE_BANDS, ROLES, URBAN_RURAL_8

PACKAGE_DIR = Path(__file__).parent
MODELS_DIR = PACKAGE_DIR / "models"
ASSUMPTIONS_FILE = PACKAGE_DIR / "assumptions.toml"

Source = Annotated[str, Field(min_length=3, description="A citation, or 'assumption: <why>'")]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Number(_Strict):
    """One parameter value with its source."""

    value: float = Field(ge=0)
    source: Source


class Table(_Strict):
    """A lookup of parameter values (by role, band, quintile, class...) with one source."""

    values: dict[str, float]
    source: Source

    @field_validator("values")
    @classmethod
    def _non_negative(cls, values: dict[str, float]) -> dict[str, float]:
        bad = [k for k, v in values.items() if v < 0]
        if bad:
            raise ValueError(f"must not be negative: {', '.join(bad)}")
        return values

    def require_keys(self, keys, what: str) -> None:
        missing = [str(k) for k in keys if str(k) not in self.values]
        extra = [k for k in self.values if k not in {str(x) for x in keys}]
        if missing:
            raise ValueError(f"{what}: missing {', '.join(missing)}")
        if extra:
            raise ValueError(f"{what}: unknown key(s) {', '.join(extra)}")

    def __getitem__(self, key) -> float:
        return self.values[str(key)]


class AgeSexWeights(_Strict):
    """Relative workload per patient by sex and PHS age band."""

    Male: dict[str, float]
    Female: dict[str, float]
    source: Source

    @model_validator(mode="after")
    def _all_bands(self) -> AgeSexWeights:
        for sex in ("Male", "Female"):
            table = getattr(self, sex)
            missing = [b for b in AGE_BANDS if b not in table]
            extra = [b for b in table if b not in AGE_BANDS]
            if missing or extra:
                raise ValueError(f"{sex}: bands must be exactly {', '.join(AGE_BANDS)}"
                                 f" (missing {missing or 'none'}, unknown {extra or 'none'})")
            if any(v < 0 for v in table.values()):
                raise ValueError(f"{sex}: weights must not be negative")
        return self


def _quintiles(table: Table, what: str) -> Table:
    table.require_keys(range(1, 6), what)
    return table


class Assumptions(_Strict):
    """Planning assumptions shared by every model and by the scenario comparison."""

    hours_per_wte: Number
    session_hours: Number
    visit_hours: Number
    gp_hours_released_per_mdt_hour: Table
    supervision_hours_per_wte: Table
    travel_minutes_round_trip_by_ur8: Table

    @cached_property
    def cache_key(self) -> str:
        """model_dump_json(), worked out once (the model is frozen): the web app keeps every allocation,
        comparison and page under it and asks for it several times a request."""
        return self.model_dump_json()

    @model_validator(mode="after")
    def _keys(self) -> Assumptions:
        self.gp_hours_released_per_mdt_hour.require_keys(ROLES, "gp_hours_released_per_mdt_hour")
        self.supervision_hours_per_wte.require_keys(ROLES, "supervision_hours_per_wte")
        self.travel_minutes_round_trip_by_ur8.require_keys(URBAN_RURAL_8, "travel_minutes_round_trip_by_ur8")
        if self.hours_per_wte.value <= 0 or self.session_hours.value <= 0 or self.visit_hours.value <= 0:
            raise ValueError("hours_per_wte, session_hours and visit_hours must be positive")
        return self


class _ModelBase(_Strict):
    name: str = ""
    label: str
    description: str
    approximate: bool = False
    approximation_note: str = ""

    @model_validator(mode="after")
    def _approximate_needs_note(self):
        if self.approximate and not self.approximation_note:
            raise ValueError("approximate models must say why in approximation_note")
        return self


class PerCapita(_ModelBase):
    """Share in proportion to registered list size (the status quo)."""

    kind: Literal["per_capita"]


class NeedWeighted(_ModelBase):
    """Share in proportion to need: age-sex workload x deprivation x (1 + w x multimorbidity proxy)."""

    kind: Literal["need_weighted"]
    age_sex_weights: AgeSexWeights
    deprivation_by_simd_quintile: Table
    multimorbidity_prevalence_by_age: Table
    multimorbidity_deprivation_by_simd_quintile: Table
    multimorbidity_weight: Number

    @model_validator(mode="after")
    def _keys(self) -> NeedWeighted:
        _quintiles(self.deprivation_by_simd_quintile, "deprivation_by_simd_quintile")
        _quintiles(self.multimorbidity_deprivation_by_simd_quintile, "multimorbidity_deprivation_by_simd_quintile")
        self.multimorbidity_prevalence_by_age.require_keys(AGE_BANDS, "multimorbidity_prevalence_by_age")
        return self


class WeightedCapitation(_ModelBase):
    """NRAC-style weighted capitation: list x age-sex index x MLC index x excess-cost index."""

    kind: Literal["weighted_capitation"]
    age_sex_weights: AgeSexWeights
    mlc_by_simd_decile: Table
    excess_cost_by_ur8: Table

    @model_validator(mode="after")
    def _keys(self) -> WeightedCapitation:
        self.mlc_by_simd_decile.require_keys(range(1, 11), "mlc_by_simd_decile")
        self.excess_cost_by_ur8.require_keys(URBAN_RURAL_8, "excess_cost_by_ur8")
        return self


class RuralityAware(_ModelBase):
    """A base model's shares, uplifted for rurality, with sub-viable practices pooled into cluster hubs."""

    kind: Literal["rurality_aware"]
    base_model: str
    min_viable_hours_per_week: Number
    excess_cost_by_ur8: Table

    @model_validator(mode="after")
    def _keys(self) -> RuralityAware:
        self.excess_cost_by_ur8.require_keys(URBAN_RURAL_8, "excess_cost_by_ur8")
        return self


ModelSpec = Annotated[PerCapita | NeedWeighted | WeightedCapitation | RuralityAware, Field(discriminator="kind")]
_SPEC_ADAPTER: TypeAdapter = TypeAdapter(ModelSpec)


def _problems(path: Path, exc: ValidationError) -> list[Problem]:
    problems = []
    for err in exc.errors():
        loc = ".".join(str(part) for part in err["loc"] if not str(part).startswith("function-"))
        problems.append(Problem(file=str(path), kind="parameter", message=err["msg"], column=loc or None))
    return problems


def _read_toml(path: Path) -> dict:
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ValidationFailed([Problem(str(path), "missing", "file not found")]) from exc
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ValidationFailed([Problem(str(path), "syntax", f"not valid UTF-8 TOML: {exc}")]) from exc


def load_assumptions(path: Path | None = None) -> Assumptions:
    """Read and validate the planning assumptions (default: the shipped assumptions.toml, read once: the
    model is frozen, and web pages ask for it on every request)."""
    if not path:
        return _shipped_assumptions()
    return _read_assumptions(Path(path))


@cache
def _shipped_assumptions() -> Assumptions:
    return _read_assumptions(ASSUMPTIONS_FILE)


def _read_assumptions(path: Path) -> Assumptions:
    try:
        return Assumptions.model_validate(_read_toml(path))
    except ValidationError as exc:
        raise ValidationFailed(_problems(path, exc)) from exc


def load_model_file(path: Path):
    """Read and validate one allocation model TOML file; its name is the file name."""
    path = Path(path)
    data = _read_toml(path)
    data.setdefault("name", path.stem)
    try:
        return _SPEC_ADAPTER.validate_python(data)
    except ValidationError as exc:
        raise ValidationFailed(_problems(path, exc)) from exc


def model_names() -> list[str]:
    """Names of the shipped allocation models."""
    return list(_shipped_names())


@cache
def _shipped_names() -> tuple[str, ...]:
    return tuple(sorted(p.stem for p in MODELS_DIR.glob("*.toml")))


@cache
def _shipped(name: str):
    return load_model_file(MODELS_DIR / f"{name}.toml")


def load_model(name_or_path: str | Path):
    """A shipped model by name, or a model TOML file by path."""
    candidate = Path(name_or_path)
    if candidate.suffix == ".toml" and candidate.exists():
        return load_model_file(candidate)
    if str(name_or_path) not in model_names():
        raise UserError(f"no model {str(name_or_path)!r}; choose one of {', '.join(model_names())} or a .toml path")
    return _shipped(str(name_or_path))
