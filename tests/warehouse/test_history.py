"""Time-versioned organisation: stable cluster ids across renames, practice moves, openings, closures
and mergers; idempotent and replacing reloads; ASOF membership in practice_period; rollback."""

from __future__ import annotations

from datetime import date

import pytest
from warehouse_builders import ANGUS, Practice, base_practices, contact_csv, fingerprint, population_csv

from gpcluster import config
from gpcluster.warehouse import load_paths, open_warehouse, summary
from gpcluster.warehouse.clusters import cluster_slug

APR, JUL, OCT = date(2024, 4, 1), date(2024, 7, 1), date(2024, 10, 1)


def rows(sql, params=()):
    con = open_warehouse()
    try:
        return con.execute(sql, list(params)).fetchall()
    finally:
        con.close()


@pytest.mark.parametrize(("name", "slug"), [
    ("Ayr & Prestwick Cluster", "ayr-and-prestwick"),
    ("Bo'ness, Grangemouth", "boness-grangemouth"),
    ("S  - Pink", "s-pink"),
    ("NHSH (North) Inverness A", "nhsh-north-inverness-a"),
    ("Bearsden/Milngavie", "bearsden-milngavie"),
    ("Cluster", "cluster"),
    ("Cluster Orkney", "orkney"),
])
def test_cluster_slug(name, slug):
    assert cluster_slug(name) == slug


def test_rename_keeps_the_cluster_id(tmp_path):
    before = base_practices()
    after = [Practice(p.code, p.name, "Dundee West" if p.cluster == "Dundee 4" else p.cluster, p.list_size,
                      p.hb, p.hscp, p.data_zone) for p in before]
    load_paths([contact_csv(tmp_path / "c_apr2024.csv", before), contact_csv(tmp_path / "c_jul2024.csv", after)])
    assert rows("SELECT cluster_id, hscp_code, cluster_name FROM cluster WHERE cluster_id LIKE '%dundee-4'") == [
        ("S37000007/dundee-4", "S37000007", "Dundee West")]
    assert rows("SELECT cluster_name, first_release, last_release FROM cluster_name_history "
                "WHERE cluster_id = 'S37000007/dundee-4' ORDER BY first_release") == [
        ("Dundee 4", APR, APR), ("Dundee West", JUL, JUL)]
    assert rows("SELECT DISTINCT cluster_id FROM practice_release WHERE practice_code IN ('10002', '10017')") == [
        ("S37000007/dundee-4",)]
    assert rows("SELECT count(*) FROM cluster")[0][0] == 4
    assert rows("SELECT count(*) FROM practice_event WHERE event = 'moved_cluster'")[0][0] == 0


def test_split_is_not_a_rename(tmp_path):
    before = base_practices()
    after = [Practice(p.code, p.name, {10002: "Dundee North", 10017: "Dundee South"}.get(p.code, p.cluster),
                      p.list_size, p.hb, p.hscp, p.data_zone) for p in before]
    load_paths([contact_csv(tmp_path / "c_apr2024.csv", before), contact_csv(tmp_path / "c_jul2024.csv", after)])
    ids = {r[0] for r in rows("SELECT cluster_id FROM cluster")}
    assert {"S37000007/dundee-4", "S37000007/dundee-north", "S37000007/dundee-south"} <= ids
    moved = rows("SELECT practice_code, detail FROM practice_event WHERE event = 'moved_cluster' ORDER BY 1")
    assert moved == [("10002", "S37000007/dundee-4 -> S37000007/dundee-north"),
                     ("10017", "S37000007/dundee-4 -> S37000007/dundee-south")]


def test_move_open_close_merge_and_rename_events(tmp_path):
    april = base_practices()
    july = [p for p in base_practices() if p.code != 10017]  # Blue closes; Muirhead takes its list
    july[0] = Practice(10002, "Muirhead and Blue", "Dundee 4", 13500)
    july[1] = Practice(10021, "Green Practice", "Dundee 4", 4000)  # moves from Dundee 1 to Dundee 4
    july.append(Practice(10040, "New Practice", "North West Angus", 500, hscp=ANGUS, data_zone="S01007500"))
    load_paths([contact_csv(tmp_path / "c_apr2024.csv", april), contact_csv(tmp_path / "c_jul2024.csv", july)])
    events = rows("SELECT practice_code, event, detail FROM practice_event WHERE release_date = ? ORDER BY 1, 2",
                  [JUL])
    assert events == [
        ("10002", "renamed", "Muirhead Surgery -> Muirhead and Blue"),
        ("10017", "closed", None),
        ("10017", "merged_into", "10002"),
        ("10021", "moved_cluster", "S37000007/dundee-1 -> S37000007/dundee-4"),
        ("10040", "opened", None),
    ]
    assert rows("SELECT practice_name, first_release, last_release FROM practice WHERE practice_code = '10017'") == [
        ("Blue Practice", APR, APR)]
    # Dundee 1 vanished without a majority successor: it keeps its id and history.
    assert rows("SELECT cluster_name FROM cluster WHERE cluster_id = 'S37000007/dundee-1'") == [("Dundee 1",)]


def test_practice_period_membership_asof(tmp_path):
    april = base_practices()
    october = [Practice(p.code, p.name, "Dundee 1" if p.code == 10002 else p.cluster, p.list_size, p.hb, p.hscp,
                        p.data_zone) for p in april]
    load_paths([
        contact_csv(tmp_path / "c_apr2024.csv", april), contact_csv(tmp_path / "c_oct2024.csv", october),
        population_csv(tmp_path / "p1.csv", "20240101", april),  # before any contact release
        population_csv(tmp_path / "p2.csv", "20240701", april),  # between the two
        population_csv(tmp_path / "p3.csv", "20241001", april),
    ])
    got = rows("SELECT release_date, cluster_id, membership_release, list_size FROM practice_period "
               "WHERE practice_code = '10002' ORDER BY 1")
    assert got == [(date(2024, 1, 1), "S37000007/dundee-4", APR, 8000),
                   (JUL, "S37000007/dundee-4", APR, 8000),
                   (OCT, "S37000007/dundee-1", OCT, 8000)]


def test_same_file_twice_changes_nothing(tmp_path):
    files = [contact_csv(tmp_path / "c_apr2024.csv", base_practices()),
             population_csv(tmp_path / "p.csv", "20240401", base_practices())]
    first = load_paths(files)
    before = fingerprint(config.warehouse_path())
    again = load_paths(files)
    assert len(first.loaded) == 2 and again.loaded == []
    assert [reason for _, reason in again.skipped] == ["already loaded (same checksum)"] * 2
    assert fingerprint(config.warehouse_path()) == before


def test_corrected_release_replaces_its_rows(tmp_path):
    load_paths([population_csv(tmp_path / "p.csv", "20240401", base_practices())])
    corrected = [p for p in base_practices() if p.code != 70001]
    corrected[0] = Practice(10002, "Muirhead Surgery", "Dundee 4", 8100)
    load_paths([population_csv(tmp_path / "p_fixed.csv", "20240401", corrected)])
    assert rows("SELECT count(DISTINCT practice_code), sum(population) FROM list_population "
                "WHERE sex = 'All' AND age_band = 'All'") == [(4, 8100 + 6000 + 4000 + 3000)]
    assert rows("SELECT count(*) FROM load_ledger")[0][0] == 2


def test_failure_while_writing_rolls_back(tmp_path, monkeypatch):
    load_paths([contact_csv(tmp_path / "c_apr2024.csv", base_practices())])
    before = fingerprint(config.warehouse_path())

    def broken(con):
        raise RuntimeError("disk full")

    monkeypatch.setattr("gpcluster.warehouse.loader.rebuild_derived", broken)
    with pytest.raises(RuntimeError, match="disk full"):
        load_paths([population_csv(tmp_path / "p.csv", "20240401", base_practices()),
                    contact_csv(tmp_path / "c_jul2024.csv", base_practices()[:3])])
    assert fingerprint(config.warehouse_path()) == before


def test_files_the_derived_tables_do_not_read_leave_them_unrebuilt(tmp_path, monkeypatch):
    """A headcount file changes no cluster, practice or event: the load does not recompute them (a broken
    rebuild would fail it), and they are what the previous load left."""
    load_paths([contact_csv(tmp_path / "c_apr2024.csv", base_practices()),
                population_csv(tmp_path / "p.csv", "20240401", base_practices())])
    derived = "SELECT (SELECT count(*) FROM cluster), (SELECT count(*) FROM practice), " \
              "(SELECT count(*) FROM practice_event), (SELECT count(*) FROM cluster_name_history)"
    before = rows(derived)

    def broken(con):
        raise RuntimeError("rebuilt")

    monkeypatch.setattr("gpcluster.warehouse.loader.rebuild_derived", broken)
    headcount = tmp_path / "gp_contact_details_headcount_by_practice_2024-07-01.csv"
    headcount.write_text("PracticeCode,HB,HSCP,GPDesignation,Sex,Headcount\n"
                         f"{base_practices()[0].code},S08000030,S37000003,PERFORMER,Female,4\n", encoding="utf-8")
    load_paths([headcount])
    assert rows("SELECT count(*) FROM gp_headcount")[0][0] == 1
    assert rows(derived) == before and before[0][1] == len(base_practices())
    with pytest.raises(RuntimeError, match="rebuilt"):  # a list-size file does change them
        load_paths([population_csv(tmp_path / "p_jul.csv", "20240701", base_practices())])


def test_real_and_synthetic_data_are_kept_apart(tmp_path):
    demo = tmp_path / "demo"
    demo.mkdir()
    (demo / "SYNTHETIC").write_text("gpcluster synthetic Scotland\n")  # as synthetic.writer marks its files
    load_paths([contact_csv(demo / "c_apr2024.csv", base_practices())], synthetic=True)
    with pytest.raises(Exception, match="holds synthetic data"):
        load_paths([population_csv(tmp_path / "p.csv", "20240401", base_practices())])


def test_summary_counts_latest_release(tmp_path):
    load_paths([contact_csv(tmp_path / "c_apr2024.csv", base_practices()),
                population_csv(tmp_path / "p1.csv", "20240101", base_practices()[:2]),
                population_csv(tmp_path / "p2.csv", "20240401", base_practices())])
    con = open_warehouse()
    facts = summary(con)
    con.close()
    assert facts == {"latest_release": APR, "practices": 5, "clusters": 4, "hscps": 3, "boards": 2,
                     "patients": 8000 + 6000 + 4000 + 3000 + 9000, "releases": 2, "files_loaded": 3,
                     "synthetic": False}


def test_files_of_one_release_in_one_load_the_later_replaces(tmp_path):
    """List-size files with no release in common are written together; one repeating an earlier file's
    release is written after it, so it replaces that release as a later load would. Written as one table,
    the April rows would be held twice and the load refused."""
    corrected = [p for p in base_practices() if p.code != 70001]
    corrected[0] = Practice(10002, "Muirhead Surgery", "Dundee 4", 8100)
    report = load_paths([population_csv(tmp_path / "p_a.csv", "20240401", base_practices()),
                         population_csv(tmp_path / "p_b.csv", "20240701", base_practices()[:2]),
                         population_csv(tmp_path / "p_c.csv", "20240401", corrected)])
    assert [f.path.name for f in report.loaded] == ["p_a.csv", "p_b.csv", "p_c.csv"]
    assert rows("SELECT release_date, count(DISTINCT practice_code), sum(population) FROM list_population "
                "WHERE sex = 'All' AND age_band = 'All' GROUP BY 1 ORDER BY 1") == [
        (APR, 4, 8100 + 6000 + 4000 + 3000), (JUL, 2, 8000 + 6000)]
    assert rows("SELECT release_date, count(*) FROM practice_list_area GROUP BY 1 ORDER BY 1") == [(APR, 4), (JUL, 2)]
    assert rows("SELECT file_name, row_count, release_date FROM load_ledger ORDER BY load_id") == [
        ("p_a.csv", 15, APR), ("p_b.csv", 6, JUL), ("p_c.csv", 12, APR)]


def test_files_written_together_hold_what_separate_loads_hold(tmp_path):
    """Three releases in one load (one write) and in three loads: the same rows in every table but the
    ledger's times. The July file has no HB and HSCP columns, so its table differs from the others' and it
    is written on its own."""
    files = [population_csv(tmp_path / "p_apr.csv", "20240401", base_practices()),
             population_csv(tmp_path / "p_oct.csv", "20241001", base_practices()[1:]),
             contact_csv(tmp_path / "c_apr2024.csv", base_practices())]
    lines = population_csv(tmp_path / "full.csv", "20240701", base_practices()[:3]).read_text().splitlines()
    cells = [line.split(",") for line in lines]
    (tmp_path / "p_jul.csv").write_text("\n".join(",".join(c[:2] + c[4:]) for c in cells) + "\n")
    files.insert(1, tmp_path / "p_jul.csv")
    load_paths(files, warehouse=tmp_path / "together.duckdb")
    for file in files:
        load_paths([file], warehouse=tmp_path / "apart.duckdb")
    together, apart = fingerprint(tmp_path / "together.duckdb"), fingerprint(tmp_path / "apart.duckdb")
    assert together.pop("load_ledger")[0] == apart.pop("load_ledger")[0] == 4
    assert together == apart
    con = open_warehouse(tmp_path / "together.duckdb", read_only=True)
    try:
        areas = con.execute("SELECT release_date, count(*), count(board_code) FROM practice_list_area "
                            "GROUP BY 1 ORDER BY 1").fetchall()
    finally:
        con.close()
    assert areas == [(APR, 5, 5), (JUL, 3, 0), (OCT, 4, 4)]
