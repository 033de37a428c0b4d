"""Synthetic practice activity with documented relationships to age, sex, deprivation and rurality,
plus planted signals (step changes, trends, outliers) that the signal detection should find.

Counts are Poisson draws per practice, quarter, sex and age band (consultations, admissions, attendances)
or binomial draws (high-risk prescribing) around expected values built from the practice's own list.
Practices genuinely differ beyond chance: each has a persistent effect on its rates (between-practice
heterogeneity, the overdispersion a funnel plot must allow for), a slow drift (AR(1)) and extra noise
each quarter; rates follow the season. National age-sex-specific rates of every quarter are returned
too (the reference for indirect standardisation). The model is described in README.md next to this file.
Planted signals are drawn from their own random stream, so `planted_signals` gives the same answer
whether or not files are written; a null world has none.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import numpy as np
import pandas as pd

MEASURES = ("gp_consultations", "mdt_consultations", "emergency_admissions", "ae_attendances",
            "high_risk_rx_patients", "high_risk_rx_denominator")
POISSON_MEASURES = MEASURES[:4]

# Annual events per registered person by PHS age band (0-4, 5-14, 15-24, 25-44, 45-64, 65-74, 75-84, 85+).
ANNUAL_RATE = {
    "gp_consultations": np.array([5.0, 2.2, 2.6, 3.0, 3.9, 5.4, 7.0, 8.5]),
    "mdt_consultations": np.array([0.8, 0.5, 0.7, 0.9, 1.1, 1.5, 2.0, 2.4]),  # once fully rolled out
    "emergency_admissions": np.array([0.06, 0.02, 0.04, 0.05, 0.08, 0.16, 0.30, 0.55]),
    "ae_attendances": np.array([0.45, 0.22, 0.35, 0.28, 0.22, 0.25, 0.38, 0.60]),
}
FEMALE_RATE_RATIO = {"gp_consultations": 1.25, "mdt_consultations": 1.2, "emergency_admissions": 1.0,
                     "ae_attendances": 0.95}
# Rate ratios by SIMD quintile of the practice's data zone (1 = most deprived .. 5 = least).
SIMD_RATE_RATIO = {
    "gp_consultations": np.array([1.30, 1.20, 1.10, 1.05, 1.00]),
    "mdt_consultations": np.array([1.20, 1.15, 1.10, 1.05, 1.00]),
    "emergency_admissions": np.array([1.80, 1.45, 1.20, 1.07, 1.00]),
    "ae_attendances": np.array([1.70, 1.40, 1.20, 1.08, 1.00]),
    "high_risk_rx_denominator": np.array([1.15, 1.10, 1.05, 1.00, 0.97]),
    "high_risk_rx_patients": np.array([1.30, 1.20, 1.10, 1.05, 1.00]),
}
# Rate ratios by 8-fold urban-rural class (1 large urban .. 8 very remote rural). A&E falls with distance.
URBAN_RURAL_RATE_RATIO = {
    "gp_consultations": np.array([1.00, 1.00, 1.02, 1.05, 1.08, 1.02, 1.05, 1.08]),
    "mdt_consultations": np.array([1.00, 1.00, 0.95, 0.90, 0.85, 0.95, 0.90, 0.85]),
    "emergency_admissions": np.array([1.00, 1.00, 1.00, 0.95, 0.92, 0.95, 0.90, 0.88]),
    "ae_attendances": np.array([1.00, 0.95, 0.85, 0.65, 0.55, 0.75, 0.55, 0.45]),
    "high_risk_rx_denominator": np.ones(8),
    "high_risk_rx_patients": np.array([1.00, 1.00, 1.03, 1.08, 1.12, 1.05, 1.10, 1.15]),
}
# Seasonality by calendar quarter starting Jan, Apr, Jul, Oct.
SEASON = {
    "gp_consultations": np.array([1.06, 0.97, 0.92, 1.05]),
    "mdt_consultations": np.array([1.06, 0.97, 0.92, 1.05]),
    "emergency_admissions": np.array([1.08, 0.97, 0.95, 1.00]),
    "ae_attendances": np.array([0.96, 1.05, 1.03, 0.96]),
    "high_risk_rx_denominator": np.ones(4),
    "high_risk_rx_patients": np.ones(4),
}
HIGH_RISK_DENOMINATOR_SHARE_65PLUS = 0.28  # patients 65+ prescribed the relevant drugs in a quarter
HIGH_RISK_FLAG_PROBABILITY = 0.07  # of those, share flagged, falling 4% a year with safer prescribing
CONTRACT_2018 = date(2018, 4, 1)
# Variation of a practice's log rate beyond Poisson noise, for every measure:
PRACTICE_EFFECT_SD = 0.08  # persistent between-practice heterogeneity (overdispersion across practices)
DRIFT_SD = 0.012  # quarterly innovation of a slow AR(1) drift in each practice's rate ...
DRIFT_RHO = 0.9  # ... and its persistence (stationary sd about 0.028)
QUARTER_NOISE_SD = 0.02  # independent extra-Poisson noise each quarter
SEXES = ("Male", "Female")
AGE_BANDS = ("0-4", "5-14", "15-24", "25-44", "45-64", "65-74", "75-84", "85+")


@dataclass(frozen=True)
class PlantedSignal:
    """A deliberate, known change in one practice's activity. `effect` multiplies the expected value
    (for a trend, the multiplier reached at the end of the ramp); `start` is None for a whole-period outlier."""

    practice_code: str
    measure: str
    kind: str  # 'step', 'trend' or 'outlier'
    start: date | None
    effect: float
    description: str


# (measure, kind, effect, how many practices, smallest list): steps and trends start in the middle third
# of the run, after at least BASELINE_QUARTERS. The smallest list keeps each effect at least about four
# times the practice's own quarter-to-quarter noise, so that a sound method can see it within two quarters.
SIGNAL_PLAN = (
    ("gp_consultations", "step", 1.25, 4, 3000),
    ("gp_consultations", "step", 0.8, 3, 3000),
    ("mdt_consultations", "step", 1.4, 3, 4000),
    ("emergency_admissions", "step", 1.5, 4, 5000),
    ("ae_attendances", "step", 0.6, 4, 5000),
    ("ae_attendances", "step", 1.4, 3, 5000),
    ("gp_consultations", "trend", 1.35, 3, 3000),
    ("emergency_admissions", "outlier", 1.8, 3, 4000),
    ("ae_attendances", "outlier", 1.7, 3, 4000),
    ("high_risk_rx_patients", "outlier", 2.5, 4, 5000),
)
TREND_QUARTERS = 10
BASELINE_QUARTERS = 14  # quarters before a planted step or trend may start


def choose_signals(rng: np.random.Generator, codes: np.ndarray, eligible: np.ndarray,
                   releases: list[date], list_size: np.ndarray | None = None) -> list[PlantedSignal]:
    """Pick distinct eligible practices for each planned signal (eligible: open throughout, no events;
    `list_size` (the first release's) must reach the plan's smallest list for that signal)."""
    order = list(rng.permutation(np.flatnonzero(eligible)))
    sizes = np.full(len(codes), np.inf) if list_size is None else np.asarray(list_size, dtype=float)
    quarters = len(releases)
    lo = min(max(1, quarters // 3, BASELINE_QUARTERS), quarters - 1)
    hi = max(lo + 1, 2 * quarters // 3)
    signals = []
    taken: set[int] = set()
    for measure, kind, effect, count, smallest in SIGNAL_PLAN:
        pool = [p for p in order if p not in taken and sizes[p] >= smallest]
        for p in pool[:count]:
            taken.add(p)
            start = None if kind == "outlier" else releases[min(int(rng.integers(lo, hi)), quarters - 1)]
            what = {"step": f"step change x{effect} from {start}",
                    "trend": f"rising trend to x{effect} over {TREND_QUARTERS} quarters from {start}",
                    "outlier": f"x{effect} throughout (funnel-plot outlier)"}[kind]
            signals.append(PlantedSignal(str(codes[p]), measure, kind, start, effect, what))
    return signals


def planted_table(signals: list[PlantedSignal]) -> pd.DataFrame:
    """The planted signals as a table (the truth file written next to the synthetic data)."""
    return pd.DataFrame({
        "PracticeCode": [s.practice_code for s in signals], "Measure": [s.measure for s in signals],
        "Kind": [s.kind for s in signals],
        "Start": [s.start.strftime("%Y%m%d") if s.start else "" for s in signals],
        "Effect": [s.effect for s in signals], "Description": [s.description for s in signals]})


def _signal_multipliers(signals, codes, releases) -> dict[str, np.ndarray]:
    index = {str(c): i for i, c in enumerate(codes)}
    out = {m: np.ones((len(codes), len(releases))) for m in MEASURES}
    for s in signals:
        row = out[s.measure][index[s.practice_code]]
        if s.kind == "outlier":
            row *= s.effect
            continue
        q0 = releases.index(s.start)
        if s.kind == "step":
            row[q0:] *= s.effect
        else:
            steps = np.minimum(np.arange(len(releases) - q0) + 1, TREND_QUARTERS) / TREND_QUARTERS
            row[q0:] *= 1 + (s.effect - 1) * steps
    return out


def _mdt_rollout(releases: list[date], urban: np.ndarray) -> np.ndarray:
    """Share of full MDT capacity: 15% before the 2018 GMS contract, then an S-curve, faster in urban HSCPs."""
    years = np.array([(d - CONTRACT_2018).days / 365.25 for d in releases])
    midpoint = np.where(urban, 2.0, 3.5)[:, None]
    curve = 0.15 + 0.85 / (1 + np.exp(-(years[None, :] - midpoint) / 0.8))
    return np.where(years[None, :] < 0, 0.15, curve)


def _practice_variation(rng: np.random.Generator, n: int, quarters: int) -> np.ndarray:
    """exp(persistent effect + AR(1) drift + quarter noise): each practice's own departure from the model."""
    persistent = rng.normal(0, PRACTICE_EFFECT_SD, n)[:, None]
    innovations = rng.normal(0, DRIFT_SD, (n, quarters))
    drift = np.zeros((n, quarters))
    drift[:, 0] = innovations[:, 0] / np.sqrt(1 - DRIFT_RHO**2)  # start from the stationary spread
    for t in range(1, quarters):
        drift[:, t] = DRIFT_RHO * drift[:, t - 1] + innovations[:, t]
    return np.exp(persistent + drift + rng.normal(0, QUARTER_NOISE_SD, (n, quarters)))


@dataclass(frozen=True)
class SimulatedActivity:
    """Practice activity counts (local-extract layout) and Scotland's age-sex-specific rates per quarter."""

    counts: pd.DataFrame  # Date, PracticeCode, Measure, Value
    reference_rates: pd.DataFrame  # Date, Measure, Sex, AgeBand, Rate (events per person per quarter)


def simulate_activity(rng: np.random.Generator, cells: np.ndarray, active: np.ndarray, simd_quintile: np.ndarray,
                      ur8: np.ndarray, urban_hscp: np.ndarray, codes: np.ndarray, releases: list[date],
                      signals: list[PlantedSignal]) -> SimulatedActivity:
    """Activity counts for active quarters, and the national rates by sex and age band they imply.

    `cells` is (practice, quarter, sex [male, female], band) registered population.
    """
    n, quarters = len(codes), len(releases)
    season_of = np.array([(d.month - 1) // 3 for d in releases])
    years = np.array([(d - releases[0]).days / 365.25 for d in releases])
    after_contract = np.array([max(0.0, (d - CONTRACT_2018).days / 365.25) for d in releases])
    planted = _signal_multipliers(signals, codes, releases)
    q, u = simd_quintile - 1, ur8 - 1
    live = active[:, :, None, None]
    values, rates = {}, []
    for m in POISSON_MEASURES:
        per_cell = cells * (ANNUAL_RATE[m] / 4)[None, None, None, :]
        per_cell[:, :, 1, :] *= FEMALE_RATE_RATIO[m]
        multiplier = ((SIMD_RATE_RATIO[m][q] * URBAN_RURAL_RATE_RATIO[m][u])[:, None]
                      * SEASON[m][season_of][None, :] * _practice_variation(rng, n, quarters) * planted[m])
        if m == "gp_consultations":
            multiplier *= (0.99 ** after_contract)[None, :]  # some demand shifts to the MDT
        if m == "mdt_consultations":
            multiplier *= _mdt_rollout(releases, urban_hscp)
        counts = rng.poisson(np.where(live, per_cell * multiplier[:, :, None, None], 0.0))
        values[m] = counts.sum(axis=(2, 3))
        with np.errstate(invalid="ignore", divide="ignore"):
            national = counts.sum(axis=0) / (cells * live).sum(axis=0)  # quarter x sex x band
        rates.append(_rate_table(national, m, releases))
    over65 = cells[:, :, :, 5:].sum(axis=(2, 3))
    d = "high_risk_rx_denominator"
    p_den = np.clip(HIGH_RISK_DENOMINATOR_SHARE_65PLUS * SIMD_RATE_RATIO[d][q] * planted[d].T, 0, 1).T
    values[d] = rng.binomial(np.where(active, over65, 0), p_den)
    k = "high_risk_rx_patients"
    p_flag = (HIGH_RISK_FLAG_PROBABILITY * (SIMD_RATE_RATIO[k][q] * URBAN_RURAL_RATE_RATIO[k][u])[:, None]
              * (0.96 ** years)[None, :] * _practice_variation(rng, n, quarters) * planted[k])
    values[k] = rng.binomial(values[d], np.clip(p_flag, 0, 1))
    p_idx, t_idx = np.nonzero(active)
    dates = np.array([int(r.strftime("%Y%m%d")) for r in releases])
    frames = [pd.DataFrame({"Date": dates[t_idx], "PracticeCode": codes[p_idx], "Measure": m,
                            "Value": values[m][p_idx, t_idx]}) for m in MEASURES]
    out = pd.concat(frames, ignore_index=True)
    out["_m"] = out["Measure"].map({m: i for i, m in enumerate(MEASURES)})
    out = out.sort_values(["Date", "PracticeCode", "_m"], kind="stable").drop(columns="_m").reset_index(drop=True)
    return SimulatedActivity(out, pd.concat(rates, ignore_index=True))


def _rate_table(national: np.ndarray, measure: str, releases: list[date]) -> pd.DataFrame:
    quarter, sex, band = np.meshgrid(np.arange(len(releases)), np.arange(2), np.arange(8), indexing="ij")
    return pd.DataFrame({
        "Date": [int(releases[i].strftime("%Y%m%d")) for i in quarter.ravel()], "Measure": measure,
        "Sex": np.array(SEXES)[sex.ravel()], "AgeBand": np.array(AGE_BANDS)[band.ravel()],
        "Rate": np.round(np.nan_to_num(national.ravel()), 8)})
