"""Every shipped definition loads and runs; malformed definitions are rejected naming file and field."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from gpcluster.errors import UserError, ValidationFailed
from gpcluster.indicators.definition import CATALOGUE_DIR, load_catalogue, load_definition, version_of
from gpcluster.indicators.engine import compute_frame

CATALOGUE = load_catalogue()
SHIPPED_IDS = sorted(p.stem for p in CATALOGUE_DIR.glob("*.toml"))

GOOD = textwrap.dedent("""\
    title = "Patients aged 65 and over"
    description = "Percentage of registered patients aged 65 and over."
    why_it_matters = "Older patients need more clinical time."
    measure_type = "proportion"
    purpose = "context"
    multiplier = 100
    unit = "%"
    polarity = "neither"
    source = "PHS GP Practice Populations"
    authored_by = "A. Author"
    reviewed_by = "R. Reviewer"
    next_review = 2027-01-01

    [numerator]
    kind = "population"
    age_bands = ["65-74", "75-84", "85+"]

    [denominator]
    kind = "population"
    """)


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / f"{name}.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_catalogue_has_at_least_twenty_indicators_with_required_topics():
    assert len(CATALOGUE) >= 20
    for required in ("list_size", "list_size_change", "aged_0_4", "aged_under_15", "aged_65_plus",
                     "aged_75_plus", "aged_85_plus", "sex_ratio", "simd_rank_mean", "urban_rural_class",
                     "gps_per_1000", "need_weighted_list_size", "gp_consultation_rate",
                     "mdt_consultation_rate", "emergency_admission_rate", "ae_attendance_rate",
                     "high_risk_prescribing"):
        assert required in SHIPPED_IDS


def test_synthetic_activity_indicators_are_flagged_synthetic():
    by_id = {d.id: d for d in CATALOGUE}
    for activity in ("gp_consultation_rate", "mdt_consultation_rate", "emergency_admission_rate",
                     "ae_attendance_rate", "high_risk_prescribing", "mdt_share_of_consultations"):
        assert by_id[activity].synthetic
        assert "SYNTHETIC" in by_id[activity].caveats
    assert not by_id["aged_65_plus"].synthetic


@pytest.mark.parametrize("indicator_id", SHIPPED_IDS)
def test_every_definition_loads_and_runs(indicator_id, fixture_con):
    definition = load_definition(indicator_id)
    assert definition.version == version_of((CATALOGUE_DIR / f"{indicator_id}.toml").read_text(encoding="utf-8"))
    frame = compute_frame(fixture_con, [definition])
    assert set(frame["level"]) == set(definition.levels)
    practice = frame[frame["level"] == "practice"]
    assert practice["value"].notna().any(), "no practice got a value"
    scotland = frame[frame["level"] == "scotland"]
    assert scotland["value"].notna().all()
    if definition.has_ci:
        ok = practice.dropna(subset=["value"])
        assert (ok["lower95"] <= ok["value"] + 1e-9).all() and (ok["value"] <= ok["upper95"] + 1e-9).all()
        assert (ok["lower998"] <= ok["lower95"] + 1e-9).all()


def test_a_new_definition_file_is_picked_up(tmp_path, fixture_con):
    write(tmp_path, "older_patients", GOOD)
    (definition,) = load_catalogue(tmp_path)
    assert definition.id == "older_patients"
    frame = compute_frame(fixture_con, [definition])
    assert len(frame[frame["level"] == "practice"]) == 6 * 4


@pytest.mark.parametrize(
    ("change", "field", "message"),
    [
        (('measure_type = "proportion"', 'measure_type = "percentage"'), "measure_type", "Input should be"),
        (('polarity = "neither"\n', ""), "polarity", "Field required"),
        (('next_review = 2027-01-01', 'next_review = "soon"'), "next_review", "date"),
        (('age_bands = ["65-74", "75-84", "85+"]', 'age_bands = ["65-74", "65+"]'), "numerator.age_bands",
         "unknown age band"),
        (('[denominator]\nkind = "population"\n', ""), "(file)", "needs a denominator"),
        (('kind = "population"\nage_bands', 'kind = "tally"\nage_bands'), "numerator", "does not match"),
        (('unit = "%"', 'unit = "%"\ncolour = "red"'), "colour", "Extra inputs"),
        (('[denominator]\nkind = "population"\n', '[denominator]\nkind = "sql"\nsql = "DROP TABLE list_population"\n'),
         "denominator.sql", "SELECT"),
        (('[denominator]\nkind = "population"\n',
          '[denominator]\nkind = "sql"\nsql = "SELECT 1; DELETE FROM list_population"\n'),
         "denominator.sql", "single statement"),
    ],
)
def test_malformed_definition_names_file_and_field(tmp_path, change, field, message):
    old, new = change
    assert old in GOOD
    path = write(tmp_path, "broken_one", GOOD.replace(old, new))
    with pytest.raises(ValidationFailed) as caught:
        load_catalogue(tmp_path)
    problems = caught.value.problems
    assert all(p.file == str(path) for p in problems)
    assert any(p.column == field and message in p.message for p in problems), [str(p) for p in problems]
    assert str(path) in str(caught.value)


def test_every_error_in_every_file_is_reported_at_once(tmp_path):
    write(tmp_path, "first_bad", GOOD.replace('unit = "%"\n', "").replace('multiplier = 100', 'multiplier = -1'))
    write(tmp_path, "second_bad", "title = [unclosed")
    write(tmp_path, "fine_one", GOOD)
    with pytest.raises(ValidationFailed) as caught:
        load_catalogue(tmp_path)
    found = {(Path(p.file).stem, p.column) for p in caught.value.problems}
    assert ("first_bad", "unit") in found and ("first_bad", "multiplier") in found
    assert any(stem == "second_bad" for stem, _ in found)
    assert not any(stem == "fine_one" for stem, _ in found)


def test_bad_file_names_and_reserved_fields_are_rejected(tmp_path):
    write(tmp_path, "Bad-Name", GOOD)
    write(tmp_path, "sets_version", 'version = "x"\n' + GOOD)
    with pytest.raises(ValidationFailed) as caught:
        load_catalogue(tmp_path)
    columns = {(Path(p.file).stem, p.column) for p in caught.value.problems}
    assert ("Bad-Name", "id") in columns
    assert ("sets_version", "version") in columns


def test_unknown_indicator_is_a_user_error():
    with pytest.raises(UserError, match="no indicator 'no_such_thing'"):
        load_definition("no_such_thing")


def test_definition_sql_that_fails_names_the_file(tmp_path, fixture_con):
    text = GOOD.replace('[denominator]\nkind = "population"\n',
                        '[denominator]\nkind = "sql"\nsql = "SELECT period, practice_code, value FROM nowhere"\n')
    write(tmp_path, "bad_table", text)
    (definition,) = load_catalogue(tmp_path)
    with pytest.raises(UserError, match="bad_table.toml"):
        compute_frame(fixture_con, [definition])
