"""PHS 'GP Practice Contact Details and List Sizes': one row per practice per quarterly release, with the
practice's board, HSCP, data zone and GP cluster name (PHS publishes cluster names, not codes)."""

from __future__ import annotations

from datetime import date

import pandas as pd

from gpcluster.sources.base import (
    LINE,
    Column,
    RawTable,
    Reading,
    Source,
    codes,
    duplicates,
    practice_codes,
    reading,
    release_date_of,
    to_int,
    usable,
)

COLUMNS = (
    Column("PracticeCode", ("GPPracticeCode", "Practice")),
    Column("GPPracticeName", ("PracticeName",)),
    Column("PracticeListSize", ("ListSize",)),
    Column("HB", ("HB2019", "HB2018", "HB2014", "HealthBoard")),
    Column("HSCP", ("HSCP2019", "HSCP2018", "HSCP2016")),
    Column("GPCluster", ("GPClusterName", "Cluster")),
    Column("DataZone", ("DataZone2011", "DZ2011"), required=False),
    Column("Postcode", (), required=False),
    Column("PracticeType", (), required=False),
    Column("Dispensing", (), required=False),
    Column("Date", (), required=False),
)


def parse(raw: RawTable, release: date | None) -> Reading:
    if not usable(raw):
        return reading(SOURCE, raw, pd.DataFrame())
    f = raw.frame
    release = release_date_of(raw, release)
    optional = {c: f[c].fillna("").str.strip() if c in f else pd.Series("", index=f.index)
                for c in ("Postcode", "PracticeType", "Dispensing", "DataZone")}
    out = pd.DataFrame({
        "release_date": release,
        "practice_code": practice_codes(raw),
        "practice_name": f["GPPracticeName"].fillna("").str.strip(),
        "board_code": codes(raw, "HB", "board"),
        "hscp_code": codes(raw, "HSCP", "hscp"),
        "cluster_name": f["GPCluster"].fillna("").str.strip().replace("", None),
        "data_zone": codes(raw, "DataZone", "data_zone", allow_blank=True) if "DataZone" in f else None,
        "postcode": optional["Postcode"].replace("", None),
        "practice_type": optional["PracticeType"].replace("", None),
        "dispensing": optional["Dispensing"].str.upper().map({"Y": True, "YES": True, "TRUE": True,
                                                              "N": False, "NO": False, "FALSE": False}),
        "list_size": to_int(raw, "PracticeListSize"),
        LINE: f[LINE],
    })
    for line in out.loc[out["practice_name"] == "", LINE].head(20):
        raw.problem("blank", "practice name is blank", row=int(line), column="GPPracticeName")
    duplicates(raw, out, ["practice_code"], "practice")
    return reading(SOURCE, raw, out, release)


SOURCE = Source(
    file_names=r"contactdetails(?!headcount)",
    name="gp_practice_contact_details",
    title="GP Practice Contact Details and List Sizes",
    publisher="Public Health Scotland",
    columns=COLUMNS,
    parse=parse,
    dataset_id="f23655c3-6e23-4103-a511-a80d998adb90",
    resource_ids={
        "2025-07": "30b06220-17ad-44e8-b6c5-658d41ec1ea5",
        "2025-04": "f3633113-9768-4676-8ed1-6695fe385bbe",
        "2025-01": "0d2e258a-1451-4af1-a7e5-e8327994fa55",
        "2024-10": "64b42f68-3353-449b-bc1c-0f733b21803b",
        "2024-07": "215e9157-ccf2-47ab-aba5-4fb79eb32e41",
        "2024-04": "b3b126d3-3b0c-4856-b348-0b37f8286367",
    },
    all_resources=True,
    target="practice_release",
)
