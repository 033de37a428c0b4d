"""Each bad input is refused with a message naming file, row and column, and the warehouse is unchanged."""

from __future__ import annotations

import pytest
from warehouse_builders import Practice, base_practices, contact_csv, fingerprint, population_csv

from gpcluster import config
from gpcluster.errors import ValidationFailed
from gpcluster.warehouse import load_paths


@pytest.fixture
def loaded(tmp_path):
    """A warehouse holding one good release; returns (folder for new files, fingerprint before)."""
    good = tmp_path / "good"
    good.mkdir()
    load_paths([contact_csv(good / "contacts_apr2024.csv", base_practices()),
                population_csv(good / "pops.csv", "20240401", base_practices())])
    before = fingerprint(config.warehouse_path())
    assert before["practice_release"][0] == 5 and before["load_ledger"][0] == 2
    bad = tmp_path / "bad"
    bad.mkdir()
    return bad, before


def refused(path, before, source=None):
    with pytest.raises(ValidationFailed) as caught:
        load_paths([path], source=source)
    assert fingerprint(config.warehouse_path()) == before
    return caught.value


def test_missing_column(loaded):
    folder, before = loaded
    path = contact_csv(folder / "contacts_jul2024.csv", base_practices())
    lines = path.read_text().splitlines()
    path.write_text("\n".join(",".join(line.split(",")[:-1]) for line in lines) + "\n")  # drop GPCluster
    error = refused(path, before)
    assert "contacts_jul2024.csv, row 1, column 'GPCluster'" in str(error)
    assert error.problems[0].kind == "missing_column"


def test_non_numeric_list_size(loaded):
    folder, before = loaded
    path = contact_csv(folder / "contacts_jul2024.csv", base_practices())
    path.write_text(path.read_text().replace("Blue Practice,6000,", "Blue Practice,6,000x,").replace(
        ",6,000x,", ",six thousand,"))
    error = refused(path, before)
    assert "contacts_jul2024.csv, row 3, column 'PracticeListSize'" in str(error)
    assert "'six thousand'" in str(error)


def test_unknown_board_code(loaded):
    folder, before = loaded
    practices = base_practices()
    practices[4] = Practice(70001, "Leith Practice", "Leith", 9000, hb="S08000099", hscp="S37000012")
    error = refused(contact_csv(folder / "contacts_jul2024.csv", practices), before)
    assert "contacts_jul2024.csv, row 6, column 'HB': unknown board code 'S08000099'" in str(error)


def test_duplicated_practice(loaded):
    folder, before = loaded
    practices = [*base_practices(), Practice(10017, "Blue Practice again", "Dundee 4")]
    error = refused(contact_csv(folder / "contacts_jul2024.csv", practices), before)
    assert "contacts_jul2024.csv, row 7" in str(error) and "duplicate practice" in str(error)
    assert "10017" in str(error)


def test_truncated_file(loaded):
    folder, before = loaded
    path = population_csv(folder / "pops_jul.csv", "20240701", base_practices())
    text = path.read_text()
    path.write_text(text[: text.rindex("\n", 0, len(text) - 1) + 30])  # last line cut after 30 characters
    error = refused(path, before)
    assert "pops_jul.csv, row 16" in str(error)  # header + 15 rows: the cut row is line 16
    assert "truncated" in str(error)


def test_latin1_file(loaded):
    folder, before = loaded
    practices = base_practices()
    practices[1] = Practice(10017, "Caf\u00e9 Street Practice", "Dundee 4", 6000)
    path = contact_csv(folder / "contacts_jul2024.csv", practices)
    path.write_bytes(path.read_text(encoding="utf-8").encode("latin-1"))
    error = refused(path, before)
    assert "contacts_jul2024.csv, row 3" in str(error) and "not UTF-8" in str(error)


@pytest.mark.parametrize("content", [b"", b"\n\n", b"  \r\n"])
def test_empty_file(loaded, content):
    folder, before = loaded
    path = folder / "contacts_jul2024.csv"
    path.write_bytes(content)
    error = refused(path, before, source="gp_practice_contact_details")
    assert "contacts_jul2024.csv" in str(error) and "empty" in str(error)


def test_header_only_file(loaded):
    folder, before = loaded
    path = contact_csv(folder / "contacts_jul2024.csv", [])
    error = refused(path, before)
    assert "contacts_jul2024.csv, row 1" in str(error) and "no data rows" in str(error)


def test_male_plus_female_must_equal_all(loaded):
    folder, before = loaded
    path = population_csv(folder / "pops_jul.csv", "20240701", base_practices())
    lines = path.read_text().splitlines()
    cells = lines[3].split(",")  # practice 10002, All row
    cells[6] = str(int(cells[6]) + 1)
    cells[8] = str(int(cells[8]) + 1)  # keeps the bands summing to AllAges
    lines[3] = ",".join(cells)
    path.write_text("\n".join(lines) + "\n")
    error = refused(path, before)
    assert "pops_jul.csv, row 4, column 'AllAges': Male + Female = 8000 but All is 8001" in str(error)


def test_every_problem_reported_at_once(loaded):
    folder, before = loaded
    practices = [*base_practices(), Practice(10017, "Twice", "Dundee 4", hb="S08000099")]
    path = contact_csv(folder / "contacts_jul2024.csv", practices)
    path.write_text(path.read_text().replace(",8000,", ",lots,"))
    error = refused(path, before)
    kinds = {p.kind for p in error.problems}
    assert {"not_integer", "duplicate"} <= kinds
