"""The synthetic practices as they stand at the first release: places, codes, names, clusters, lists."""

from __future__ import annotations

import numpy as np
import pandas as pd

from gpcluster.synthetic.geography import RURAL_LEVEL, largest_remainder
from gpcluster.synthetic.places import HSCP_PROFILES, RURALITY_MIXES, STREETS

N_FIRST_RELEASE = 955
# Registered lists exceed resident populations (list inflation); sized so Scotland ends near 5.9 million.
LIST_INFLATION = 1.02
# Leading digits of practice codes by board, in the style of real PHS codes.
BOARD_CODE_PREFIX = {
    "S08000015": 80, "S08000016": 16, "S08000017": 18, "S08000019": 25, "S08000020": 30, "S08000022": 55,
    "S08000024": 70, "S08000025": 38, "S08000026": 39, "S08000028": 90, "S08000029": 20, "S08000030": 10,
    "S08000031": 40, "S08000032": 60,
}
CODE_STEP = 7
# Relative chance that a data zone of each 8-fold class hosts a practice, and the median list there.
PRACTICE_SITE_WEIGHT = np.array([1.0, 1.0, 1.4, 2.6, 4.0, 1.5, 3.0, 5.0])
MEDIAN_LIST = np.array([7600, 6800, 5600, 4200, 1900, 4300, 2600, 1100])
PRACTICE_TYPES = (("17J", 0.78), ("17C", 0.12), ("2C", 0.10))
# Chance a practice dispenses, by 8-fold class: only rural practices far from a pharmacy do.
DISPENSING_CHANCE = np.array([0.0, 0.0, 0.0, 0.05, 0.3, 0.05, 0.4, 0.5])
NAME_PATTERNS = ("{place} Medical Practice", "{place} Health Centre", "{street} Surgery",
                 "{street} Medical Centre", "{place} Group Practice", "{place} Surgery")
POSTCODE_LETTERS = "ABDEFGHJLNPQRSTUWXYZ"  # letters Royal Mail uses in the inward code
CLUSTER_STYLES = ("{place} Cluster", "{place} and District", "{place}")
GLASGOW_SECTORS = ("Glasgow North East", "Glasgow North West", "Glasgow South")


def practices_per_hscp(total: int) -> np.ndarray:
    """Practices in each HSCP: population share, boosted for rural HSCPs where lists are smaller."""
    rurality = np.array([np.dot(RURALITY_MIXES[p.rurality], RURAL_LEVEL) for p in HSCP_PROFILES])
    weight = np.array([p.population_k for p in HSCP_PROFILES]) * (1 + 2.2 * rurality**1.5)
    return np.maximum(largest_remainder(weight[None, :], np.array([total]))[0], 5)


def cluster_sizes(rng: np.random.Generator, n: int) -> list[int]:
    """Split n practices into clusters of 4..10 (mostly 5..8), leaving room for later events."""
    k = max(1, round(n / 6.3))
    sizes = [n // k + (1 if i < n % k else 0) for i in range(k)]
    for _ in range(3 * k):
        if k < 2:
            break
        i, j = rng.choice(k, size=2, replace=False)
        if sizes[i] > 4 and sizes[j] < 10:
            sizes[i] -= 1
            sizes[j] += 1
    return sizes


def cluster_names(rng: np.random.Generator, profile, hscp_name: str, k: int) -> list[str]:
    """Names in the real styles: numbered for Dundee and Glasgow, else '<Place> Cluster' and the like."""
    if profile.numbered_clusters == "Glasgow":
        per = -(-k // 3)
        return [f"{GLASGOW_SECTORS[i // per]} {i % per + 1}" for i in range(k)]
    if profile.numbered_clusters:
        return [f"{profile.numbered_clusters} {i + 1}" for i in range(k)]
    places = list(rng.permutation(profile.places))
    names = []
    for i in range(k):
        if i < len(places):
            style = CLUSTER_STYLES[rng.choice(3, p=[0.45, 0.2, 0.35])]
            names.append(style.format(place=places[i]))
        else:
            names.append(f"{hscp_name} Locality {i + 1}")
    return names


def practice_name(rng: np.random.Generator, place: str, street: str) -> str:
    """A plausible practice name from a small vocabulary ('<Place> Health Centre', '<Street> Surgery')."""
    pattern = NAME_PATTERNS[rng.integers(len(NAME_PATTERNS))]
    return pattern.format(place=place, street=street)


def postcode(serial: int) -> str:
    """A postcode-shaped string in the non-existent 'ZZ' area, unique per serial number."""
    letters = len(POSTCODE_LETTERS)
    inward = serial % (10 * letters * letters)
    return (f"ZZ{serial // (10 * letters * letters) + 1} {inward // (letters * letters)}"
            f"{POSTCODE_LETTERS[inward // letters % letters]}{POSTCODE_LETTERS[inward % letters]}")


def telephone(serial: int) -> str:
    """Ofcom's drama range (01632 960xxx, never allocated), spaced the way PHS publishes numbers."""
    return f"01632   960   {serial % 1000:03d}"


def build_initial_practices(rng: np.random.Generator, dz: pd.DataFrame,
                            hscp_names: dict[str, str]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Practices and clusters at the first release.

    Returns (practices, clusters). Practices carry their data zone, cluster index, base list size,
    code, name and contact fields; clusters carry HSCP, name and a home place.
    """
    counts = practices_per_hscp(N_FIRST_RELEASE)
    practice_rows, cluster_rows = [], []
    for profile, n in zip(HSCP_PROFILES, counts, strict=True):
        zones = dz[dz["HSCP"] == profile.code]
        weights = PRACTICE_SITE_WEIGHT[zones["ur8"].to_numpy() - 1]
        chosen = np.sort(rng.choice(len(zones), size=n, replace=False, p=weights / weights.sum()))
        sites = zones.iloc[chosen]
        raw = rng.lognormal(np.log(MEDIAN_LIST[sites["ur8"].to_numpy() - 1]), 0.42)
        target = profile.population_k * 1000 * LIST_INFLATION
        lists = np.clip(raw * target / raw.sum(), 150, 27000)
        sizes = cluster_sizes(rng, n)
        names = cluster_names(rng, profile, hscp_names[profile.code], len(sizes))
        places = list(profile.places)
        position = 0
        for size, name in zip(sizes, names, strict=True):
            cluster_index = len(cluster_rows)
            home = next((p for p in places if p in name), places[cluster_index % len(places)])
            cluster_rows.append({"hscp": profile.code, "name": name, "place": home})
            for _ in range(size):
                site = sites.iloc[position]
                place = home if rng.random() < 0.7 else places[rng.integers(len(places))]
                practice_rows.append({
                    "hb": site["HB"], "hscp": profile.code, "data_zone": site["DataZone"],
                    "cluster": cluster_index, "list0": float(lists[position]), "place": place,
                })
                position += 1
    practices = pd.DataFrame(practice_rows)
    clusters = pd.DataFrame(cluster_rows)
    return practices, clusters


def assign_identity(rng: np.random.Generator, practices: pd.DataFrame, next_serial: dict[str, int],
                    serial_offset: int) -> pd.DataFrame:
    """Give practices (with `hb`, `place`, `ur8`) codes, names, contact fields and dispensing status.

    `next_serial` holds the next free code slot per board and is updated.
    """
    out = practices.copy()
    codes, names, streets, types = [], [], [], []
    dispensing = []
    taken: set[str] = set()
    for hb, place, ur8 in zip(out["hb"], out["place"], out["ur8"], strict=True):
        slot = next_serial.get(hb, 0)
        next_serial[hb] = slot + 1
        codes.append(BOARD_CODE_PREFIX[hb] * 1000 + 10 + CODE_STEP * slot)
        street = STREETS[rng.integers(len(STREETS))]
        name = practice_name(rng, place, street)
        if name in taken:  # leads name practices to each other: two "Govanhill Surgery" in a cluster confuse
            name = f"{place} {street} Practice"
        if name in taken:
            name = f"{name} {len(names) + 1}"
        taken.add(name)
        names.append(name)
        streets.append(f"{rng.integers(1, 200)} {street}")
        types.append(PRACTICE_TYPES[rng.choice(3, p=[t[1] for t in PRACTICE_TYPES])][0])
        dispensing.append("Y" if rng.random() < DISPENSING_CHANCE[ur8 - 1] else "")
    serials = np.arange(len(out)) + serial_offset
    out["code"] = codes
    out["name"] = names
    out["street"] = streets
    out["practice_type"] = types
    out["dispensing"] = dispensing
    out["postcode"] = [postcode(int(s)) for s in serials]
    out["telephone"] = [telephone(int(s)) for s in serials]
    return out
