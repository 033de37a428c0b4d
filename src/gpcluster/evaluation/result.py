"""What every evaluation method returns: the effect with its uncertainty, the series to draw (observed,
fitted, counterfactual), the event study where there is one, diagnostics and caveats. Plain data, so a
result can be stored (JSON in the operational store) and rendered later without recomputing."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from datetime import date

import numpy as np
import pandas as pd

from gpcluster.evaluation.panel import Outcome

METHODS = ("its", "did", "staggered", "synth")
METHOD_NAMES = {
    "its": "interrupted time series (segmented regression)",
    "did": "difference-in-differences with matched comparison practices",
    "staggered": "staggered adoption (Callaway and Sant'Anna)",
    "synth": "synthetic control with placebo-in-space inference",
}


@dataclass(frozen=True)
class Effect:
    """An estimated effect. scale 'log_ratio': log rate ratio (relative change exp(x) - 1);
    scale 'difference': change in the indicator's own unit. `se` is None where the interval comes from
    permutation (synthetic control)."""

    scale: str
    estimate: float
    lower: float
    upper: float
    se: float | None = None
    p_value: float | None = None
    level: float = 0.95

    def __post_init__(self) -> None:  # plain floats, so results serialise and compare cleanly
        for name in ("estimate", "lower", "upper", "se", "p_value", "level"):
            value = getattr(self, name)
            if value is not None:
                object.__setattr__(self, name, float(value))

    @property
    def relative(self) -> tuple[float, float, float]:
        """(estimate, lower, upper) as relative changes (0.06 = 6% higher); only for log ratios."""
        if self.scale != "log_ratio":
            raise ValueError("relative change is defined only for log rate ratios")
        return math.expm1(self.estimate), math.expm1(self.lower), math.expm1(self.upper)

    @property
    def significant(self) -> bool:
        """True when the interval excludes no change."""
        return self.lower > 0 or self.upper < 0

    def covers(self, value: float) -> bool:
        return self.lower <= value <= self.upper


@dataclass(frozen=True)
class Diagnostic:
    """One check of the method's assumptions: a name, a value, what it means, and whether it is reassuring
    (True), worrying (False) or just information (None)."""

    name: str
    value: float | None
    text: str
    ok: bool | None = None
    kind: str = "value"  # "p" for a p-value, shown as "< 0.001" when small

    @property
    def display(self) -> str:
        """The value for people: whole numbers without decimals, p-values as p-values, no '-0.00'."""
        from gpcluster.evaluation.sentences import p_text

        if self.value is None or not math.isfinite(self.value):
            return "–"
        if self.kind == "p":
            return p_text(self.value)
        if float(self.value).is_integer():
            return f"{int(self.value):,}"
        if abs(self.value) < 0.0005:  # three significant figures would need scientific notation
            return "0"
        return f"{self.value:.3g}"

    def __post_init__(self) -> None:
        if self.value is not None:
            object.__setattr__(self, "value", float(self.value))
        if self.ok is not None:
            object.__setattr__(self, "ok", bool(self.ok))


@dataclass
class EvaluationResult:
    """The outcome of one method on one indicator for one intervention."""

    method: str
    outcome: Outcome
    effect: Effect
    start: date  # first start (the only one unless staggered)
    post_quarters: int  # quarters after the start in the analysis window
    pre_quarters: int
    treated: list[str]
    comparison: list[str] = field(default_factory=list)
    #: period, observed, fitted, counterfactual (indicator units) and numerator (for disclosure control)
    series: pd.DataFrame = field(default_factory=pd.DataFrame)
    #: relative_quarter, estimate, lower, upper (on the effect's scale); None when the method has none
    event_study: pd.DataFrame | None = None
    diagnostics: list[Diagnostic] = field(default_factory=list)
    caveats: list[str] = field(default_factory=list)
    details: dict = field(default_factory=dict)
    seconds: float = 0.0

    def to_dict(self) -> dict:
        """JSON-safe representation (see from_dict)."""
        return {
            "method": self.method, "outcome": asdict(self.outcome), "effect": asdict(self.effect),
            "start": self.start.isoformat(), "post_quarters": self.post_quarters, "pre_quarters": self.pre_quarters,
            "treated": list(self.treated), "comparison": list(self.comparison),
            "series": _records(self.series),
            "event_study": None if self.event_study is None else _records(self.event_study),
            "diagnostics": [asdict(d) for d in self.diagnostics], "caveats": list(self.caveats),
            "details": _plain(self.details), "seconds": self.seconds,
        }

    @classmethod
    def from_dict(cls, data: dict) -> EvaluationResult:
        series = pd.DataFrame(data["series"])
        if "period" in series:
            series["period"] = [date.fromisoformat(p) for p in series["period"]]
        study = None if data.get("event_study") is None else pd.DataFrame(data["event_study"])
        return cls(method=data["method"], outcome=Outcome(**data["outcome"]), effect=Effect(**data["effect"]),
                   start=date.fromisoformat(data["start"]), post_quarters=data["post_quarters"],
                   pre_quarters=data["pre_quarters"], treated=data["treated"], comparison=data["comparison"],
                   series=series, event_study=study,
                   diagnostics=[Diagnostic(**d) for d in data["diagnostics"]], caveats=data["caveats"],
                   details=data.get("details", {}), seconds=data.get("seconds", 0.0))


def _plain(value):
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, float | np.floating):
        return None if not math.isfinite(float(value)) else float(value)
    if isinstance(value, date):
        return value.isoformat()
    return value


def _records(frame: pd.DataFrame) -> list[dict]:
    return [{k: _plain(v) for k, v in row.items()} for row in frame.to_dict("records")]
