"""Command-line checks a new user hits: bad ports, levels and formats get clear errors before any work;
long commands print plain progress lines when output is not a terminal; `gpcluster --help` stays light."""

from __future__ import annotations

import json
import subprocess
import sys

from typer.testing import CliRunner

from gpcluster.cli import app

runner = CliRunner()


def refused(args: list[str], *expected: str) -> None:
    result = runner.invoke(app, args, env={"COLUMNS": "200"})
    assert result.exit_code == 2, result.output
    for text in expected:
        assert text in result.output, result.output


def test_a_port_out_of_range_is_refused_not_wrapped():
    refused(["serve", "--port", "99999"], "99999 is not a TCP port (1-65535)")
    refused(["serve", "--port", "0"], "0 is not a TCP port")


def test_a_port_setting_out_of_range_is_refused(monkeypatch):
    monkeypatch.setenv("GPCLUSTER_PORT", "70000")
    refused(["serve"], "70000 is not a TCP port", "the port setting")


def test_workers_and_a_missing_warehouse_are_refused(tmp_path):
    refused(["serve", "--workers", "0"], "0 is not a number of server processes")
    refused(["serve", "--warehouse", str(tmp_path / "nowhere.duckdb")], "no warehouse at")


def test_an_unknown_level_is_refused_before_the_warehouse_is_opened(tmp_path):
    refused(["indicators", "export", str(tmp_path / "x.csv"), "--level", "galaxy"],
            "'galaxy' is not a level; choose from practice, cluster, hscp, board, scotland")
    refused(["plan", "coverage", "--level", "galaxy"], "'galaxy' is not a level here; choose practice or cluster")


def test_an_unknown_format_is_named_as_such(tmp_path):
    refused(["indicators", "export", str(tmp_path / "x.pdf"), "--format", "pdf"],
            "'pdf' is not an export format; choose from csv, excel, parquet")
    refused(["indicators", "export", str(tmp_path / "x.pdf")], "cannot tell the format of 'x.pdf'")


def test_an_unknown_source_is_refused(tmp_path):
    path = tmp_path / "x.csv"
    path.write_text("a,b\n1,2\n")
    result = runner.invoke(app, ["load", str(path), "--source", "galaxy"])
    assert result.exit_code != 0 and "unknown source 'galaxy'" in str(result.exception)


def test_progress_is_plain_lines_when_output_is_not_a_terminal(tmp_path):
    folder = tmp_path / "data"
    folder.mkdir()
    (folder / "contacts_apr2024.csv").write_text(
        "PracticeCode,GPPracticeName,PracticeListSize,HB,HSCP,DataZone,GPCluster\n"
        "10002,Muirhead Surgery,8000,S08000030,S37000007,S01007129,Dundee 4\n")
    result = runner.invoke(app, ["load", str(folder)])
    assert result.exit_code == 0, result.output
    lines = [line for line in result.output.splitlines() if line.startswith("[")]
    assert any("s] Validating contacts_apr2024.csv" in line for line in lines), result.output
    assert any("s] Loading contacts_apr2024.csv" in line for line in lines), result.output
    assert "\x1b[" not in result.output  # no terminal control codes in a log


def test_help_imports_no_heavy_library():
    """`gpcluster --help` must stay under 0.5 s: the CLI modules import pandas, scipy, duckdb, pyarrow,
    numpy and FastAPI only inside the commands that use them (timed in benchmarks, checked here)."""
    code = ("import sys, json; sys.argv = ['gpcluster', '--help']\n"
            "from gpcluster.cli import main\n"
            "try:\n    main()\nexcept SystemExit:\n    pass\n"
            "heavy = ['pandas', 'scipy', 'duckdb', 'pyarrow', 'numpy', 'fastapi', 'sqlalchemy', 'markdown_it']\n"
            "print(json.dumps([m for m in heavy if m in sys.modules]))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert json.loads(out.strip().splitlines()[-1]) == []
