"""Indicator series as the evaluation methods see them: one row per unit (practice, cluster, HSCP...)
and quarter, with numerator, denominator and value, read from the warehouse table indicator_value.

Count indicators (proportions, crude rates, standardised ratios: a count over people or an expected
count) are modelled as counts with the denominator as exposure, so effects are rate ratios ("fell by
6%"). Other indicators (means, plain counts such as list size) are modelled on their value, so effects
are differences in the indicator's own unit.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

import numpy as np
import pandas as pd

from gpcluster.errors import UserError

LEVELS = ("practice", "cluster", "hscp", "board", "scotland")
COUNT_MEASURE_TYPES = ("proportion", "crude_rate", "standardised_ratio")


@dataclass(frozen=True)
class Outcome:
    """What is measured: enough of the indicator's definition to model and describe it."""

    indicator_id: str
    title: str
    unit: str
    multiplier: float
    measure_type: str
    polarity: str = "neither"

    @property
    def counts(self) -> bool:
        """True when the numerator counts events among the denominator (log-linear count models)."""
        return self.measure_type in COUNT_MEASURE_TYPES


@dataclass
class Panel:
    """Long frame with columns unit, period (date), numerator, denominator, value, and optionally
    group (e.g. the HSCP of a practice, for clustering standard errors)."""

    outcome: Outcome
    level: str
    frame: pd.DataFrame
    names: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        missing = {"unit", "period", "value"} - set(self.frame.columns)
        if missing:
            raise ValueError(f"panel frame lacks column(s) {', '.join(sorted(missing))}")
        self.frame = self.frame.sort_values(["unit", "period"]).reset_index(drop=True)

    @property
    def periods(self) -> list[date]:
        return sorted(set(self.frame["period"]))

    @property
    def units(self) -> list[str]:
        return sorted(set(self.frame["unit"]))

    def subset(self, units) -> Panel:
        keep = set(units)
        return Panel(self.outcome, self.level, self.frame[self.frame["unit"].isin(keep)].copy(), self.names)

    def window(self, first: date | None = None, last: date | None = None) -> Panel:
        f = self.frame
        mask = np.ones(len(f), dtype=bool)
        if first is not None:
            mask &= (f["period"] >= first).to_numpy()
        if last is not None:
            mask &= (f["period"] <= last).to_numpy()
        return Panel(self.outcome, self.level, f[mask].copy(), self.names)

    def around(self, start: date, post_quarters: int, pre_quarters: int | None) -> Panel:
        """The analysis window: up to `pre_quarters` before the start (all if None) and `post_quarters` from it."""
        h = quarter_index(self.periods, start)
        keep = [p for p, q in zip(self.periods, h, strict=True)
                if q < post_quarters and (pre_quarters is None or q >= -pre_quarters)]
        if not keep:
            raise UserError("no quarters with data in the analysis window")
        return self.window(keep[0], keep[-1])

    def complete_units(self) -> list[str]:
        """Units with a usable value in every period of the panel (methods need balanced panels)."""
        f = self.frame
        usable = f["value"].notna()
        if self.outcome.counts:
            usable &= f["numerator"].notna() & (f["denominator"] > 0)
        n_periods = len(self.periods)
        counts = f[usable].groupby("unit")["period"].nunique()
        return sorted(counts.index[counts == n_periods])

    def log_rate(self) -> pd.Series:
        """log(numerator / denominator) per row; zero counts get half an event (stated as a caveat)."""
        f = self.frame
        return np.log(np.maximum(f["numerator"].to_numpy(dtype=float), 0.5) / f["denominator"].to_numpy(dtype=float))

    def analysis_value(self) -> pd.Series:
        """The outcome on the scale a linear method works on: log rate for counts, else the value."""
        if self.outcome.counts:
            return pd.Series(self.log_rate(), index=self.frame.index)
        return self.frame["value"].astype(float)


def aggregate(panel: Panel, units) -> pd.DataFrame:
    """One series for a group of units: numerators and denominators summed per period (value recomputed),
    or for non-count indicators the denominator-weighted mean value. Columns period, numerator,
    denominator, value, units (how many units contributed)."""
    f = panel.frame[panel.frame["unit"].isin(set(units))]
    if f.empty:
        raise UserError("none of the units has data for this indicator")
    if panel.outcome.counts:
        out = f.groupby("period").agg(numerator=("numerator", "sum"), denominator=("denominator", "sum"),
                                      units=("unit", "nunique")).reset_index()
        out["value"] = out["numerator"] / out["denominator"] * panel.outcome.multiplier
        return out
    weights = f["denominator"].fillna(1.0) if "denominator" in f else pd.Series(1.0, index=f.index)
    g = f.assign(_w=weights.to_numpy(), _wv=weights.to_numpy() * f["value"].to_numpy())
    sums = {c: (c, "sum") for c in ("numerator", "denominator") if c in g}
    out = g.groupby("period").agg(_w=("_w", "sum"), _wv=("_wv", "sum"), units=("unit", "nunique"),
                                  **sums).reset_index()
    for column in ("numerator", "denominator"):
        if column not in out:
            out[column] = np.nan
    out["value"] = out["_wv"] / out["_w"]
    return out.drop(columns=["_w", "_wv"])


def quarter_index(periods, origin: date) -> np.ndarray:
    """Whole quarters from `origin` to each period (negative before)."""
    p = pd.to_datetime(pd.Series(list(periods)))
    o = pd.Timestamp(origin)
    return ((p.dt.year - o.year) * 12 + (p.dt.month - o.month)).to_numpy() // 3


def load_outcome(con, indicator_id: str) -> Outcome:
    """The stored definition of an indicator with results in the warehouse."""
    row = con.execute(
        """SELECT d.indicator_id, d.title, d.unit, d.multiplier, d.measure_type, d.polarity
           FROM indicator_definition d
           JOIN (SELECT DISTINCT indicator_id, version FROM indicator_value) USING (indicator_id, version)
           WHERE d.indicator_id = ?""", [indicator_id]).fetchone()
    if row is None:
        raise UserError(f"no stored results for indicator {indicator_id!r}: check the id "
                        "(`gpcluster indicators list`) and run `gpcluster indicators compute`")
    return Outcome(*row)


def load_panel(con, indicator_id: str, level: str = "practice", area_codes: list[str] | None = None) -> Panel:
    """All quarters of one indicator at one level from the warehouse (unsuppressed: server-side only).

    `group` is the HSCP of each practice or cluster (membership in force in that quarter)."""
    if level not in LEVELS:
        raise UserError(f"level must be one of {', '.join(LEVELS)}, got {level!r}")
    outcome = load_outcome(con, indicator_id)
    frame = con.execute(
        """SELECT v.area_code AS unit, v.period, v.numerator, v.denominator, v.value,
                  v.hscp_code AS "group", v.cluster_id,
                  coalesce(p.practice_name, c.cluster_name, h.hscp_name, b.board_name,
                           CASE WHEN v.level = 'scotland' THEN 'Scotland' END) AS name
           FROM indicator_value v
           LEFT JOIN practice p ON v.level = 'practice' AND p.practice_code = v.area_code
           LEFT JOIN cluster c ON v.level = 'cluster' AND c.cluster_id = v.area_code
           LEFT JOIN hscp h ON v.level = 'hscp' AND h.hscp_code = v.area_code
           LEFT JOIN board b ON v.level = 'board' AND b.board_code = v.area_code
           WHERE v.indicator_id = ? AND v.level = ?
             AND (?::VARCHAR[] IS NULL OR list_contains(?::VARCHAR[], v.area_code))
           ORDER BY v.area_code, v.period""",
        [indicator_id, level, area_codes, area_codes]).df()
    if frame.empty:
        raise UserError(f"no {level}-level values of {indicator_id} in the warehouse")
    frame["period"] = [ts.date() for ts in pd.to_datetime(frame["period"])]
    names = dict(zip(frame["unit"], frame["name"].fillna(frame["unit"]), strict=False))
    return Panel(outcome, level, frame.drop(columns=["name"]), names)
