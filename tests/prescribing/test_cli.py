"""`gpcluster prescribing` through the real Typer app: loading an extract with practice names (and the
names-to-codes report), and small counts suppressed in what the chart and savings commands print."""

from __future__ import annotations

import csv

from typer.testing import CliRunner

from gpcluster.cli import app

runner = CliRunner()
CONTACTS = ("PracticeCode,GPPracticeName,PracticeListSize,HB,HSCP,DataZone,GPCluster\n"
            "10002,Muirhead Medical Centre,8000,S08000030,S37000007,S01007129,Dundee 4\n"
            "10017,Blue Practice,6000,S08000030,S37000007,S01007129,Dundee 1\n"
            "20017,Blue Practice,6000,S08000029,S37000029,S01007129,Fife 1\n")
NAMES = ("PaidDateMonth,HB2014,HB2014Name,GPPracticeName,BNFItemCode,BNFItemDescription,NumberOfPaidItems\n"
         "2019-08-01,S08000027,NHS Tayside,MUIRHEAD MEDICAL CENTRE,0208020Z0BBABAB,ELIQUIS_TAB 5MG,41.0\n"
         "2019-08-01,S08000030,NHS Tayside,Blue Practice,0208020Z0BBABAB,ELIQUIS_TAB 5MG,7.0\n"
         "2019-08-01,S08000030,NHS Tayside,THE SURGERY,0208020Z0BBABAB,ELIQUIS_TAB 5MG,3.0\n")


def test_an_extract_with_names_loads_and_reports_how_each_name_matched(tmp_path):
    (tmp_path / "practice_contactdetails_apr2024.csv").write_text(CONTACTS)
    (tmp_path / "prescribing.csv").write_text(NAMES)
    assert runner.invoke(app, ["load", str(tmp_path / "practice_contactdetails_apr2024.csv")]).exit_code == 0
    report = tmp_path / "names.csv"
    result = runner.invoke(app, ["prescribing", "load", str(tmp_path / "prescribing.csv"), "--name-report",
                                 str(report)], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "practice names: 2 of 3 matched to a practice code" in result.output
    rows = {r["practice_name"]: r for r in csv.DictReader(report.open())}
    # the 2014 Tayside code is today's Tayside; Blue Practice is unique within Tayside, though not in Scotland
    assert rows["MUIRHEAD MEDICAL CENTRE"]["practice_code"] == "10002"
    assert rows["Blue Practice"]["practice_code"] == "10017"
    assert rows["THE SURGERY"]["matched"] == "False" and rows["THE SURGERY"]["practice_code"] == ""


def test_every_prescribing_command_has_help():
    for command in ("load", "codes", "measures", "compute", "chart", "savings"):
        result = runner.invoke(app, ["prescribing", command, "--help"])
        assert result.exit_code == 0 and "Usage" in result.output


def test_chart_and_savings_print_no_small_count(tmp_path):
    import pandas as pd

    from gpcluster import config
    from indicators.conftest import build_fixture_warehouse

    config.warehouse_path().parent.mkdir(parents=True, exist_ok=True)
    build_fixture_warehouse(config.warehouse_path()).close()
    small, large = tmp_path / "small.csv", tmp_path / "large.csv"
    # practice 10006 (about 95 patients) has a couple of gabapentinoid items a month: suppressed every month
    for practice, path in (("10006", small), ("10001", large)):
        result = runner.invoke(app, ["prescribing", "chart", "rx_gabapentinoid_items", "--practice", practice,
                                     "--csv", str(path)], env={"COLUMNS": "200"})
        assert result.exit_code == 0, result.output
    assert pd.read_csv(small)["practice"].isna().all() and pd.read_csv(large)["practice"].notna().all()
    assert (pd.read_csv(small)["practices"] == 5).all()  # centiles over the values that may be shown
    savings = runner.invoke(app, ["prescribing", "savings", "rx_cost_per_patient"], env={"COLUMNS": "200"})
    assert savings.exit_code == 0 and "potential savings across Scotland" in savings.output
