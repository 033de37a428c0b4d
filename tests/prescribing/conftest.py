"""Fixtures for the prescribing tests: small files in the PHS layouts, written in code."""

from __future__ import annotations

from pathlib import Path

import pytest

from gpcluster.warehouse import open_warehouse

HEADER_2023 = ("HBT,GPPractice,DMDCode,BNFItemCode,BNFItemDescription,ClassOfPreparationCode,NumberOfPaidItems,"
               "PaidQuantity,GrossIngredientCost,PaidDateMonth")
ROWS_2023 = [  # practice rows, two non-practice rows, a blank and a non-numeric prescriber code
    "S08000030,10002,318135009,0501013K0AAAJAJ,CO-AMOXICLAV_TAB 500MG/125MG,1,12,252,30.24,202404",
    "S08000030,10002,317992002,0501013B0AAABAB,AMOXICILLIN_CAP 500MG,1,30,630,25.2,202404",
    "S08000030,10002,317992002,0501013B0AAABAB,AMOXICILLIN_CAP 500MG,2,5,105,4.2,202404",
    "S08000030,1017,321150005,0103050P0AAAAAA,OMEPRAZOLE_CAP GASTRO-RESISTANT 20MG,1,40,1120,33.6,202404",
    "S08000030,99998,321150005,0103050P0AAAAAA,OMEPRAZOLE_CAP GASTRO-RESISTANT 20MG,1,7,196,5.88,202404",
    "S08000030,99999,317992002,0501013B0AAABAB,AMOXICILLIN_CAP 500MG,1,3,63,2.52,202404",
    'S08000030,,317992002,0501013B0AAABAB,"AMOXICILLIN_CAP 500MG, SUGAR FREE",1,2,42,1.68,202404',
    "S08000030,ABCDE,317992002,0501013B0AAABAB,AMOXICILLIN_CAP 500MG,1,1,21,0.84,202404",
]


def write_file(folder: Path, name: str, header: str, rows: list[str]) -> Path:
    path = folder / name
    path.write_text("\n".join([header, *rows]) + "\n", encoding="utf-8")
    return path


@pytest.fixture
def good_month(tmp_path) -> Path:
    return write_file(tmp_path, "pitc202404.csv", HEADER_2023, ROWS_2023)


@pytest.fixture
def warehouse(tmp_path):
    con = open_warehouse(tmp_path / "warehouse.duckdb")
    yield con
    con.close()
