"""Exports are safe to open in a spreadsheet (issue 13, F7): text a spreadsheet would run as a formula is
neutralised in CSV and Excel, while numbers stay numbers."""

from __future__ import annotations

import csv
import io

import openpyxl
import pandas as pd
import pytest

from gpcluster.exports import spreadsheet_safe, write_frame
from gpcluster.workforce.export import write_tables

ATTACKS = ["=HYPERLINK(\"http://evil.example\",\"click\")", "+1+1", "-2+3", "@SUM(A1:A2)", "\tx", "\rcmd"]


def _frame() -> pd.DataFrame:
    return pd.DataFrame({"name": [*ATTACKS, "Ash Surgery"], "change": [-3.5, -1.0, 0.0, 2.0, 3.0, 4.0, -7.25],
                         "posts": [-1, 2, 3, 4, 5, 6, 7]})


def test_text_cells_that_start_a_formula_get_an_apostrophe_and_numbers_do_not():
    safe = spreadsheet_safe(_frame())
    assert safe["name"].tolist() == ["'" + a for a in ATTACKS] + ["Ash Surgery"]
    assert safe["change"].tolist() == _frame()["change"].tolist() and safe["change"].dtype == float
    assert safe["posts"].dtype == _frame()["posts"].dtype
    mixed = spreadsheet_safe(pd.DataFrame({"x": ["=1", -4.0, None]}))  # an object column with a number in it
    assert mixed["x"].tolist() == ["'=1", -4.0, None]
    assert spreadsheet_safe(pd.DataFrame({"=cmd": [1]})).columns.tolist() == ["'=cmd"]


def test_csv_export_neutralises_formulas(tmp_path):
    path = tmp_path / "out.csv"
    write_frame(_frame(), path, "csv", synthetic=False)
    rows = list(csv.DictReader(io.StringIO(path.read_bytes().decode("utf-8"), newline="")))
    assert [r["name"] for r in rows[:6]] == ["'" + a for a in ATTACKS]
    assert rows[0]["change"] == "-3.5" and rows[0]["posts"] == "-1"  # a negative number is not text


@pytest.mark.parametrize("writer", ["exports", "workforce"])
def test_excel_export_has_no_formula_cells_and_keeps_numbers_numeric(tmp_path, writer):
    path = tmp_path / "out.xlsx"
    if writer == "exports":
        write_frame(_frame(), path, "excel", synthetic=False)
        sheet = openpyxl.load_workbook(path)["indicators"]
    else:
        write_tables({"plan": _frame()}, path)
        sheet = openpyxl.load_workbook(path)["plan"]
    cells = list(sheet.iter_rows(min_row=2, values_only=False))
    assert all(row[0].data_type == "s" for row in cells)  # never "f" (formula)
    assert [row[0].value for row in cells[:5]] == ["'" + a for a in ATTACKS[:5]]
    assert cells[5][0].value.startswith("'")  # the carriage return itself comes back as _x000D_
    assert cells[0][1].data_type == "n" and cells[0][1].value == -3.5
    assert cells[0][2].value == -1


def test_workforce_csv_tables_are_neutralised(tmp_path):
    [path] = write_tables({"plan": _frame()}, tmp_path / "out")
    assert path.read_bytes().decode("utf-8").splitlines()[1].startswith("\"'=HYPERLINK(")
