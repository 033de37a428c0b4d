"""A small, hand-checkable HSCP: one island cluster of four small remote practices (Lochside is the
1,500-patient very remote practice) and one town cluster of two large practices. Total list 30,000."""

from __future__ import annotations

import pandas as pd
import pytest

from gpcluster.workforce.roles import AGE_BANDS

PRACTICES = pd.DataFrame(
    [
        # code,  name,       cluster,   list,  decile, quintile, ur8
        ("90001", "Lochside", "H/island", 1500, 5, 3, 8),
        ("90002", "Bayview", "H/island", 1000, 5, 3, 8),
        ("90003", "Glen", "H/island", 1500, 6, 3, 7),
        ("90004", "Strath", "H/island", 2000, 6, 3, 7),
        ("90005", "Burgh", "H/town", 12000, 1, 1, 2),
        ("90006", "Harbour", "H/town", 12000, 10, 5, 3),
    ],
    columns=["practice_code", "practice_name", "cluster_id", "list_size", "simd_decile", "simd_quintile",
             "urban_rural_8"],
).assign(hscp_code="S37000099", cluster_name=lambda d: d["cluster_id"].str[2:],
         simd_rank=lambda d: d["simd_decile"] * 600)


def agesex_from(people: dict[str, dict[tuple[str, str], int]]) -> pd.DataFrame:
    """Long age-sex frame; every band not listed is zero."""
    rows = []
    for code, cells in people.items():
        for sex in ("Male", "Female"):
            for band in AGE_BANDS:
                rows.append((code, sex, band, cells.get((sex, band), 0)))
    return pd.DataFrame(rows, columns=["practice_code", "sex", "age_band", "population"])


# Each practice: half its list women aged 25-44, half men aged 65-74, except Harbour (all women 25-44).
AGESEX = agesex_from({
    "90001": {("Female", "25-44"): 750, ("Male", "65-74"): 750},
    "90002": {("Female", "25-44"): 500, ("Male", "65-74"): 500},
    "90003": {("Female", "25-44"): 750, ("Male", "65-74"): 750},
    "90004": {("Female", "25-44"): 1000, ("Male", "65-74"): 1000},
    "90005": {("Female", "25-44"): 6000, ("Male", "65-74"): 6000},
    "90006": {("Female", "25-44"): 12000},
})


@pytest.fixture
def practices() -> pd.DataFrame:
    return PRACTICES.copy()


@pytest.fixture
def agesex() -> pd.DataFrame:
    return AGESEX.copy()


RELEASE = "2024-01-01"


@pytest.fixture
def warehouse(tmp_path):
    """A small warehouse built from the real schema: the six practices above, their clusters, data
    zones and age-sex lists for one release."""
    from gpcluster.warehouse import open_warehouse

    con = open_warehouse(tmp_path / "w.duckdb")
    for i, p in PRACTICES.iterrows():
        dz = f"S0100000{i}"
        con.execute("INSERT INTO practice_release (release_date, practice_code, practice_name, board_code, hscp_code,"
                    " cluster_id, data_zone, list_size) VALUES (?, ?, ?, 'S08000022', ?, ?, ?, ?)",
                    [RELEASE, p.practice_code, p.practice_name, p.hscp_code, p.cluster_id, dz, int(p.list_size)])
        con.execute("INSERT INTO data_zone (data_zone, simd_rank, simd_decile, simd_quintile, urban_rural_8) "
                    "VALUES (?, ?, ?, ?, ?)", [dz, int(p.simd_rank), int(p.simd_decile), int(p.simd_quintile),
                                               int(p.urban_rural_8)])
        con.execute("INSERT INTO list_population VALUES (?, ?, 'All', 'All', ?)", [RELEASE, p.practice_code, int(p.list_size)])
    for cid in PRACTICES["cluster_id"].unique():
        con.execute("INSERT INTO cluster VALUES (?, 'S37000099', ?)", [cid, cid[2:]])
    rows = AGESEX[AGESEX["population"] > 0]
    con.executemany("INSERT INTO list_population VALUES (?, ?, ?, ?, ?)",
                    [[RELEASE, *r] for r in rows.itertuples(index=False, name=None)])
    yield con
    con.close()
