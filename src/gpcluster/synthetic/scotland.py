"""Build the whole synthetic Scotland in memory, deterministically from one seed.

Each component draws from its own child of `numpy.random.SeedSequence(seed)`, so changing one model
does not reshuffle the others and `planted_signals` agrees with the written files.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np
import pandas as pd

from gpcluster.synthetic.activity import PlantedSignal, choose_signals, simulate_activity
from gpcluster.synthetic.geography import (
    build_data_zones,
    equal_count_group,
    reference_table,
    simd_table,
    urban_rural_table,
)
from gpcluster.synthetic.headcount import gp_headcount
from gpcluster.synthetic.history import History, quarter_starts, simulate
from gpcluster.synthetic.interventions import PLANS, TRUTH_COLUMNS, plant_interventions, practice_frame
from gpcluster.synthetic.places import HSCP_PROFILES
from gpcluster.synthetic.populations import age_index, band_sex_cells, data_zone_populations
from gpcluster.synthetic.practices import build_initial_practices

DEFAULT_SEED = 20180401
DEFAULT_START = "2016-04-01"
DEFAULT_QUARTERS = 36
POPULATION_YEAR = 2021
AGEING_PER_YEAR = 0.012  # drift of every practice's age index: Scotland's lists get older
NEW_PRACTICE_YOUNGER = 0.3  # new practices (growth areas) register younger families
SIGNAL_MIN_LIST = 4000
STREAMS = ("geography", "dz_population", "practices", "history", "structure", "signals", "activity", "headcount",
           "interventions")
URBAN_MIXES = {"city", "suburban", "urban"}


@dataclass
class SyntheticScotland:
    """All synthetic tables. `cells` is (practice, quarter, sex [male, female], age band) list population."""

    seed: int
    data_zones: pd.DataFrame
    simd: pd.DataFrame
    urban_rural: pd.DataFrame
    data_zone_populations: pd.DataFrame
    history: History
    cells: np.ndarray
    simd_quintile: np.ndarray
    ur8: np.ndarray
    headcount: pd.DataFrame
    activity: pd.DataFrame
    reference_rates: pd.DataFrame
    signals: list[PlantedSignal]
    # truth table of the planted interventions (synthetic/interventions.py); empty for a scaled Scotland
    interventions: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=TRUTH_COLUMNS))


def _streams(seed: int) -> dict[str, np.random.Generator]:
    children = np.random.SeedSequence(seed).spawn(len(STREAMS))
    return {name: np.random.default_rng(child) for name, child in zip(STREAMS, children, strict=True)}


def _list_cells(rng: np.random.Generator, history: History, n_zones: int, n_initial: int) -> np.ndarray:
    practices = history.practices
    base = age_index(practices["rank"].to_numpy(), n_zones, practices["ur8"].to_numpy(),
                     rng.normal(0.0, 0.15, len(practices)))
    base[n_initial:] -= NEW_PRACTICE_YOUNGER
    years = np.array([(d - history.releases[0]).days / 365.25 for d in history.releases])
    index = base[:, None] + AGEING_PER_YEAR * years[None, :]
    cells = np.zeros((*history.active.shape, 2, 8), dtype=np.int64)
    live = history.active
    cells[live] = band_sex_cells(history.list_size[live], index[live])
    return cells


@lru_cache(maxsize=2)
def build_scotland(seed: int = DEFAULT_SEED, start: str = DEFAULT_START,
                   quarters: int = DEFAULT_QUARTERS, plant_signals: bool = True) -> SyntheticScotland:
    """Generate every synthetic table for `seed` over `quarters` quarterly releases from `start`.

    With `plant_signals` False, a null world: the same Scotland with no planted signal (for measuring
    false alarms). Cached: callers must not modify the returned tables.
    """
    releases = quarter_starts(start, quarters)
    rng = _streams(seed)
    dz = build_data_zones(rng["geography"])
    hscp_names = {r["hscp_code"]: r["hscp_name"] for r in reference_table("hscps")}
    practices, clusters = build_initial_practices(rng["practices"], dz, hscp_names)
    history = simulate(rng["history"], practices, clusters, dz, releases)
    cells = _list_cells(rng["structure"], history, len(dz), len(practices))
    table = history.practices
    simd_quintile = equal_count_group(table["rank"].to_numpy(), len(dz), 5)
    ur8 = table["ur8"].to_numpy().astype(np.int64)
    codes = table["code"].to_numpy()
    involved = {e.practice_code for e in history.events} | {e.detail for e in history.events}
    eligible = (history.active.all(axis=1) & (history.list_size[:, 0] >= SIGNAL_MIN_LIST)
                & ~np.isin(codes.astype(str), list(involved)))
    signals = (choose_signals(rng["signals"], codes, eligible, releases, history.list_size[:, 0])
               if plant_signals else [])
    urban = {p.code for p in HSCP_PROFILES if p.rurality in URBAN_MIXES}
    activity = simulate_activity(rng["activity"], cells, history.active, simd_quintile, ur8,
                                 table["hscp"].isin(urban).to_numpy(), codes, releases, signals)
    untouched = eligible & ~np.isin(codes.astype(str), [s.practice_code for s in signals])
    counts, interventions = plant_interventions(rng["interventions"], activity.counts, practice_frame(
        codes, table["hscp"].to_numpy(), history.cluster_of, history.active, untouched), releases,
        PLANS if plant_signals else ())
    last = history.active[:, -1]
    headcount = gp_headcount(rng["headcount"], table[last], history.list_size[last, -1],
                             simd_quintile[last], ur8[last])
    return SyntheticScotland(
        seed=seed, data_zones=dz, simd=simd_table(dz), urban_rural=urban_rural_table(dz),
        data_zone_populations=data_zone_populations(rng["dz_population"], dz, POPULATION_YEAR),
        history=history, cells=cells, simd_quintile=simd_quintile, ur8=ur8, headcount=headcount,
        activity=counts, reference_rates=activity.reference_rates, signals=signals, interventions=interventions,
    )


def planted_signals(seed: int = DEFAULT_SEED, start: str = DEFAULT_START,
                    quarters: int = DEFAULT_QUARTERS) -> list[PlantedSignal]:
    """The signals deliberately planted in the synthetic activity for this seed and period."""
    return list(build_scotland(seed, start, quarters).signals)
