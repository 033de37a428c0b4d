"""Age-sex structure model shared by data zones and practice lists.

Each area or practice has an *age index* (0 = Scotland's average structure, positive = older). Band
weights are Scotland's approximate registered-list shares tilted by exp(beta * index): deprived urban
areas come out younger, remote rural and affluent areas older.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from gpcluster.synthetic.geography import RURAL_LEVEL, largest_remainder

# PHS practice-population age bands: (label used in file columns, first age, last age).
AGE_BANDS: tuple[tuple[str, int, int], ...] = (
    ("0to4", 0, 4), ("5to14", 5, 14), ("15to24", 15, 24), ("25to44", 25, 44),
    ("45to64", 45, 64), ("65to74", 65, 74), ("75to84", 75, 84), ("85plus", 85, 90),
)
# Approximate Scottish registered-list shares by band (sum 1) and the tilt each band gets per unit of age index.
BASE_BAND_SHARE = np.array([0.041, 0.102, 0.113, 0.286, 0.265, 0.104, 0.066, 0.023])
AGE_TILT = np.array([-0.45, -0.35, -0.45, -0.35, 0.10, 0.55, 0.75, 0.85])
# Share of each band that is male (women outlive men, so the oldest bands are mostly female).
MALE_SHARE = np.array([0.512, 0.512, 0.500, 0.494, 0.490, 0.480, 0.445, 0.350])
SINGLE_AGES = 91  # 0..89 and 90+


def age_index(simd_rank: np.ndarray, n_zones: int, ur8: np.ndarray, noise: np.ndarray) -> np.ndarray:
    """Age index from deprivation (rank 1 = most deprived, younger) and rurality (remote = older)."""
    affluence = (np.asarray(simd_rank) - 0.5 * n_zones) / (0.5 * n_zones)  # -1 most deprived .. +1 least
    return 0.45 * affluence + 0.75 * RURAL_LEVEL[np.asarray(ur8) - 1] - 0.2 + noise


def band_shares(index: np.ndarray) -> np.ndarray:
    """(n, 8) age-band shares for each age index."""
    weights = BASE_BAND_SHARE[None, :] * np.exp(AGE_TILT[None, :] * np.asarray(index)[:, None])
    return weights / weights.sum(axis=1, keepdims=True)


def band_sex_cells(totals: np.ndarray, index: np.ndarray) -> np.ndarray:
    """Integer (n, 2, 8) male/female x band counts summing exactly to `totals`."""
    shares = band_shares(index)
    cells = np.concatenate([shares * MALE_SHARE, shares * (1 - MALE_SHARE)], axis=1)
    return largest_remainder(cells, totals).reshape(-1, 2, len(AGE_BANDS))


def _single_year_weights(index: np.ndarray) -> np.ndarray:
    ages = np.arange(SINGLE_AGES)
    band_of = np.array([i for i, (_, lo, hi) in enumerate(AGE_BANDS) for _ in range(lo, hi + 1)])
    width = np.bincount(band_of)
    per_year = BASE_BAND_SHARE[band_of] / width[band_of]
    # Within 85+, most people are 85-89; 90+ is one column holding about a third of the band.
    per_year = np.where(ages >= 85, np.where(ages == 90, BASE_BAND_SHARE[-1] * 0.33,
                                             BASE_BAND_SHARE[-1] * 0.67 / 5), per_year)
    tilt = np.interp(ages, [(lo + hi) / 2 for _, lo, hi in AGE_BANDS], AGE_TILT)
    return per_year[None, :] * np.exp(tilt[None, :] * np.asarray(index)[:, None])


def data_zone_populations(rng: np.random.Generator, dz: pd.DataFrame, year: int) -> pd.DataFrame:
    """Single-year-of-age population by sex for every data zone, in the PHS DZ2011 estimates layout."""
    n = len(dz)
    index = age_index(dz["rank"].to_numpy(), n, dz["ur8"].to_numpy(), rng.normal(0.0, 0.2, n))
    totals = np.round(rng.lognormal(np.log(760.0), 0.22, n)).astype(np.int64)
    weights = _single_year_weights(index)
    band_of = np.minimum(np.searchsorted([lo for _, lo, _ in AGE_BANDS], np.arange(SINGLE_AGES), "right") - 1, 7)
    male = MALE_SHARE[band_of]
    probs = np.concatenate([weights * male, weights * (1 - male)], axis=1)
    probs /= probs.sum(axis=1, keepdims=True)
    counts = rng.multinomial(totals, probs).reshape(n, 2, SINGLE_AGES)
    by_sex = {"Male": counts[:, 0, :], "Female": counts[:, 1, :], "All": counts.sum(axis=1)}
    age_columns = [f"Age{a}" for a in range(SINGLE_AGES - 1)] + ["Age90plus"]
    frames = []
    for sex, values in by_sex.items():
        frame = pd.DataFrame(values, columns=age_columns)
        frame.insert(0, "AllAges", values.sum(axis=1))
        frame.insert(0, "SexQF", "d" if sex == "All" else "")
        frame.insert(0, "Sex", sex)
        frame.insert(0, "DataZoneQF", "")
        frame.insert(0, "DataZone", dz["DataZone"].to_numpy())
        frame.insert(0, "Year", year)
        frame["_order"] = np.arange(n) * 3 + ("Male", "Female", "All").index(sex)
        frames.append(frame)
    out = pd.concat(frames, ignore_index=True).sort_values("_order", kind="stable")
    return out.drop(columns="_order").reset_index(drop=True)
