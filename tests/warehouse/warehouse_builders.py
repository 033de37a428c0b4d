"""Small PHS-format files built in code for warehouse tests (real codes, invented practices)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

# Real board/HSCP codes: Tayside / Dundee City and Angus; Lothian / Edinburgh.
TAYSIDE, DUNDEE, ANGUS = "S08000030", "S37000007", "S37000003"
LOTHIAN, EDINBURGH = "S08000024", "S37000012"
CONTACT_HEADER = ("PracticeCode,GPPracticeName,PracticeListSize,AddressLine1,AddressLine2,AddressLine3,"
                  "AddressLine4,Postcode,TelephoneNumber,PracticeType,Dispensing,HB,HSCP,DataZone,GPCluster")
BANDS = ("Ages0to4", "Ages5to14", "Ages15to24", "Ages25to44", "Ages45to64", "Ages65to74", "Ages75to84",
         "Ages85plus")
POP_HEADER = "Date,PracticeCode,HB,HSCP,Sex,SexQF,AllAges,AllAgesQF," + ",".join(
    f"{b},{b.replace('to', 'To').replace('plus', 'Plus')}QF" for b in BANDS)


@dataclass
class Practice:
    code: int
    name: str
    cluster: str
    list_size: int = 1000
    hb: str = TAYSIDE
    hscp: str = DUNDEE
    data_zone: str = "S01007129"


def contact_csv(path: Path, practices: list[Practice]) -> Path:
    lines = [CONTACT_HEADER]
    for p in practices:
        lines.append(f"{p.code},{p.name},{p.list_size},{p.name},1 High St,,,DD1 1AA,01382 000 000,17J,,"
                     f"{p.hb},{p.hscp},{p.data_zone},{p.cluster}")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def split_bands(total: int) -> list[int]:
    """A deterministic split of `total` over the 8 PHS age bands."""
    shares = [5, 10, 12, 27, 26, 10, 7, 3]
    parts = [total * s // 100 for s in shares]
    parts[3] += total - sum(parts)
    return parts


def population_csv(path: Path, yyyymmdd: str, practices: list[Practice]) -> Path:
    lines = [POP_HEADER]
    for p in practices:
        male_total = p.list_size // 2
        male = split_bands(male_total)
        female = split_bands(p.list_size - male_total)
        for sex, values in (("Male", male), ("Female", female),
                            ("All", [m + f for m, f in zip(male, female, strict=True)])):
            qf = "d" if sex == "All" else ""
            cells = ",".join(f"{v}," for v in values)[:-1]
            lines.append(f"{yyyymmdd},{p.code},{p.hb},{p.hscp},{sex},{qf},{sum(values)},,{cells},")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def base_practices() -> list[Practice]:
    return [
        Practice(10002, "Muirhead Surgery", "Dundee 4", 8000),
        Practice(10017, "Blue Practice", "Dundee 4", 6000),
        Practice(10021, "Green Practice", "Dundee 1", 4000),
        Practice(10036, "Angus Practice", "North West Angus", 3000, hscp=ANGUS, data_zone="S01007500"),
        Practice(70001, "Leith Practice", "Edinburgh North East - Leith", 9000, hb=LOTHIAN, hscp=EDINBURGH,
                 data_zone="S01008700"),
    ]


TABLES = ("board", "hscp", "cluster", "cluster_name_history", "practice", "practice_release", "practice_event",
          "list_population", "data_zone", "data_zone_population", "board_population", "gp_headcount",
          "practice_activity", "load_ledger")


def fingerprint(warehouse: Path) -> dict[str, tuple[int, str]]:
    """Row count and an order-independent checksum of every warehouse table."""
    import duckdb

    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        return {t: tuple(con.execute(
            f"SELECT count(*), coalesce(md5(string_agg(t::VARCHAR, chr(10) ORDER BY t::VARCHAR)), '') FROM {t} AS t").fetchall()[0])
            for t in TABLES}
    finally:
        con.close()
