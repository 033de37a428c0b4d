"""Synthetic practice activity with documented relationships to age, sex, deprivation and rurality,
plus planted signals (step changes, trends, outliers) that the indicator engine should find.

Counts are Poisson (consultations, admissions, attendances) or binomial (high-risk prescribing) draws
around expected values built from the practice's own list by age band and sex; the model is described
in README.md next to this file. Planted signals are drawn from their own random stream, so
`planted_signals` gives the same answer whether or not files are written.
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
PRACTICE_EFFECT_SD = 0.08  # between-practice variation in log rate, constant over time


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


# (measure, kind, effect, how many practices): steps and trends start in the middle third of the run.
SIGNAL_PLAN = (
    ("emergency_admissions", "step", 1.5, 4),
    ("ae_attendances", "step", 0.6, 3),
    ("gp_consultations", "trend", 1.3, 3),
    ("high_risk_rx_patients", "outlier", 2.5, 4),
    ("emergency_admissions", "outlier", 1.7, 3),
)
TREND_QUARTERS = 10


def choose_signals(rng: np.random.Generator, codes: np.ndarray, eligible: np.ndarray,
                   releases: list[date]) -> list[PlantedSignal]:
    """Pick distinct eligible practices for each planned signal (eligible: open throughout, no events,
    a list big enough for the signal to stand out of Poisson noise)."""
    pool = list(rng.permutation(np.flatnonzero(eligible)))
    quarters = len(releases)
    lo, hi = max(1, quarters // 3), max(2, 2 * quarters // 3)
    signals = []
    for measure, kind, effect, count in SIGNAL_PLAN:
        for _ in range(min(count, len(pool))):
            p = int(pool.pop())
            start = None if kind == "outlier" else releases[min(int(rng.integers(lo, hi)), quarters - 1)]
            what = {"step": f"step change x{effect} from {start}",
                    "trend": f"rising trend to x{effect} over {TREND_QUARTERS} quarters from {start}",
                    "outlier": f"x{effect} throughout (funnel-plot outlier)"}[kind]
            signals.append(PlantedSignal(str(codes[p]), measure, kind, start, effect, what))
    return signals


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


def simulate_activity(rng: np.random.Generator, cells: np.ndarray, active: np.ndarray, simd_quintile: np.ndarray,
                      ur8: np.ndarray, urban_hscp: np.ndarray, codes: np.ndarray, releases: list[date],
                      signals: list[PlantedSignal]) -> pd.DataFrame:
    """Activity counts in the local-extract layout (Date, PracticeCode, Measure, Value), active quarters only.

    `cells` is (practice, quarter, sex [male, female], band) registered population.
    """
    season_of = np.array([(d.month - 1) // 3 for d in releases])
    years = np.array([(d - releases[0]).days / 365.25 for d in releases])
    after_contract = np.array([max(0.0, (d - CONTRACT_2018).days / 365.25) for d in releases])
    planted = _signal_multipliers(signals, codes, releases)
    q, u = simd_quintile - 1, ur8 - 1
    values = {}
    for m in POISSON_MEASURES:
        female = FEMALE_RATE_RATIO[m]
        per_quarter = (cells[:, :, 0, :] @ ANNUAL_RATE[m] + female * (cells[:, :, 1, :] @ ANNUAL_RATE[m])) / 4
        expected = (per_quarter * (SIMD_RATE_RATIO[m][q] * URBAN_RURAL_RATE_RATIO[m][u])[:, None]
                    * SEASON[m][season_of][None, :]
                    * np.exp(rng.normal(0, PRACTICE_EFFECT_SD, len(codes)))[:, None] * planted[m])
        if m == "gp_consultations":
            expected *= (0.99 ** after_contract)[None, :]  # some demand shifts to the MDT
        if m == "mdt_consultations":
            expected *= _mdt_rollout(releases, urban_hscp)
        values[m] = rng.poisson(np.where(active, expected, 0.0))
    over65 = cells[:, :, :, 5:].sum(axis=(2, 3))
    d = "high_risk_rx_denominator"
    p_den = np.clip(HIGH_RISK_DENOMINATOR_SHARE_65PLUS * SIMD_RATE_RATIO[d][q] * planted[d].T, 0, 1).T
    values[d] = rng.binomial(np.where(active, over65, 0), p_den)
    n = "high_risk_rx_patients"
    p_flag = (HIGH_RISK_FLAG_PROBABILITY * (SIMD_RATE_RATIO[n][q] * URBAN_RURAL_RATE_RATIO[n][u]
                                            * np.exp(rng.normal(0, 0.1, len(codes))))[:, None]
              * (0.96 ** years)[None, :] * planted[n])
    values[n] = rng.binomial(values[d], np.clip(p_flag, 0, 1))
    p_idx, t_idx = np.nonzero(active)
    dates = np.array([int(r.strftime("%Y%m%d")) for r in releases])
    frames = [pd.DataFrame({"Date": dates[t_idx], "PracticeCode": codes[p_idx], "Measure": m,
                            "Value": values[m][p_idx, t_idx]}) for m in MEASURES]
    out = pd.concat(frames, ignore_index=True)
    out["_m"] = out["Measure"].map({m: i for i, m in enumerate(MEASURES)})
    return out.sort_values(["Date", "PracticeCode", "_m"], kind="stable").drop(columns="_m").reset_index(drop=True)
