"""`gpcluster indicators ...` through the real entry point."""

from __future__ import annotations

import sys

import pandas as pd
import pytest

from gpcluster import config
from gpcluster.cli import main

from .conftest import build_fixture_warehouse


def run(monkeypatch, capsys, *args):
    monkeypatch.setenv("COLUMNS", "250")
    monkeypatch.setattr(sys, "argv", ["gpcluster", *args])
    with pytest.raises(SystemExit) as exited:
        main()
    return exited.value.code or 0, capsys.readouterr()


def test_list_and_show(monkeypatch, capsys):
    code, out = run(monkeypatch, capsys, "indicators", "list")
    assert code == 0 and "aged_65_plus" in out.out and "gps_per_1000" in out.out
    code, out = run(monkeypatch, capsys, "indicators", "show", "need_weighted_list_size")
    assert code == 0 and "not the Scottish Workload Formula" in out.out


def test_show_unknown_indicator_exits_2(monkeypatch, capsys):
    code, out = run(monkeypatch, capsys, "indicators", "show", "nope_nope")
    assert code == 2 and "no indicator 'nope_nope'" in out.err


def test_compute_then_export(monkeypatch, capsys, tmp_path):
    build_fixture_warehouse(config.warehouse_path()).close()
    code, out = run(monkeypatch, capsys, "indicators", "compute", "-i", "aged_85_plus", "-i", "list_size")
    assert code == 0 and "computed 2 indicator(s)" in out.out
    target = tmp_path / "values.csv"
    code, out = run(monkeypatch, capsys, "indicators", "export", str(target), "--level", "practice")
    assert code == 0 and "suppressed" in out.out
    frame = pd.read_csv(target)
    assert set(frame.level) == {"practice"} and set(frame.indicator_id) == {"aged_85_plus", "list_size"}
    # practice 10006's 85+ at the first two releases (see test_exports), and 10005 with it each time: the two
    # make up their cluster, so the cluster total would otherwise give 10006's count back
    hidden = frame[frame.suppressed]
    assert sorted(zip(hidden.area_code, hidden.period, strict=True)) == [
        (10005, "2023-07-01"), (10005, "2023-10-01"), (10006, "2023-07-01"), (10006, "2023-10-01")]


def test_export_before_compute_is_a_clear_error(monkeypatch, capsys, tmp_path):
    build_fixture_warehouse(config.warehouse_path()).close()
    code, out = run(monkeypatch, capsys, "indicators", "export", str(tmp_path / "x.csv"))
    assert code == 2 and "indicators compute" in out.err
