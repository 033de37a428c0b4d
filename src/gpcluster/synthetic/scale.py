"""A synthetic country K times Scotland's size, for benchmarks at England's scale (K = 8 is about
England's 6,300 practices and 1,250 primary care networks).

Copy 0 is the synthetic Scotland itself, unchanged. Every further copy is another synthetic Scotland,
built with its own seed by the same models (so each copy's practices, lists, events and activity are as
realistic as the original) and placed beside it in the same 14 boards and 31 HSCPs, with codes that
cannot collide:

* data zones and intermediate zones get their own synthetic code ranges (S019..., S029...);
* practice codes stay 5-digit and near their board's leading digits, taking the next free numbers;
* cluster names take a district word ("North Dundee 4", "East Inverness Cluster"), so cluster ids differ;
* a practice name already used by an earlier copy takes the same district word;
* postcodes continue the ZZ serials.

Deprivation ranks stay within each copy (each copy is ranked like a country of its own, as England's
IMD is ranked separately from Scotland's SIMD), which keeps every copy's activity consistent with the
deprivation it was simulated with.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from gpcluster.errors import UserError
from gpcluster.synthetic.history import Event, History
from gpcluster.synthetic.practices import postcode
from gpcluster.synthetic.scotland import SyntheticScotland, build_scotland

DISTRICTS = ("North", "South", "East", "West", "Central", "Upper", "Lower", "Mid", "Outer", "Inner", "Greater",
             "Old", "New")
MAX_SCALE = len(DISTRICTS) + 1  # also keeps synthetic data-zone codes within S01999999
ZONES_PER_COPY = 7000  # data-zone code block per copy (6,976 used)
INT_ZONES_PER_COPY = 2000  # intermediate-zone code block per copy (about 1,300 used)
SERIALS_PER_COPY = 10_000  # postcode serials per copy


def copy_seed(seed: int, copy: int) -> int:
    """Seed of copy `copy` (copy 0 is the country's own seed)."""
    return seed if copy == 0 else int(np.random.SeedSequence([seed, copy]).generate_state(1)[0])


def build_scaled(seed: int, scale: int, start: str, quarters: int) -> SyntheticScotland:
    """`scale` synthetic Scotlands side by side (scale 1 is build_scotland itself)."""
    if not 1 <= scale <= MAX_SCALE:
        raise UserError(f"scale must be 1 to {MAX_SCALE} (copies of Scotland), got {scale}")
    first = build_scotland(seed, start, quarters)
    if scale == 1:
        return first
    copies = [first]
    used_codes = set(first.history.practices["code"].astype(int))
    used_names = set(first.history.practices["name"])
    for k in range(1, scale):
        copies.append(_relabel(build_scotland(copy_seed(seed, k), start, quarters), k, used_codes, used_names))
    return _combine(seed, copies)


def _zone_map(codes: pd.Series, prefix: str, offset: int) -> dict[str, str]:
    return {c: f"{prefix}{int(c[3:]) + offset}" for c in codes.unique()}


def _relabel(s: SyntheticScotland, k: int, used_codes: set[int], used_names: set[str]) -> SyntheticScotland:
    """Copy k with codes, names and postcodes that no earlier copy uses."""
    district = DISTRICTS[k - 1]
    zones = _zone_map(s.data_zones["DataZone"], "S01", k * ZONES_PER_COPY)
    int_zones = _zone_map(s.data_zones["IntZone"], "S02", k * INT_ZONES_PER_COPY)

    def rezone(frame: pd.DataFrame) -> pd.DataFrame:
        out = frame.copy()
        if "DataZone" in out:
            out["DataZone"] = out["DataZone"].map(zones)
        if "IntZone" in out:
            out["IntZone"] = out["IntZone"].map(int_zones)
        return out

    h = s.history
    practices = h.practices.copy()
    code_map: dict[int, int] = {}
    for code in practices["code"].astype(int):
        new = code
        while new in used_codes:
            new += 1
        if new > 99_999:
            raise UserError("no free 5-digit practice codes left for this scale")
        used_codes.add(new)
        code_map[code] = new
    practices["code"] = practices["code"].astype(int).map(code_map).astype(np.int64)
    practices["data_zone"] = practices["data_zone"].map(zones)
    names = []
    for name in practices["name"]:
        names.append(f"{district} {name}" if name in used_names else name)
    used_names.update(names)
    practices["name"] = names
    practices["postcode"] = [postcode(k * SERIALS_PER_COPY + i) for i in range(len(practices))]

    def cluster_name(name: str) -> str:
        return f"{district} {name}"

    cluster_names = np.vectorize(cluster_name, otypes=[object])(h.cluster_names)
    clusters = h.clusters.assign(name=h.clusters["name"].map(cluster_name))
    text_codes = {str(a): str(b) for a, b in code_map.items()}
    events = []
    for e in h.events:
        detail = e.detail
        if e.kind == "merged":
            detail = text_codes[detail]
        elif " -> " in detail:
            detail = " -> ".join(cluster_name(part) for part in detail.split(" -> "))
        events.append(Event(e.release, e.kind, text_codes.get(e.practice_code, e.practice_code), detail))
    history = History(h.releases, practices, clusters, cluster_names, h.active, h.cluster_of, h.list_size, events)

    def recode(frame: pd.DataFrame) -> pd.DataFrame:
        return frame.assign(PracticeCode=frame["PracticeCode"].astype(int).map(code_map).astype(np.int64))

    signals = [type(x)(text_codes[x.practice_code], x.measure, x.kind, x.start, x.effect, x.description)
               for x in s.signals]
    return SyntheticScotland(
        seed=s.seed, data_zones=rezone(s.data_zones), simd=rezone(s.simd), urban_rural=rezone(s.urban_rural),
        data_zone_populations=rezone(s.data_zone_populations), history=history, cells=s.cells,
        simd_quintile=s.simd_quintile, ur8=s.ur8, headcount=recode(s.headcount), activity=recode(s.activity),
        reference_rates=s.reference_rates, signals=signals)


def _combine(seed: int, copies: list[SyntheticScotland]) -> SyntheticScotland:
    histories = [c.history for c in copies]
    offsets = np.cumsum([0, *(len(h.clusters) for h in histories[:-1])])
    history = History(
        releases=histories[0].releases,
        practices=pd.concat([h.practices for h in histories], ignore_index=True),
        clusters=pd.concat([h.clusters for h in histories], ignore_index=True),
        cluster_names=np.vstack([h.cluster_names for h in histories]),
        active=np.vstack([h.active for h in histories]),
        cluster_of=np.vstack([h.cluster_of + offset for h, offset in zip(histories, offsets, strict=True)]),
        list_size=np.vstack([h.list_size for h in histories]),
        events=sorted((e for h in histories for e in h.events), key=lambda e: e.release),
    )

    def stacked(name: str) -> pd.DataFrame:
        return pd.concat([getattr(c, name) for c in copies], ignore_index=True)

    return SyntheticScotland(
        seed=seed, data_zones=stacked("data_zones"), simd=stacked("simd"), urban_rural=stacked("urban_rural"),
        data_zone_populations=stacked("data_zone_populations"), history=history,
        cells=np.concatenate([c.cells for c in copies]), simd_quintile=np.concatenate([c.simd_quintile for c in copies]),
        ur8=np.concatenate([c.ur8 for c in copies]), headcount=stacked("headcount"), activity=stacked("activity"),
        # the copies are Scotlands of the same size: the country's rates are the mean of theirs
        reference_rates=(pd.concat([c.reference_rates for c in copies])
                         .groupby(["Date", "Measure", "Sex", "AgeBand"], sort=False, as_index=False)["Rate"].mean()),
        signals=[s for c in copies for s in c.signals])
