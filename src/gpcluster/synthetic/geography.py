"""Synthetic data zones inside the real HSCPs: SIMD-style ranks, deciles and urban-rural classes."""

from __future__ import annotations

import csv
from importlib import resources

import numpy as np
import pandas as pd

from gpcluster.synthetic.places import HSCP_PROFILES, RURALITY_MIXES

N_DATA_ZONES = 6976  # as many as the real 2011 data zones, so SIMD ranks run over the same range
# Real DZ2011 codes run S01006506..S01013481 and IZ2011 S02001236..S02002514; these ranges cannot collide.
FIRST_DATA_ZONE = 900001
FIRST_INT_ZONE = 900001

# How rural each 8-fold class is (0 = large urban, 1 = very remote rural); drives age and activity models.
RURAL_LEVEL = np.array([0.0, 0.1, 0.3, 0.6, 0.8, 0.5, 0.8, 1.0])
UR8_TO_6 = np.array([1, 2, 3, 4, 4, 5, 6, 6])


def reference_table(name: str) -> list[dict[str, str]]:
    """Rows of an embedded reference CSV (`boards` or `hscps`) from gpcluster.sources.reference."""
    text = resources.files("gpcluster") / "sources" / "reference" / f"{name}.csv"
    text = text.read_text(encoding="utf-8")
    return list(csv.DictReader(text.splitlines()))


def hscp_board() -> dict[str, str]:
    """HSCP code -> board code, from the embedded reference list."""
    return {row["hscp_code"]: row["board_code"] for row in reference_table("hscps")}


def largest_remainder(expected: np.ndarray, totals: np.ndarray) -> np.ndarray:
    """Round each row of non-negative `expected` to integers summing exactly to `totals` (Hamilton method)."""
    expected = np.atleast_2d(np.asarray(expected, dtype=float))
    totals = np.asarray(totals, dtype=np.int64).reshape(-1)
    scaled = expected * (totals / np.maximum(expected.sum(axis=1), 1e-300))[:, None]
    floor = np.floor(scaled).astype(np.int64)
    short = totals - floor.sum(axis=1)
    # Stable sort on the negated remainder: ties go to the earlier column, so the result is deterministic.
    order = np.argsort(-(scaled - floor), axis=1, kind="stable")
    bump = np.arange(expected.shape[1])[None, :] < short[:, None]
    rows = np.arange(expected.shape[0])[:, None]
    floor[rows, order] += bump
    return floor


def equal_count_group(rank_within: np.ndarray, n: np.ndarray, groups: int) -> np.ndarray:
    """Decile (groups=10) or quintile (5) from a 1-based rank among n areas, by data-zone count."""
    return (rank_within - 1) * groups // n + 1


def _hscp_counts(total: int) -> np.ndarray:
    pops = np.array([p.population_k for p in HSCP_PROFILES])
    return largest_remainder(pops[None, :], np.array([total]))[0]


def build_data_zones(rng: np.random.Generator, total: int = N_DATA_ZONES) -> pd.DataFrame:
    """One row per synthetic data zone: codes, area memberships, 8-fold urban-rural class and SIMD ranks.

    Within an HSCP data zones are ordered by locality (urban-rural class), so neighbouring codes and
    intermediate zones resemble each other; deprivation has an HSCP tilt, an intermediate-zone effect and
    data-zone noise, and rural areas score slightly less deprived, as SIMD does.
    """
    boards = hscp_board()
    frames = []
    iz_next = FIRST_INT_ZONE
    for profile, n in zip(HSCP_PROFILES, _hscp_counts(total), strict=True):
        ur8 = np.sort(rng.choice(8, size=n, p=RURALITY_MIXES[profile.rurality])) + 1
        iz_sizes = rng.integers(4, 8, size=n)  # surplus is cut by the cumulative sum below
        iz_of = np.searchsorted(np.cumsum(iz_sizes), np.arange(n), side="right")
        iz_effect = rng.normal(0.0, 0.45, size=iz_of.max() + 1)[iz_of]
        spread = 0.75 if profile.rurality == "city" else 0.55
        latent = (0.55 * profile.deprivation + spread * (iz_effect + rng.normal(0.0, 0.55, size=n))
                  - 0.2 * RURAL_LEVEL[ur8 - 1])
        council = np.empty(n, dtype=object)
        start = 0
        for code, share in profile.councils:
            stop = n if code == profile.councils[-1][0] else start + round(share * n)
            council[start:stop] = code
            start = stop
        frames.append(pd.DataFrame({
            "IntZone": [f"S02{iz_next + i}" for i in iz_of],
            "HB": boards[profile.code],
            "HSCP": profile.code,
            "CA": council,
            "ur8": ur8,
            "latent": latent,
        }))
        iz_next += iz_of.max() + 1
    dz = pd.concat(frames, ignore_index=True)
    dz.insert(0, "DataZone", [f"S01{FIRST_DATA_ZONE + i}" for i in range(len(dz))])
    dz["rank"] = dz["latent"].rank(ascending=False, method="first").astype(np.int64)
    return dz


def simd_table(dz: pd.DataFrame) -> pd.DataFrame:
    """The SIMD 2020v2 open-data layout for the synthetic data zones (rank 1 = most deprived)."""
    n = len(dz)
    out = dz[["DataZone", "IntZone", "HB", "HSCP", "CA"]].copy()
    rank = dz["rank"].to_numpy()
    out["SIMD2020V2Rank"] = rank
    out["SIMD2020V2CountryDecile"] = equal_count_group(rank, n, 10)
    out["SIMD2020V2CountryQuintile"] = equal_count_group(rank, n, 5)
    for column, prefix in (("HB", "HB"), ("HSCP", "HSCP"), ("CA", "CA")):
        within = dz.groupby(column)["rank"].rank(method="first").astype(np.int64).to_numpy()
        size = dz.groupby(column)["rank"].transform("size").to_numpy()
        out[f"SIMD2020V2{prefix}Decile"] = equal_count_group(within, size, 10)
        out[f"SIMD2020V2{prefix}Quintile"] = equal_count_group(within, size, 5)
    cut = round(0.15 * n)
    out["SIMD2020V2Most15pc"] = (rank <= cut).astype(np.int64)
    out["SIMD2020V2Least15pc"] = (rank > n - cut).astype(np.int64)
    return out


def urban_rural_table(dz: pd.DataFrame) -> pd.DataFrame:
    """The PHS urban-rural classification layout (2-, 3-, 6- and 8-fold; qualifier columns empty)."""
    ur8 = dz["ur8"].to_numpy()
    ur6 = UR8_TO_6[ur8 - 1]
    ur3 = np.where(ur6 <= 4, 1, np.where(ur6 == 5, 2, 3))
    ur2 = np.where(ur6 <= 4, 1, 2)
    out = pd.DataFrame({"DataZone": dz["DataZone"]})
    for fold, values in (("2", ur2), ("3", ur3), ("6", ur6), ("8", ur8)):
        out[f"UrbanRural{fold}fold2020"] = values
        out[f"UrbanRural{fold}fold2020QF"] = ""
    return out
