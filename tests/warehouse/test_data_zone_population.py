"""Data-zone (and board) population estimates are stored as published (one row per year, data zone and sex, a column per
age) and read through the view data_zone_population, one row per age; a warehouse that held the long table
is converted on its next write, nothing lost, and a conversion that cannot be exact leaves it as it was."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest
from warehouse_builders import base_practices, contact_csv

from gpcluster import config
from gpcluster.errors import UserError
from gpcluster.warehouse import load_paths

HEADER = ("Year,DataZone,Sex,AllAges," + ",".join(f"Age{a}" for a in range(90)) + ",Age90plus,Age5QF")
ZONES = ("S01006506", "S01006507")


def population_file(path: Path, year: int, scale: int = 1) -> Path:
    """Two data zones; Male age 5 of the first zone suppressed by PHS (blank, flagged c)."""
    lines = [HEADER]
    for z, zone in enumerate(ZONES):
        male = [scale * (a + 1 + z) for a in range(91)]
        female = [scale * (2 * a + 3) for a in range(91)]
        every = [m + f for m, f in zip(male, female, strict=True)]
        for sex, ages in (("Male", male), ("Female", female), ("All", every)):
            cells = [str(v) for v in ages]
            flag = ""
            if z == 0 and sex == "Male":
                cells[5], flag = "", "c"
            lines.append(f"{year},{zone},{sex},{sum(ages)}," + ",".join(cells) + f",{flag}")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def expected_rows(year: int, scale: int = 1) -> list[tuple]:
    rows = []
    for z, zone in enumerate(ZONES):
        for a in range(91):
            male, female = scale * (a + 1 + z), scale * (2 * a + 3)
            if not (z == 0 and a == 5):
                rows.append((year, zone, "Male", a, male))
            rows += [(year, zone, "Female", a, female), (year, zone, "All", a, male + female)]
    return sorted(rows)


def read(query: str) -> list[tuple]:
    con = duckdb.connect(str(config.warehouse_path()), read_only=True)
    try:
        return con.execute(query).fetchall()
    finally:
        con.close()


def test_readers_see_one_row_per_age_and_no_row_for_a_suppressed_cell(tmp_path):
    load_paths([population_file(tmp_path / "dz_population_2021.csv", 2021)])
    assert sorted(read("SELECT * FROM data_zone_population")) == expected_rows(2021)
    assert read("""SELECT column_name, data_type FROM information_schema.columns
                   WHERE table_name = 'data_zone_population' ORDER BY ordinal_position""") == [
        ("year", "INTEGER"), ("data_zone", "VARCHAR"), ("sex", "VARCHAR"), ("age", "INTEGER"),
        ("population", "INTEGER")]
    assert read("SELECT count(*), count(age_5) FROM data_zone_population_wide") == [(6, 5)]
    # each data zone's population: the All row summed over its ages
    assert sorted(read("SELECT data_zone, population FROM data_zone WHERE population IS NOT NULL")) == [
        (zone, sum((a + 1 + z) + (2 * a + 3) for a in range(91))) for z, zone in enumerate(ZONES)]


def test_a_corrected_file_replaces_its_year_and_keeps_the_others(tmp_path):
    load_paths([population_file(tmp_path / "dz_population_2020.csv", 2020)])
    load_paths([population_file(tmp_path / "dz_population_2021.csv", 2021)])
    load_paths([population_file(tmp_path / "dz_population_2021_corrected.csv", 2021, scale=2)])
    assert sorted(read("SELECT * FROM data_zone_population")) == sorted(
        expected_rows(2020) + expected_rows(2021, scale=2))
    assert read("SELECT year, count(*) FROM data_zone_population_wide GROUP BY year ORDER BY year") == [
        (2020, 6), (2021, 6)]


def long_table_warehouse(path: Path, rows: list[tuple], board_rows: list[tuple] = ()) -> None:
    """A warehouse file as written before the wide tables: data_zone_population and board_population long
    tables (one row per age)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect(str(path))
    for table, area in (("data_zone_population", "data_zone"), ("board_population", "area_code")):
        con.execute(f"""CREATE TABLE {table} (year INTEGER NOT NULL, {area} VARCHAR NOT NULL,
                        sex VARCHAR NOT NULL, age INTEGER NOT NULL, population INTEGER NOT NULL)""")
    con.executemany("INSERT INTO data_zone_population VALUES (?, ?, ?, ?, ?)", rows)
    if board_rows:
        con.executemany("INSERT INTO board_population VALUES (?, ?, ?, ?, ?)", board_rows)
    con.close()


def test_a_warehouse_holding_the_long_tables_is_converted_with_every_row(tmp_path):
    rows = expected_rows(2019) + expected_rows(2020, scale=3)
    boards = [(2020, "S08000030" if zone == ZONES[0] else "S92000003", sex, age, n)
              for _, zone, sex, age, n in expected_rows(2020, scale=7)]
    long_table_warehouse(config.warehouse_path(), rows, boards)
    load_paths([contact_csv(tmp_path / "c_apr2024.csv", base_practices())])
    assert sorted(read("SELECT * FROM data_zone_population")) == sorted(rows)
    assert sorted(read("SELECT * FROM board_population")) == sorted(boards)
    assert read("""SELECT table_name, table_type FROM information_schema.tables
                   WHERE table_name IN ('data_zone_population', 'board_population') ORDER BY 1""") == [
        ("board_population", "VIEW"), ("data_zone_population", "VIEW")]
    assert read("SELECT count(*), count(age_5) FROM data_zone_population_wide") == [(12, 10)]
    assert read("SELECT count(*), count(age_5) FROM board_population_wide") == [(6, 5)]


def test_a_long_table_that_cannot_be_converted_exactly_is_left_as_it_was(tmp_path):
    rows = expected_rows(2020)
    long_table_warehouse(config.warehouse_path(), [*rows, rows[0][:4] + (999,)])  # one age held twice
    with pytest.raises(UserError, match="data_zone_population holds a \\(year, area, sex, age\\) in more than one row"):
        load_paths([contact_csv(tmp_path / "c_apr2024.csv", base_practices())])
    assert read("SELECT table_type FROM information_schema.tables WHERE table_name = 'data_zone_population'") == [
        ("BASE TABLE",)]
    assert read("SELECT count(*) FROM data_zone_population") == [(len(rows) + 1,)]
