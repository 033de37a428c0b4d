"""Warehouse versions: each load writes a new version published atomically, a failed load publishes
nothing, a load never meets the lock of a process reading the current version, rollback, pruning."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import duckdb
import pytest
from typer.testing import CliRunner
from warehouse_builders import Practice, base_practices, contact_csv, fingerprint

from gpcluster import config
from gpcluster.cli import app
from gpcluster.errors import UserError, ValidationFailed
from gpcluster.warehouse import load_paths
from gpcluster.warehouse.versions import current_file, list_versions, new_version, rollback, versions_dir

runner = CliRunner()


def practices_loaded() -> int:
    con = duckdb.connect(str(config.warehouse_path()), read_only=True)
    try:
        return con.execute("SELECT count(DISTINCT practice_code) FROM practice_release").fetchone()[0]
    finally:
        con.close()


def test_each_load_is_a_new_version_behind_a_link(tmp_path):
    load_paths([contact_csv(tmp_path / "c_apr2024.csv", base_practices()[:3])])
    link = config.warehouse_path()
    assert link.is_symlink() and current_file() == (versions_dir() / "000001.duckdb").resolve()
    load_paths([contact_csv(tmp_path / "c_jul2024.csv", base_practices())])
    assert [v.number for v in list_versions()] == [1, 2]
    assert [v.current for v in list_versions()] == [False, True]
    assert "c_jul2024.csv" in list_versions()[-1].note
    assert practices_loaded() == 5
    # the earlier version still holds what it held
    con = duckdb.connect(str(versions_dir() / "000001.duckdb"), read_only=True)
    assert con.execute("SELECT count(DISTINCT practice_code) FROM practice_release").fetchone()[0] == 3
    con.close()


def test_a_load_that_changes_nothing_makes_no_version(tmp_path):
    path = contact_csv(tmp_path / "c_apr2024.csv", base_practices())
    load_paths([path])
    report = load_paths([path])
    assert report.loaded == [] and [v.number for v in list_versions()] == [1]


def test_a_failed_load_publishes_nothing_and_leaves_no_file(tmp_path):
    load_paths([contact_csv(tmp_path / "c_apr2024.csv", base_practices())])
    before = fingerprint(config.warehouse_path())
    bad = contact_csv(tmp_path / "c_jul2024.csv", base_practices())
    bad.write_text(bad.read_text().replace(",8000,", ",eight thousand,", 1))
    with pytest.raises(ValidationFailed, match="c_jul2024.csv, row 2, column 'PracticeListSize'"):
        load_paths([bad])
    assert fingerprint(config.warehouse_path()) == before
    assert sorted(p.name for p in versions_dir().glob("0*")) == ["000001.duckdb", "000001.json"]


def test_load_while_another_process_reads_the_current_version(tmp_path):
    """The web app holds the current version open read-only; DuckDB would refuse a writer on that file."""
    load_paths([contact_csv(tmp_path / "c_apr2024.csv", base_practices()[:3])])
    reader = subprocess.Popen([sys.executable, "-c", textwrap.dedent(f"""
        import sys, time, duckdb
        con = duckdb.connect({str(config.warehouse_path())!r}, read_only=True)
        print('open', flush=True)
        sys.stdin.readline()
        print(con.execute('SELECT count(*) FROM practice_release').fetchone()[0], flush=True)
        """)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert reader.stdout.readline().strip() == "open"
        with pytest.raises(duckdb.IOException):  # what a load in place met before versions
            duckdb.connect(str(current_file()), read_only=False).close()
        report = load_paths([contact_csv(tmp_path / "c_jul2024.csv", base_practices())])
        assert len(report.loaded) == 1 and practices_loaded() == 5
        reader.stdin.write("\n")
        reader.stdin.flush()
        assert reader.stdout.readline().strip() == "3"  # the reader still sees its own version, whole
    finally:
        reader.kill()
        reader.wait()


def test_a_plain_warehouse_file_becomes_version_1(tmp_path):
    link = config.warehouse_path()
    link.parent.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect(str(link))
    con.execute("CREATE TABLE marker AS SELECT 42 AS answer")
    con.close()
    load_paths([contact_csv(tmp_path / "c_apr2024.csv", base_practices())])
    assert link.is_symlink() and [v.number for v in list_versions()] == [1, 2]
    con = duckdb.connect(str(link), read_only=True)
    assert con.execute("SELECT answer FROM marker").fetchone()[0] == 42
    con.close()


def test_rollback_and_the_data_commands(tmp_path):
    load_paths([contact_csv(tmp_path / "c_apr2024.csv", base_practices()[:3])])
    load_paths([contact_csv(tmp_path / "c_jul2024.csv", base_practices())])
    listed = runner.invoke(app, ["data", "versions"], env={"COLUMNS": "200"})
    assert listed.exit_code == 0 and "c_jul2024.csv" in listed.output
    result = runner.invoke(app, ["data", "rollback"])
    assert result.exit_code == 0, result.output
    assert "version 1" in result.output and practices_loaded() == 3
    with pytest.raises(UserError, match="nothing earlier"):
        rollback()
    assert rollback(to=2).number == 2 and practices_loaded() == 5
    with pytest.raises(UserError, match="no version 9"):
        rollback(to=9)


def test_old_versions_are_pruned_by_the_setting(tmp_path, monkeypatch):
    monkeypatch.setenv("GPCLUSTER_WAREHOUSE_VERSIONS_KEPT", "2")
    for i, month in enumerate(("jan", "apr", "jul", "oct")):
        load_paths([contact_csv(tmp_path / f"c_{month}2024.csv", base_practices()[: i + 2])])
    assert [v.number for v in list_versions()] == [3, 4]
    assert sorted(p.name for p in versions_dir().glob("*.duckdb")) == ["000003.duckdb", "000004.duckdb"]
    assert practices_loaded() == 5


def test_one_writer_at_a_time(tmp_path):
    load_paths([contact_csv(tmp_path / "c_apr2024.csv", base_practices())])
    with new_version(note="held") as draft:
        draft.keep = False
        with pytest.raises(UserError, match="being written by process"):
            load_paths([contact_csv(tmp_path / "c_jul2024.csv", base_practices())])
    assert len(load_paths([contact_csv(tmp_path / "c_jul2024.csv", base_practices()[:4])]).loaded) == 1


def test_an_exception_inside_a_version_discards_it(tmp_path):
    load_paths([contact_csv(tmp_path / "c_apr2024.csv", base_practices())])
    before = os.path.realpath(config.warehouse_path())
    with pytest.raises(RuntimeError), new_version() as draft:
        draft.con.execute("DELETE FROM practice_release")
        raise RuntimeError("disk full")
    assert os.path.realpath(config.warehouse_path()) == before and practices_loaded() == 5
    assert not (versions_dir() / "000002.duckdb").exists()
    new = Practice(10099, "New Practice", "Dundee 4")
    load_paths([contact_csv(tmp_path / "c_jul2024.csv", [*base_practices(), new])])
    assert practices_loaded() == 6


def test_a_duplicate_key_that_escapes_validation_is_still_refused(tmp_path, monkeypatch):
    """Large fact tables carry no primary-key index; their keys are checked in one aggregate per load."""
    from warehouse_builders import population_csv

    load_paths([population_csv(tmp_path / "p_apr.csv", "20240401", base_practices())])
    before = fingerprint(config.warehouse_path())
    # a writer bug that appends instead of replacing would duplicate the release's keys
    monkeypatch.setattr("gpcluster.warehouse.writers.WRITERS", {
        **__import__("gpcluster.warehouse.writers", fromlist=["WRITERS"]).WRITERS,
        "gp_practice_populations": lambda con, frame: con.execute(
            "INSERT INTO list_population SELECT CAST(release_date AS DATE), practice_code, sex, age_band, population "
            "FROM incoming")})
    changed = population_csv(tmp_path / "p_apr_fixed.csv", "20240401", base_practices()[:4])
    with pytest.raises(UserError, match="p_apr_fixed.csv: the warehouse would hold two rows for release_date="):
        load_paths([changed])
    assert fingerprint(config.warehouse_path()) == before


def test_a_writer_that_counts_what_it_wrote_is_still_checked(tmp_path, monkeypatch):
    """The count that replaces the aggregate must catch an append too: the table then holds more rows for
    the release than the writer says it wrote."""
    from warehouse_builders import population_csv

    load_paths([population_csv(tmp_path / "p_apr.csv", "20240401", base_practices())])
    before = fingerprint(config.warehouse_path())

    def appends(con, frame):
        return con.execute("INSERT INTO list_population SELECT CAST(release_date AS DATE), practice_code, sex, "
                           "age_band, population FROM incoming").fetchall()[0][0]

    monkeypatch.setitem(__import__("gpcluster.warehouse.writers", fromlist=["WRITERS"]).WRITERS,
                        "gp_practice_populations", appends)
    with pytest.raises(UserError, match="p_apr_fixed.csv: the warehouse would hold two rows for release_date="):
        load_paths([population_csv(tmp_path / "p_apr_fixed.csv", "20240401", base_practices()[:4])])
    assert fingerprint(config.warehouse_path()) == before


def test_the_schema_step_is_skipped_only_for_a_version_written_with_the_same_schema(tmp_path, monkeypatch):
    import json

    from gpcluster.warehouse import connection

    load_paths([contact_csv(tmp_path / "c_apr2024.csv", base_practices()[:3])])
    meta = versions_dir() / "000001.json"
    assert json.loads(meta.read_text())["schema"] == connection.schema_fingerprint()
    calls = []
    real = connection.ensure_schema
    monkeypatch.setattr(connection, "ensure_schema", lambda con: calls.append(1) or real(con))
    load_paths([contact_csv(tmp_path / "c_jul2024.csv", base_practices())])
    assert calls == [] and practices_loaded() == 5  # the copy already had this schema
    # a version from other code (its schema recorded differently) lost a view: the next load restores it
    with new_version() as draft:
        draft.con.execute("DROP VIEW practice_period")
    current = current_file()
    stale = json.loads(current.with_suffix(".json").read_text())
    current.with_suffix(".json").write_text(json.dumps({**stale, "schema": "older code"}))
    load_paths([contact_csv(tmp_path / "c_oct2024.csv", base_practices()[:4])])
    assert calls == [1] and current_file() != current
    con = duckdb.connect(str(config.warehouse_path()), read_only=True)
    assert con.execute("SELECT count(*) FROM duckdb_views() WHERE view_name = 'practice_period'").fetchone()[0] == 1
    con.close()
