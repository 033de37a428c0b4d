"""Files are checked against what they declare (name, release, provenance), and no input, however
broken, ends in anything but a clear message naming the file (F9 of the red-team pass)."""

from __future__ import annotations

import sys

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from warehouse_builders import base_practices, contact_csv, fingerprint, population_csv

from gpcluster import config
from gpcluster.cli import main
from gpcluster.errors import UserError, ValidationFailed
from gpcluster.warehouse import load_paths


@pytest.fixture
def loaded(tmp_path):
    good = tmp_path / "good"
    good.mkdir()
    load_paths([contact_csv(good / "contacts_apr2024.csv", base_practices()[:4])])
    bad = tmp_path / "bad"
    bad.mkdir()
    return bad, fingerprint(config.warehouse_path())


def refused(paths, before, **kwargs) -> str:
    with pytest.raises(UserError) as caught:
        load_paths(paths, **kwargs)
    assert fingerprint(config.warehouse_path()) == before
    return str(caught.value)


def test_contact_details_named_like_a_list_size_file_are_refused(loaded):
    folder, before = loaded
    path = contact_csv(folder / "practice_listsizes_jul2024-open-data.csv", base_practices())
    message = refused([path], before)
    assert "practice_listsizes_jul2024-open-data.csv, row 1" in message
    assert "file name says gp_practice_populations" in message and "gp_practice_contact_details" in message
    # naming the source explicitly is the user's declaration, and is taken
    assert load_paths([path], source="gp_practice_contact_details").loaded[0].source == "gp_practice_contact_details"


def test_the_headcount_file_is_not_taken_for_contact_details(loaded, tmp_path):
    folder, before = loaded
    path = contact_csv(folder / "gp_contact_details_headcount_by_practice_2024-07-01.csv", base_practices())
    assert "the file name says gp_headcount" in refused([path], before)


def test_a_date_column_that_contradicts_the_file_name_is_refused(loaded):
    folder, before = loaded
    path = population_csv(folder / "practice_listsizes_jul2024-open-data.csv", "20240401", base_practices())
    message = refused([path], before)
    assert "row 2, column 'Date'" in message and "says 2024-04-01 but the file name says Jul 2024" in message
    same = population_csv(folder / "practice_listsizes_apr2024-open-data.csv", "20240401", base_practices())
    assert load_paths([same]).loaded[0].release_date.isoformat() == "2024-04-01"


def test_synthetic_files_are_refused_as_real_data(loaded):
    folder, before = loaded
    path = contact_csv(folder / "contacts_jul2024.csv", base_practices())
    (folder / "SYNTHETIC").write_text("gpcluster synthetic Scotland\n")
    message = refused([path], before)
    assert "contacts_jul2024.csv: this is synthetic demo data (a SYNTHETIC marker file is beside it)" in message


def test_synthetic_codes_give_a_file_away_without_its_marker(loaded):
    folder, before = loaded
    path = contact_csv(folder / "contacts_jul2024.csv", base_practices())
    path.write_text(path.read_text().replace("S01007129", "S01900017"))
    assert "synthetic data zone codes such as 'S01900017'" in refused([path], before)


def test_a_synthetic_load_refuses_real_files(tmp_path):
    path = contact_csv(tmp_path / "contacts_apr2024.csv", base_practices())
    with pytest.raises(ValidationFailed, match="this one looks real"):
        load_paths([path], synthetic=True)
    assert not config.warehouse_path().exists()


def test_random_bytes_and_huge_numbers_give_messages_not_tracebacks(loaded):
    folder, before = loaded
    noise = folder / "noise.csv"
    noise.write_bytes(bytes(range(256)) * 20)
    assert "noise.csv, row 1: not a text CSV file" in refused([noise], before)
    huge = contact_csv(folder / "contacts_jul2024.csv", base_practices())
    huge.write_text(huge.read_text().replace(",8000,", ",12345678901234567890123,", 1))
    message = refused([huge], before)
    assert "contacts_jul2024.csv, row 2, column 'PracticeListSize': 12345678901234567890123 is outside" in message


def test_the_load_command_prints_the_problem_and_exits_2(loaded, monkeypatch, capsys):
    folder, before = loaded
    noise = folder / "noise.csv"
    noise.write_bytes(bytes(range(256)) * 20)
    monkeypatch.setattr(sys, "argv", ["gpcluster", "load", str(noise)])
    with pytest.raises(SystemExit) as exited:
        main()
    captured = capsys.readouterr()
    assert exited.value.code == 2 and "error: noise.csv, row 1: not a text CSV file" in captured.err
    assert "Traceback" not in captured.err + captured.out


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.data())
def test_mangled_files_never_raise_anything_but_user_errors(tmp_path, data):
    """Random bytes, and good files with random edits: every failure is a UserError naming the file."""
    good = population_csv(tmp_path / "practice_listsizes_apr2024-open-data.csv", "20240401", base_practices())
    text = good.read_bytes()
    kind = data.draw(st.sampled_from(["bytes", "cut", "insert", "replace"]))
    if kind == "bytes":
        mangled = data.draw(st.binary(min_size=0, max_size=400))
    else:
        at = data.draw(st.integers(0, len(text)))
        junk = data.draw(st.binary(max_size=30) | st.sampled_from(
            [b"\x00", b'"', b"\r", b"99999999999999999999999", b"-1", b"1e400", b"NaN", b",,,", b"\xef\xbb\xbf"]))
        mangled = (text[:at] if kind == "cut" else text[:at] + junk + text[at + (len(junk) if kind == "replace"
                                                                                    else 0):])
    path = tmp_path / "mangled_apr2024.csv"
    path.write_bytes(mangled)
    warehouse = tmp_path / "fuzz.duckdb"
    try:
        load_paths([path], warehouse=warehouse, source=data.draw(st.sampled_from([None, "gp_practice_populations"])))
    except UserError as exc:
        assert "mangled_apr2024.csv" in str(exc)
