"""The data commands through the real Typer app: load, status, settings, demo, and error exit codes."""

from __future__ import annotations

import sys

import pytest
from typer.testing import CliRunner

from gpcluster import config
from gpcluster.cli import app, main

runner = CliRunner()
CONTACTS = ("PracticeCode,GPPracticeName,PracticeListSize,HB,HSCP,DataZone,GPCluster\n"
            "10002,Muirhead Surgery,8000,S08000030,S37000007,S01007129,Dundee 4\n"
            "10017,Blue Practice,6000,S08000030,S37000007,S01007129,Dundee 1\n")
POPS_HEADER = ("Date,PracticeCode,Sex,AllAges,Ages0to4,Ages5to14,Ages15to24,Ages25to44,Ages45to64,Ages65to74,"
               "Ages75to84,Ages85plus\n")
POPS = POPS_HEADER + "".join(
    f"20240401,{code},{sex},{8 * n},{','.join([str(n)] * 8)}\n"
    for code in (10002, 10017) for sex, n in (("Male", 1), ("Female", 2), ("All", 3)))


@pytest.fixture
def files(tmp_path):
    folder = tmp_path / "data"
    folder.mkdir()
    (folder / "contacts_apr2024.csv").write_text(CONTACTS)
    (folder / "pops.csv").write_text(POPS)
    (folder / "notes.csv").write_text("something,else\n1,2\n")
    return folder


def run_main(monkeypatch, capsys, *args):
    monkeypatch.setattr(sys, "argv", ["gpcluster", *args])
    with pytest.raises(SystemExit) as exited:
        main()
    return exited.value.code, capsys.readouterr()


def test_every_command_has_help():
    for command in ("load", "sync", "status", "settings", "demo"):
        result = runner.invoke(app, [command, "--help"])
        assert result.exit_code == 0 and "Usage" in result.output


def test_load_folder_then_status(files):
    result = runner.invoke(app, ["load", str(files)])
    assert result.exit_code == 0, result.output
    assert "loaded contacts_apr2024.csv: gp_practice_contact_details (2024-04-01), 2 rows" in result.output
    assert "skipped notes.csv: not a recognised source" in result.output
    status = runner.invoke(app, ["status"], env={"COLUMNS": "250"})
    assert status.exit_code == 0, status.output
    assert "practices" in status.output and "SYNTHETIC" not in status.output
    assert "pops.csv" in status.output and "gp_practice_populations" in status.output
    assert config.warehouse_path().exists()


def test_bad_file_exits_2_with_file_row_and_column(files, monkeypatch, capsys):
    bad = files / "contacts_jul2024.csv"
    bad.write_text(CONTACTS.replace(",6000,", ",lots,"))
    code, out = run_main(monkeypatch, capsys, "load", str(bad))
    assert code == 2
    assert "contacts_jul2024.csv, row 3, column 'PracticeListSize'" in out.err.replace("\n", " ")
    assert not config.warehouse_path().exists() or "contacts_jul2024" not in runner.invoke(app, ["status"]).output


def test_release_date_option_only_fills_in_missing_dates(files):
    path = files / "headcount.csv"
    path.write_text("PracticeCode,HB,HSCP,GPDesignation,Sex,Headcount\n10002,S08000030,S37000003,PERFORMER,Male,3\n")
    missing = runner.invoke(app, ["load", str(path)])
    assert missing.exit_code != 0 and "pass --release-date" in str(missing.exception)
    result = runner.invoke(app, ["load", str(files), "--release-date", "2020-12-01"])
    assert result.exit_code == 0, result.output
    assert "gp_headcount (2020-12-01), 1 rows" in result.output
    assert "gp_practice_contact_details (2024-04-01)" in result.output  # from the file name, not the option


def test_unknown_source_option(files, monkeypatch, capsys):
    code, out = run_main(monkeypatch, capsys, "load", str(files / "pops.csv"), "--source", "nonsense")
    assert code == 2 and "unknown source 'nonsense'" in out.err


def test_settings_lists_every_setting(monkeypatch):
    monkeypatch.setenv("GPCLUSTER_HTTP_RETRIES", "7")
    result = runner.invoke(app, ["settings"], env={"COLUMNS": "250"})
    assert result.exit_code == 0
    for name in config.SETTINGS:
        assert name in result.output
    assert "│ http_retries" in result.output and " 7 " in result.output


def test_sync_then_load_with_recorded_portal(monkeypatch):
    import json
    from pathlib import Path

    import httpx

    from gpcluster.sources import ckan, sync

    recorded = Path(__file__).resolve().parents[1] / "sources" / "recorded"
    package = json.loads((recorded / "package_show_gp-practice-populations.json").read_text())

    def portal(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/package_show"):
            return httpx.Response(200, json=package)
        return httpx.Response(200, content=(recorded / request.url.path.rsplit("/", 1)[-1]).read_bytes())

    monkeypatch.setattr(sync, "CkanClient",
                        lambda: ckan.CkanClient(transport=httpx.MockTransport(portal), sleep=lambda s: None))
    result = runner.invoke(app, ["sync", "--dataset", "gp_practice_populations", "--load"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "2 file(s) downloaded" in result.output
    assert "practice_listsizes_oct2024-open-data.csv: gp_practice_populations (2024-10-01)" in result.output
    assert (config.cache_dir() / "manifest.json").exists()
