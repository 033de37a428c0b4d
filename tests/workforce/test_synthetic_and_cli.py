"""The synthetic roster (calibration, determinism, goes through the importer) and the `plan` commands."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import typer
from typer.testing import CliRunner

from gpcluster.cli.plan import register
from gpcluster.synthetic.roster import NATIONAL_LIST, synthetic_roster, write_synthetic_roster
from gpcluster.workforce.roster import read_roster


@pytest.fixture(scope="module")
def scotland_like() -> pd.DataFrame:
    """~930 practices in 31 HSCPs with the national registered list."""
    rng = np.random.default_rng(11)
    n = 930
    frame = pd.DataFrame({"practice_code": [str(10000 + i) for i in range(n)],
                          "hscp_code": [f"S37{i % 31:06d}" for i in range(n)],
                          "cluster_id": [f"c{i // 7}" for i in range(n)],
                          "list_size": rng.integers(600, 16000, n)})
    frame["list_size"] = (frame["list_size"] * NATIONAL_LIST / frame["list_size"].sum()).round().astype(int)
    return frame


def test_synthetic_roster_is_calibrated_and_varied(scotland_like):
    posts, sessions = synthetic_roster(scotland_like, seed=1)
    delivered_wte = sessions["sessions_per_week"].sum() * 4 / 37.5
    assert delivered_wte == pytest.approx(2463, rel=0.03)
    assert posts["wte"].sum() == pytest.approx(2463, rel=0.06)
    by_role = posts.groupby("role")["wte"].sum()
    assert by_role["pharmacist"] + by_role["pharmacy_technician"] > 1000
    assert set(by_role.index) == {"pharmacist", "pharmacy_technician", "app", "anp", "mental_health_nurse",
                                  "mental_health_worker", "community_link_worker", "paramedic"}
    per_10k = (sessions.merge(scotland_like, on="practice_code").groupby("hscp_code")["sessions_per_week"].sum()
               / scotland_like.groupby("hscp_code")["list_size"].sum())
    assert per_10k.max() / per_10k.min() > 1.3  # some HSCPs ahead, some behind
    assert (posts["start_date"] >= pd.Timestamp("2018-04-01").date()).all()
    again = synthetic_roster(scotland_like, seed=1)
    assert again[0].equals(posts) and again[1].equals(sessions)
    assert not synthetic_roster(scotland_like, seed=2)[0].equals(posts)


def test_synthetic_roster_goes_through_the_importer(tmp_path, practices):
    path = write_synthetic_roster(practices.assign(list_size=practices["list_size"] * 100), tmp_path / "r.csv", 3)
    posts, sessions = read_roster(path, known_practices=set(practices["practice_code"]))
    assert len(posts) > 0 and set(sessions["practice_code"]) <= set(practices["practice_code"])


@pytest.fixture
def cli(warehouse, monkeypatch, tmp_path):
    path = warehouse.execute("SELECT path FROM duckdb_databases() WHERE NOT internal").fetchone()[0]
    warehouse.close()
    monkeypatch.setenv("GPCLUSTER_WAREHOUSE", path)
    app = typer.Typer()
    app.command("noop")(lambda: None)
    register(app)
    runner = CliRunner()
    return lambda *args: runner.invoke(app, list(args), catch_exceptions=False)


def test_plan_commands_end_to_end(cli, tmp_path):
    template = tmp_path / "roster.csv"
    assert cli("plan", "roster", "template", "--out", str(template)).exit_code == 0
    text = template.read_text(encoding="utf-8").replace("10002", "90001").replace("10017", "90005").replace("10021", "90002")
    template.write_text(text, encoding="utf-8")
    result = cli("plan", "roster", "import", str(template))
    assert result.exit_code == 0 and "2 posts" in result.output
    result = cli("plan", "coverage", "--as-at", "2021-01-01", "--level", "cluster")
    assert result.exit_code == 0 and "island" in result.output
    result = cli("plan", "allocate", "--model", "rurality_aware", "--role", "pharmacist", "--budget-wte", "2",
                 "--practice", "90001")
    assert "Lochside (1,500 patients, very remote rural)" in result.output
    result = cli("plan", "compare", "per_capita", "need_weighted", "--as-at", "2021-01-01")
    assert result.exit_code == 0 and "Inverse care" in result.output
    out = tmp_path / "plan.xlsx"
    result = cli("plan", "export", "--out", str(out), "--model", "per_capita", "--compare", "swf_approx",
                 "--as-at", "2021-01-01")
    assert result.exit_code == 0
    sheets = pd.read_excel(out, sheet_name=None)
    assert {"allocation", "coverage", "equity", "inverse_care"} <= set(sheets)


def test_export_suppresses_small_patient_counts(tmp_path):
    from gpcluster.workforce.export import write_tables

    frame = pd.DataFrame({"practice_code": ["a", "b"], "list_size": [3, 1500], "wte": [0.2, 0.4]})
    (path,) = write_tables({"t": frame}, tmp_path / "x.xlsx")
    back = pd.read_excel(path)
    assert pd.isna(back.loc[0, "list_size"]) and back.loc[1, "list_size"] == 1500
    assert back["wte"].tolist() == [0.2, 0.4]  # a post's WTE is not sensitive
    (csv_path,) = write_tables({"t": frame}, tmp_path / "csv")
    assert csv_path.read_text(encoding="utf-8").splitlines()[1:] == ["a,,0.2", "b,1500,0.4"]  # a count stays whole
