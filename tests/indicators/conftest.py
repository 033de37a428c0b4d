"""A small warehouse built in code: 6 practices, 3 clusters, 2 HSCPs in 2 boards, 4 quarterly releases.

Practice 10004 moves from cluster Angus/north to Angus/south at the 2024-04-01 release, so membership
in force can be checked. Every figure is chosen so that hand calculation is easy.
"""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import duckdb
import pytest

from gpcluster.warehouse.connection import open_warehouse

RELEASES = [dt.date(2023, 7, 1), dt.date(2023, 10, 1), dt.date(2024, 1, 1), dt.date(2024, 4, 1)]
ANGUS, DUNDEE = "S37000003", "S37000008"
TAYSIDE, GRAMPIAN = "S08000030", "S08000020"
NORTH, SOUTH, CITY = f"{ANGUS}/north", f"{ANGUS}/south", f"{DUNDEE}/city"
BANDS = ["0-4", "5-14", "15-24", "25-44", "45-64", "65-74", "75-84", "85+"]

# practice -> (hscp, board, data zone, base list per band (same for each sex))
PRACTICES = {
    "10001": (ANGUS, TAYSIDE, "S01000001", [50, 100, 100, 200, 250, 150, 100, 50]),
    "10002": (ANGUS, TAYSIDE, "S01000002", [30, 60, 80, 150, 200, 120, 40, 20]),
    "10003": (ANGUS, TAYSIDE, "S01000001", [20, 40, 50, 100, 150, 100, 60, 30]),
    "10004": (ANGUS, TAYSIDE, "S01000002", [40, 80, 60, 120, 100, 50, 30, 10]),
    "10005": (DUNDEE, GRAMPIAN, "S01000003", [100, 150, 200, 400, 300, 100, 50, 25]),
    "10006": (DUNDEE, GRAMPIAN, "S01000003", [5, 10, 10, 20, 25, 15, 8, 2]),
}
# data zone -> (simd_rank, simd_decile, simd_quintile, urban_rural_6, urban_rural_2)
DATA_ZONES = {
    "S01000001": (100, 1, 1, 1, 1),
    "S01000002": (3000, 5, 3, 6, 2),
    "S01000003": (6900, 10, 5, 2, 1),
}


def cluster_of(practice: str, release: dt.date) -> str:
    if practice in ("10001", "10002"):
        return NORTH
    if practice == "10003":
        return SOUTH
    if practice == "10004":
        return NORTH if release < dt.date(2024, 4, 1) else SOUTH
    return CITY


def female_extra(release: dt.date) -> int:
    """Each release adds this many patients per female band, so lists grow over time."""
    return RELEASES.index(release)


def band_population(practice: str, sex: str, band: str, release: dt.date) -> int:
    base = PRACTICES[practice][3][BANDS.index(band)]
    return base + (female_extra(release) if sex == "Female" else 0)


def activity_value(practice: str, measure: str, release: dt.date) -> float:
    """Activity that varies by practice and quarter (deterministic)."""
    p, q = int(practice[-1]), RELEASES.index(release)
    return {
        "gp_consultations": 300.0 * p + 10 * q,
        "mdt_consultations": 50.0 * p + 5 * q,
        "emergency_admissions": 3.0 * p + q,
        "ae_attendances": 8.0 * p + q,
        "high_risk_rx_patients": 2.0 * p + q,
        "high_risk_rx_denominator": 100.0 + 10 * p,
    }[measure]


MEASURES = ["gp_consultations", "mdt_consultations", "emergency_admissions", "ae_attendances",
            "high_risk_rx_patients", "high_risk_rx_denominator"]


def build_fixture_warehouse(path: Path):
    con = open_warehouse(path)
    con.executemany("INSERT INTO cluster VALUES (?, ?, ?)",
                    [(NORTH, ANGUS, "Angus North"), (SOUTH, ANGUS, "Angus South"), (CITY, DUNDEE, "City")])
    con.executemany(
        "INSERT INTO data_zone (data_zone, simd_rank, simd_decile, simd_quintile, urban_rural_6, urban_rural_2) "
        "VALUES (?, ?, ?, ?, ?, ?)",
        [(dz, *attrs) for dz, attrs in DATA_ZONES.items()],
    )
    release_rows, pop_rows, activity_rows = [], [], []
    for release in RELEASES:
        for code, (hscp, board, dz, _) in PRACTICES.items():
            total = 0
            for sex in ("Male", "Female"):
                sex_total = 0
                for band in BANDS:
                    n = band_population(code, sex, band, release)
                    pop_rows.append((release, code, sex, band, n))
                    sex_total += n
                pop_rows.append((release, code, sex, "All", sex_total))
                total += sex_total
            for band in BANDS:
                pop_rows.append((release, code, "All", band,
                                 sum(band_population(code, s, band, release) for s in ("Male", "Female"))))
            pop_rows.append((release, code, "All", "All", total))
            release_rows.append((release, code, f"Practice {code}", board, hscp, cluster_of(code, release),
                                 dz, total))
            activity_rows += [(release, code, m, activity_value(code, m, release)) for m in MEASURES]
    con.executemany(
        "INSERT INTO practice_release (release_date, practice_code, practice_name, board_code, hscp_code, "
        "cluster_id, data_zone, list_size) VALUES (?, ?, ?, ?, ?, ?, ?, ?)", release_rows)
    con.executemany("INSERT INTO list_population VALUES (?, ?, ?, ?, ?)", pop_rows)
    con.executemany("INSERT INTO practice_activity VALUES (?, ?, ?, ?)", activity_rows)
    con.executemany(
        "INSERT INTO gp_headcount VALUES (?, ?, ?, ?, ?)",
        [(dt.date(2023, 12, 1), "10001", "PERFORMER", "Female", 3), (dt.date(2023, 12, 1), "10001", "SALARIED", "Male", 1),
         (dt.date(2023, 12, 1), "10002", "PERFORMER", "Male", 2), (dt.date(2023, 12, 1), "10005", "PERFORMER", "Female", 5),
         (dt.date(2023, 12, 1), "10002", "PERFORMER REGISTRAR", "Female", 1)],
    )
    add_prescribing(con)
    return con


# Prescribing for the catalogue's prescribing measures: 12 months (the four quarters of RELEASES), each
# practice prescribing every presentation below; items vary by practice and month (deterministic).
RX_PRESENTATIONS = [  # code, description, items per 100 patients a month
    ("0501013B0AAABAB", "AMOXICILLIN_CAP 500MG", 4), ("0501013K0AAAAAA", "CO-AMOXICLAV_TAB 500MG/125MG", 1),
    ("0501021L0AAAAAA", "CEFALEXIN_CAP 500MG", 1), ("0501090H0AAAAAA", "ISONIAZID_TAB 100MG", 1),
    ("0103050P0AAAEAE", "OMEPRAZOLE_CAP GASTRO-RESISTANT 40MG", 2), ("0103050P0AAAAAA", "OMEPRAZOLE_CAP 20MG", 5),
    ("0408010AEAAAAAA", "PREGABALIN_CAP 75MG", 2), ("0407020Q0BBAAAA", "ZOMORPH_CAP 10MG", 1),
    ("0401010Z0AAAAAA", "ZOPICLONE_TAB 7.5MG", 2), ("0401010ADAAAAAA", "MELATONIN_TAB 2MG", 1),
    ("1001010P0AAAAAA", "NAPROXEN_TAB 500MG", 2), ("1001010C0AAAAAA", "DICLOFENAC SODIUM_TAB 50MG", 1),
    ("0302000C0BQAABX", "FOSTAIR_INH 100MCG/6MCG (120D) CFF", 2),
    ("0302000N0AAAAAA", "BUDESONIDE/FORMOTEROL_TURBOHALER 200MCG/6MCG", 1),
    ("0208020Z0BBABAB", "ELIQUIS_TAB 5MG", 3), ("21480000100", "FREESTYLE LIBRE SENSOR KIT", 1),
]


def add_prescribing(con) -> None:
    months = [dt.date(r.year, r.month + k, 1) for r in RELEASES for k in range(3)]
    con.executemany("INSERT INTO bnf_presentation VALUES (?, ?, ?, ?)",
                    [(code, text, months[0], months[-1]) for code, text, _ in RX_PRESENTATIONS])
    rows = []
    for month in months:
        release = max(r for r in RELEASES if r <= month)
        for code in PRACTICES:
            patients = sum(band_population(code, s, b, release) for s in ("Male", "Female") for b in BANDS)
            for k, (bnf, _, per_100) in enumerate(RX_PRESENTATIONS):
                items = max(1, round(patients * per_100 / 100 * (1 + 0.1 * ((int(code) + k + month.month) % 3))))
                rows.append((month, code, bnf, items, items * 28.0, round(items * (0.5 + 0.25 * k), 2)))
    con.executemany("INSERT INTO prescribing VALUES (?, ?, ?, ?, ?, ?)", rows)
    con.execute("INSERT INTO prescribing_practice_total SELECT month, practice_code, sum(items), sum(quantity), "
                "sum(cost) FROM prescribing GROUP BY ALL")
    con.executemany("INSERT INTO prescribing_month (month, file_name, sha256, layout, source_rows, practice_rows, "
                    "other_rows, unknown_practice_rows, items, synthetic) VALUES (?, ?, ?, 'codes', 0, 0, 0, 0, 0, "
                    "FALSE)", [(m, f"pitc{m:%Y%m}.csv", f"{m}") for m in months])
    from gpcluster.prescribing.warehouse import summarise_prescribing

    summarise_prescribing(con)  # as the loader does with each month


@pytest.fixture(scope="session")
def _fixture_template(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("indicator-fixture") / "template.duckdb"
    build_fixture_warehouse(path).close()
    return path


@pytest.fixture
def fixture_con(_fixture_template, tmp_path):
    """A private copy of the fixture warehouse (built once per session)."""
    path = tmp_path / "warehouse.duckdb"
    shutil.copyfile(_fixture_template, path)
    con = duckdb.connect(str(path))
    yield con
    con.close()
