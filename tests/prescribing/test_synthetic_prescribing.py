"""Synthetic prescribing at real scale: the PHS layout, linked to the synthetic practices, loadable by the
real loader, deterministic, and with planted changes that show in the files."""

from __future__ import annotations

import csv
import hashlib
from datetime import date

import duckdb
import pytest

from gpcluster.synthetic.prescribing import (
    LAYOUTS,
    TRUTH_FILE,
    Formulary,
    PrescribingChange,
    prescribing_months,
    write_prescribing_month,
    write_synthetic_prescribing,
)
from gpcluster.synthetic.scotland import build_scotland

APRIL, MAY = date(2024, 4, 1), date(2024, 5, 1)


@pytest.fixture(scope="module")
def scotland():
    return build_scotland()


@pytest.fixture(scope="module")
def two_months(scotland, tmp_path_factory):
    folder = tmp_path_factory.mktemp("rx-synthetic")
    formulary = Formulary(scotland.seed)
    codes = scotland.history.practices["code"].astype(str).tolist()
    active = scotland.history.active[:, -1]
    target = next(c for c, a, n in zip(codes, active, scotland.history.list_size[:, -1], strict=True)
                  if a and n > 8000)
    change = PrescribingChange(target, "antibiotic", ("rx_antibacterial_items",), MAY, 1.6, "test")
    paths = {}
    for month in (APRIL, MAY):
        paths[month] = folder / f"pitc{month:%Y%m}.csv"
        write_prescribing_month(scotland, formulary, month, paths[month], [change])
    return paths, target, formulary


def test_a_month_is_at_real_scale_in_the_phs_layout_and_linked_to_the_synthetic_practices(scotland, two_months):
    paths, _, _ = two_months
    with paths[APRIL].open(encoding="utf-8") as handle:
        assert next(csv.reader(handle)) == list(LAYOUTS["2023"])
    con = duckdb.connect()
    rows, practices, months = con.execute(
        "SELECT count(*), count(DISTINCT GPPractice), count(DISTINCT PaidDateMonth) FROM read_csv(?, all_varchar=true)",
        [str(paths[APRIL])]).fetchone()
    assert 1_000_000 < rows < 1_500_000 and months == 1
    known = set(scotland.history.practices["code"].astype(str)) | {"99996", "99997", "99998", "99999"}
    codes = {c for (c,) in con.execute("SELECT DISTINCT GPPractice FROM read_csv(?, all_varchar=true)",
                                       [str(paths[APRIL])]).fetchall()}
    assert codes <= known and practices > 900


def test_the_planted_change_shows_in_the_files(two_months):
    paths, target, _ = two_months
    con = duckdb.connect()
    ratio = {}
    for who, condition in (("target", "GPPractice = ?"), ("others", "GPPractice <> ?")):
        items = [con.execute(f"SELECT sum(NumberOfPaidItems) FROM read_csv(?, all_varchar=false) "
                             f"WHERE {condition} AND BNFItemCode LIKE '0501%'", [str(paths[m]), target]).fetchone()[0]
                 for m in (APRIL, MAY)]
        ratio[who] = items[1] / items[0]
    assert ratio["target"] / ratio["others"] == pytest.approx(1.6, rel=0.12)


def test_the_files_load_through_the_real_loader(two_months, tmp_path):
    from gpcluster.prescribing.ingest import load_prescribing
    from gpcluster.warehouse import open_warehouse

    paths, _, _ = two_months
    con = open_warehouse(tmp_path / "w.duckdb")
    [load] = load_prescribing([paths[APRIL]], synthetic=True, con=con)
    assert load.month == APRIL and set(load.other_rows) == {"community_pharmacy", "unallocated", "hospital", "dental"}
    assert con.execute("SELECT count(*) FROM bnf_hierarchy WHERE chapter_name IS NULL").fetchone()[0] == 0
    con.close()


def test_same_seed_same_bytes_and_the_truth_is_written_beside_the_files(scotland, two_months, tmp_path):
    paths, _, _ = two_months
    written = write_synthetic_prescribing(scotland, tmp_path, months=1)
    assert [p.name for p in written] == [f"pitc{prescribing_months(scotland, 1)[0]:%Y%m}.csv"]
    with (tmp_path / TRUTH_FILE).open(encoding="utf-8") as handle:
        truth = list(csv.DictReader(handle))
    assert len(truth) == 11 and {t["theme"] for t in truth} >= {"antibiotic", "broad_spectrum", "inhaler_mdi"}
    again = write_synthetic_prescribing(scotland, tmp_path / "again", months=1)
    assert hashlib.sha256(written[0].read_bytes()).digest() == hashlib.sha256(again[0].read_bytes()).digest()
