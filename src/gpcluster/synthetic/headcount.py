"""A single GP headcount snapshot by practice, designation and sex (PHS GP contact details, aggregated)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from gpcluster.synthetic.geography import RURAL_LEVEL

DESIGNATIONS = ("PERFORMER", "PERFORMER SALARIED", "PERFORMER REGISTRAR", "PERFORMER RETAINEE")
DESIGNATION_SHARE = np.array([0.52, 0.28, 0.14, 0.06])
FEMALE_SHARE = np.array([0.49, 0.65, 0.60, 0.95])
UNKNOWN_SEX_SHARE = np.array([0.0, 0.0, 0.12, 0.0])  # registrars are sometimes published without sex
PATIENTS_PER_GP = 1550.0


def patients_per_gp(simd_quintile: np.ndarray, ur8: np.ndarray) -> np.ndarray:
    """Expected list per GP: ~1,550 in affluent urban practices, more in deprived and remote ones."""
    return PATIENTS_PER_GP * (1 + 0.05 * (5 - simd_quintile)) * (1 + 0.15 * RURAL_LEVEL[ur8 - 1])


def gp_headcount(rng: np.random.Generator, practices: pd.DataFrame, list_size: np.ndarray,
                 simd_quintile: np.ndarray, ur8: np.ndarray) -> pd.DataFrame:
    """Headcount rows (PracticeCode, HB, HSCP, GPDesignation, Sex, Headcount), zero cells omitted."""
    total = np.maximum(rng.poisson(list_size / patients_per_gp(simd_quintile, ur8)), 1)
    by_designation = rng.multinomial(total, DESIGNATION_SHARE)
    unknown = rng.binomial(by_designation, UNKNOWN_SEX_SHARE)
    female = rng.binomial(by_designation - unknown, FEMALE_SHARE)
    male = by_designation - unknown - female
    frames = []
    for d, designation in enumerate(DESIGNATIONS):
        for sex, counts in (("Female", female), ("Male", male), ("Unknown", unknown)):
            frames.append(pd.DataFrame({"PracticeCode": practices["code"].to_numpy(), "HB": practices["hb"].to_numpy(),
                                        "HSCP": practices["hscp"].to_numpy(), "GPDesignation": designation,
                                        "Sex": sex, "Headcount": counts[:, d], "_d": d}))
    out = pd.concat(frames, ignore_index=True)
    out = out[out["Headcount"] > 0].sort_values(["PracticeCode", "_d", "Sex"], kind="stable")
    return out.drop(columns="_d").reset_index(drop=True)
