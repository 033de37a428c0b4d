"""A fast simulator of realistic practice panels, for power checks and the evaluation benchmark.

Quarterly counts for each practice i and quarter t:

    log mu_it = log(list_i) + log(rate) + a_i + season(t) + trend * t + g_t + u_it
    y_it ~ negative binomial with mean mu_it and shape k (variance mu + mu^2 / k)

a_i ~ N(0, practice_sd) (practice heterogeneity); g_t: a national AR(1) shock common to every practice
(sd national_sd, correlation national_rho); u_it: each practice's own AR(1) deviation (sd ar_sd,
correlation ar_rho); list sizes lognormal around 5,600 (sd 0.42 on the log scale), as in the
synthetic Scotland. Effects are planted with the same functions as the synthetic Scotland
(gpcluster.synthetic.interventions): counts thinned or topped up by the effect's multiplier.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date

import numpy as np
import pandas as pd

from gpcluster.evaluation.panel import Outcome, Panel
from gpcluster.synthetic.interventions import apply_multipliers, multiplier

SEASON = np.array([1.06, 0.97, 0.92, 1.05])  # Jan, Apr, Jul, Oct quarters (synthetic GP consultations)


@dataclass(frozen=True)
class PanelModel:
    """Parameters of the simulated panel (defaults: GP consultations per patient per quarter)."""

    rate: float = 0.95
    practice_sd: float = 0.15
    trend: float = -0.0025
    national_sd: float = 0.01
    national_rho: float = 0.5
    ar_sd: float = 0.03
    ar_rho: float = 0.5
    nb_shape: float = 400.0
    list_median: float = 5600.0
    list_sd: float = 0.42
    season: tuple[float, ...] = tuple(SEASON)

    def with_(self, **changes) -> PanelModel:
        return replace(self, **changes)


EMERGENCY_ADMISSIONS = PanelModel(rate=0.025, season=(1.08, 0.97, 0.95, 1.00), nb_shape=60.0, ar_sd=0.03)
OUTCOME = Outcome("simulated_rate", "Simulated events per 1,000 patients", "per 1,000 patients per quarter",
                  1000.0, "crude_rate", "neither")


def quarters(first: date, n: int) -> list[date]:
    months = first.year * 12 + first.month - 1 + 3 * np.arange(n)
    return [date(int(m // 12), int(m % 12 + 1), 1) for m in months]


def _ar1(rng: np.random.Generator, shape: tuple[int, ...], sd: float, rho: float) -> np.ndarray:
    """Stationary AR(1) along the last axis with marginal sd `sd`."""
    e = rng.normal(0.0, sd * np.sqrt(1 - rho**2), shape)
    out = np.empty(shape)
    out[..., 0] = rng.normal(0.0, sd, shape[:-1])
    for t in range(1, shape[-1]):
        out[..., t] = rho * out[..., t - 1] + e[..., t]
    return out


def simulate_counts(rng: np.random.Generator, n_units: int, periods: list[date],
                    model: PanelModel = PanelModel()) -> tuple[np.ndarray, np.ndarray]:
    """(counts, list sizes), each (unit, quarter)."""
    n_t = len(periods)
    lists = np.round(model.list_median * np.exp(rng.normal(0, model.list_sd, n_units)))
    lists = np.maximum(lists, 500)[:, None] * np.ones((1, n_t))
    season = np.log(np.asarray(model.season))[[(p.month - 1) // 3 for p in periods]]
    log_mu = (np.log(lists) + np.log(model.rate) + rng.normal(0, model.practice_sd, n_units)[:, None]
              + season[None, :] + model.trend * np.arange(n_t)[None, :]
              + _ar1(rng, (n_t,), model.national_sd, model.national_rho)[None, :]
              + _ar1(rng, (n_units, n_t), model.ar_sd, model.ar_rho))
    mu = np.exp(log_mu)
    lam = rng.gamma(model.nb_shape, mu / model.nb_shape) if np.isfinite(model.nb_shape) else mu
    return rng.poisson(lam), lists


def simulate_panel(rng: np.random.Generator, n_units: int, n_periods: int, first: date = date(2016, 4, 1),
                   model: PanelModel = PanelModel(), prefix: str = "P") -> tuple[Panel, np.ndarray]:
    """A practice panel (units P001, P002, ...) and its count matrix (unit, quarter)."""
    periods = quarters(first, n_periods)
    counts, lists = simulate_counts(rng, n_units, periods, model)
    units = [f"{prefix}{i + 1:03d}" for i in range(n_units)]
    return _to_panel(units, periods, counts, lists), counts


def _to_panel(units: list[str], periods: list[date], counts: np.ndarray, lists: np.ndarray,
              groups: list[str] | None = None) -> Panel:
    n_u, n_t = counts.shape
    frame = pd.DataFrame({"unit": np.repeat(units, n_t), "period": periods * n_u,
                          "numerator": counts.ravel().astype(float), "denominator": lists.ravel()})
    frame["value"] = frame["numerator"] / frame["denominator"] * OUTCOME.multiplier
    if groups is not None:
        frame["group"] = np.repeat(groups, n_t)
    return Panel(OUTCOME, "practice", frame)


def plant(rng: np.random.Generator, panel: Panel, starts: dict[str, date], shape: str, effect: float,
          ramp_quarters: int = 0) -> Panel:
    """The panel with an effect planted in the units of `starts` (unit -> start quarter), exactly as in
    the synthetic Scotland."""
    f = panel.frame.copy()
    rows = f.index[f["unit"].isin(set(starts))]
    periods = pd.to_datetime(f.loc[rows, "period"])
    begin = pd.to_datetime(f.loc[rows, "unit"].map(starts))
    since = ((periods.dt.year - begin.dt.year) * 12 + (periods.dt.month - begin.dt.month)).to_numpy() // 3
    m = multiplier(shape, effect, since, ramp_quarters)
    f.loc[rows, "numerator"] = apply_multipliers(rng, f.loc[rows, "numerator"].to_numpy(), m).astype(float)
    f["value"] = f["numerator"] / f["denominator"] * panel.outcome.multiplier
    return Panel(panel.outcome, panel.level, f, panel.names)


def group_units(panel: Panel, groups: dict[str, str], level: str) -> Panel:
    """A higher-level panel (clusters, HSCPs): numerators and denominators summed over member units."""
    f = panel.frame.assign(unit=panel.frame["unit"].map(groups))
    out = f.groupby(["unit", "period"], as_index=False)[["numerator", "denominator"]].sum()
    out["value"] = out["numerator"] / out["denominator"] * panel.outcome.multiplier
    return Panel(panel.outcome, level, out)
