"""The engine against hand calculation from the fixture's own inputs (see conftest.py)."""

from __future__ import annotations

import datetime as dt
import hashlib
import math
import shutil

import duckdb
import numpy as np
import pandas as pd
import pytest
from scipy import stats as sps
from statsmodels.stats.proportion import proportion_confint

from gpcluster.indicators.definition import CATALOGUE_DIR, load_catalogue, load_definition
from gpcluster.indicators.engine import compute, compute_frame
from gpcluster.indicators.statistics import attach_statistics

from .conftest import (
    ANGUS,
    BANDS,
    CITY,
    DATA_ZONES,
    DUNDEE,
    NORTH,
    PRACTICES,
    RELEASES,
    SOUTH,
    TAYSIDE,
    activity_value,
    band_population,
    cluster_of,
)

OLD = ("65-74", "75-84", "85+")


def list_size(practice, release):
    return sum(band_population(practice, s, b, release) for s in ("Male", "Female") for b in BANDS)


def older(practice, release):
    return sum(band_population(practice, s, b, release) for s in ("Male", "Female") for b in OLD)


def members(area_level, area, release):
    """Practices counted in an area at a release, from the fixture's membership rules."""
    if area_level == "cluster":
        return [p for p in PRACTICES if cluster_of(p, release) == area]
    if area_level == "hscp":
        return [p for p, info in PRACTICES.items() if info[0] == area]
    if area_level == "board":
        return [p for p, info in PRACTICES.items() if info[1] == area]
    return list(PRACTICES)


def row(frame, indicator, level, area, period):
    hit = frame[(frame.indicator_id == indicator) & (frame.level == level) & (frame.area_code == area)
                & (frame.period == pd.Timestamp(period))]
    assert len(hit) == 1, (indicator, level, area, period, len(hit))
    return hit.iloc[0]


@pytest.fixture(scope="module")
def frame(_fixture_template, tmp_path_factory):
    """The whole catalogue computed once over a copy of the fixture warehouse."""
    path = tmp_path_factory.mktemp("engine") / "warehouse.duckdb"
    shutil.copyfile(_fixture_template, path)
    with duckdb.connect(str(path)) as con:
        return compute_frame(con, load_catalogue())


@pytest.mark.parametrize("release", RELEASES)
@pytest.mark.parametrize(("level", "area"), [("cluster", NORTH), ("cluster", SOUTH), ("cluster", CITY),
                                             ("hscp", ANGUS), ("hscp", DUNDEE), ("board", TAYSIDE),
                                             ("scotland", "S92000003")])
def test_roll_up_sums_member_practices_in_force(frame, level, area, release):
    practices = members(level, area, release)
    got = row(frame, "aged_65_plus", level, area, release)
    num = sum(older(p, release) for p in practices)
    den = sum(list_size(p, release) for p in practices)
    assert got.numerator == num and got.denominator == den
    assert got.value == pytest.approx(100 * num / den)
    assert row(frame, "list_size", level, area, release).value == den


def test_practice_moving_cluster_counts_in_old_cluster_before_and_new_after(frame):
    before, after = RELEASES[2], RELEASES[3]
    assert row(frame, "list_size", "practice", "10004", before).cluster_id == NORTH
    assert row(frame, "list_size", "practice", "10004", after).cluster_id == SOUTH
    north_before = row(frame, "list_size", "cluster", NORTH, before).value
    north_after = row(frame, "list_size", "cluster", NORTH, after).value
    assert north_before == sum(list_size(p, before) for p in ("10001", "10002", "10004"))
    assert north_after == sum(list_size(p, after) for p in ("10001", "10002"))
    south_after = row(frame, "list_size", "cluster", SOUTH, after).value
    assert south_after == list_size("10003", after) + list_size("10004", after)
    # the practice's comparator follows it
    assert row(frame, "aged_65_plus", "practice", "10004", before).cluster_value == pytest.approx(
        row(frame, "aged_65_plus", "cluster", NORTH, before).value)
    assert row(frame, "aged_65_plus", "practice", "10004", after).cluster_value == pytest.approx(
        row(frame, "aged_65_plus", "cluster", SOUTH, after).value)


@pytest.mark.parametrize(("level", "area"), [("practice", "10001"), ("practice", "10006"), ("cluster", NORTH),
                                             ("scotland", "S92000003")])
def test_wilson_intervals_match_statsmodels(frame, level, area):
    release = RELEASES[1]
    got = row(frame, "aged_85_plus", level, area, release)
    practices = [area] if level == "practice" else members(level, area, release)
    x = sum(band_population(p, s, "85+", release) for p in practices for s in ("Male", "Female"))
    n = sum(list_size(p, release) for p in practices)
    for alpha, low, high in ((0.05, "lower95", "upper95"), (0.002, "lower998", "upper998")):
        lo, hi = proportion_confint(x, n, alpha=alpha, method="wilson")
        assert got[low] == pytest.approx(100 * lo, rel=1e-9)
        assert got[high] == pytest.approx(100 * hi, rel=1e-9)


def test_comparators_are_the_areas_values(frame):
    release = RELEASES[0]
    practice = row(frame, "aged_65_plus", "practice", "10002", release)

    def pct(practices):
        return 100 * sum(older(p, release) for p in practices) / sum(list_size(p, release) for p in practices)

    assert practice.value == pytest.approx(pct(["10002"]))
    assert practice.cluster_value == pytest.approx(pct(["10001", "10002", "10004"]))
    assert practice.hscp_value == pytest.approx(pct(["10001", "10002", "10003", "10004"]))
    assert practice.board_value == pytest.approx(pct(["10001", "10002", "10003", "10004"]))
    assert practice.scotland_value == pytest.approx(pct(list(PRACTICES)))
    cluster = row(frame, "aged_65_plus", "cluster", CITY, release)
    assert math.isnan(cluster.cluster_value)
    assert cluster.hscp_value == pytest.approx(pct(["10005", "10006"]))


def test_crude_rate_interval_exact_below_ten_events_byars_above(frame):
    release = RELEASES[0]
    small = row(frame, "emergency_admission_rate", "practice", "10001", release)   # 3 events
    o, n = activity_value("10001", "emergency_admissions", release), list_size("10001", release)
    assert o == 3 and small.value == pytest.approx(1000 * o / n)
    assert small.lower95 == pytest.approx(sps.chi2.ppf(0.025, 2 * o) / 2 / n * 1000)
    assert small.upper95 == pytest.approx(sps.chi2.ppf(0.975, 2 * o + 2) / 2 / n * 1000)
    big = row(frame, "emergency_admission_rate", "practice", "10005", release)     # 15 events
    o, n = activity_value("10005", "emergency_admissions", release), list_size("10005", release)
    z = sps.norm.ppf(0.975)
    assert big.lower95 == pytest.approx(o * (1 - 1 / (9 * o) - z / (3 * math.sqrt(o))) ** 3 / n * 1000)
    assert big.upper95 == pytest.approx(
        (o + 1) * (1 - 1 / (9 * (o + 1)) + z / (3 * math.sqrt(o + 1))) ** 3 / n * 1000)


def test_national_rank_and_decile_among_practices(frame):
    release = RELEASES[3]
    values = {p: older(p, release) / list_size(p, release) for p in PRACTICES}
    descending = sorted(values, key=values.get, reverse=True)
    for position, practice in enumerate(descending, start=1):
        got = row(frame, "aged_65_plus", "practice", practice, release)
        assert got.national_rank == position
        ascending_rank = len(PRACTICES) - position + 1
        assert got.national_decile == 1 + (10 * (ascending_rank - 1)) // len(PRACTICES)
    assert pd.isna(row(frame, "aged_65_plus", "cluster", NORTH, release).national_rank)


def test_list_weighted_mean_of_practice_attribute(frame):
    release = RELEASES[2]
    practices = members("cluster", NORTH, release)
    rank = {p: DATA_ZONES[PRACTICES[p][2]][0] for p in practices}
    expected = sum(rank[p] * list_size(p, release) for p in practices) / sum(list_size(p, release) for p in practices)
    assert row(frame, "simd_rank_mean", "cluster", NORTH, release).value == pytest.approx(expected)
    assert row(frame, "simd_rank_mean", "practice", "10001", release).value == 100
    rural = [p for p in PRACTICES if DATA_ZONES[PRACTICES[p][2]][4] == 2]
    share = 100 * sum(list_size(p, release) for p in rural) / sum(list_size(p, release) for p in PRACTICES)
    assert row(frame, "list_in_rural_practices", "scotland", "S92000003", release).value == pytest.approx(share)


def test_list_size_change_against_previous_release(frame):
    practice_rows = frame[(frame.indicator_id == "list_size_change") & (frame.level == "practice")]
    assert pd.Timestamp(RELEASES[0]) not in set(practice_rows.period)
    now, before = RELEASES[2], RELEASES[1]
    expected = 100 * (list_size("10003", now) - list_size("10003", before)) / list_size("10003", before)
    assert row(frame, "list_size_change", "practice", "10003", now).value == pytest.approx(expected)


def test_gps_per_1000_uses_nearest_release_and_skips_practices_without_headcount(frame):
    period = dt.date(2024, 1, 1)  # snapshot 2023-12-01 is nearest the January 2024 release
    gp_rows = frame[frame.indicator_id == "gps_per_1000"]
    assert set(gp_rows.period) == {pd.Timestamp(period)}
    assert row(frame, "gps_per_1000", "practice", "10001", period).value == pytest.approx(
        1000 * 4 / list_size("10001", period))
    north = row(frame, "gps_per_1000", "cluster", NORTH, period)  # 10004 has no headcount
    assert north.value == pytest.approx(1000 * 6 / (list_size("10001", period) + list_size("10002", period)))
    scotland = row(frame, "gps_per_1000", "scotland", "S92000003", period)
    assert scotland.numerator == 11


def test_need_weighted_list_size_uses_the_weights_in_the_file(frame):
    weights = load_definition("need_weighted_list_size").numerator.weights
    release = RELEASES[1]
    expected = sum(band_population("10005", s, b, release) * weights[s][b] for s in ("Male", "Female") for b in BANDS)
    assert row(frame, "need_weighted_list_size", "practice", "10005", release).value == pytest.approx(expected)


def test_compute_stores_results_with_definition_version_and_replaces_them(fixture_con):
    definitions = [load_definition("aged_65_plus"), load_definition("list_size")]
    compute(fixture_con, definitions)
    summary = compute(fixture_con, definitions)
    assert summary.indicators == 2 and summary.periods == len(RELEASES)
    text = (CATALOGUE_DIR / "aged_65_plus.toml").read_text(encoding="utf-8")
    version = hashlib.sha256(text.encode()).hexdigest()[:12]
    stored = fixture_con.execute(
        "SELECT version, definition FROM indicator_definition WHERE indicator_id = 'aged_65_plus'").fetchall()
    assert stored == [(version, text)]
    count, versions = fixture_con.execute(
        "SELECT count(*), count(DISTINCT version) FROM indicator_value WHERE indicator_id = 'aged_65_plus'"
    ).fetchone()
    # 6 practices + 3 clusters + 2 HSCPs + 2 boards + Scotland, each release, stored once
    assert count == 14 * len(RELEASES) and versions == 1
    keys = fixture_con.execute(
        "SELECT count(*), count(DISTINCT (indicator_id, period, level, area_code)) FROM indicator_value"
    ).fetchone()
    assert keys[0] == keys[1]  # the table has no primary key: the engine must write each key once
    value = fixture_con.execute(
        "SELECT value FROM indicator_value WHERE indicator_id = 'aged_65_plus' AND level = 'practice' "
        "AND area_code = '10001' AND period = ?", [RELEASES[0]]).fetchone()[0]
    assert value == pytest.approx(100 * older("10001", RELEASES[0]) / list_size("10001", RELEASES[0]))


def test_compute_stores_area_by_area_in_chunks_and_equal_to_the_frame(fixture_con, monkeypatch):
    from gpcluster.indicators import engine

    monkeypatch.setattr(engine, "STORE_CHUNK_ROWS", 50)  # many chunks, one transaction
    definitions = [load_definition("aged_65_plus"), load_definition("list_size"), load_definition("gps_per_1000")]
    frame = compute_frame(fixture_con, definitions)
    compute(fixture_con, definitions)
    stored = fixture_con.execute("SELECT * FROM indicator_value ORDER BY rowid").df()
    # one practice's or area's history lies together: stored by level, area, indicator, period
    keys = ["level", "area_code", "indicator_id", "period"]
    assert stored[keys].equals(stored.sort_values(keys)[keys].reset_index(drop=True))
    assert len(stored) == len(frame) > 100
    merged = frame.merge(stored, on=keys, suffixes=("", "_stored"))
    assert len(merged) == len(frame)
    for column in ("numerator", "denominator", "value", "lower95", "scotland_value", "national_rank"):
        a, b = merged[column].astype("Float64"), merged[f"{column}_stored"].astype("Float64")
        assert ((a == b) | (a.isna() & b.isna())).all(), column


def _spc_frame(values):
    periods = pd.date_range("2019-01-01", periods=len(values), freq="QS")
    return pd.DataFrame({
        "indicator_id": "x", "level": "practice", "area_code": "10001", "period": periods,
        "value": values, "numerator": values, "denominator": 1.0, "hscp_value": np.nan,
        "scotland_value": np.nan, "national_rank": None, "national_decile": None,
    })


@pytest.mark.parametrize(("polarity", "expected"), [("higher_is_worse", "special_cause_concern"),
                                                    ("higher_is_better", "special_cause_improvement"),
                                                    ("neither", "special_cause_neutral_high")])
def test_spc_signal_on_published_example(polarity, expected):
    # NHSRplotthedots deviations vignette: 1,2,1,2,10,1,2,... screened UPL 4.60, so 10 is above the UCL
    values = [1, 2, 1, 2, 10, 1, 2, 1, 2, 1, 2, 1, 2, 1, 2, 1, 2, 1]
    frame = _spc_frame(values)
    definition = load_definition("gp_consultation_rate").model_copy(
        update={"id": "x", "polarity": polarity, "measure_type": "count", "denominator": None})
    out = attach_statistics(frame.sample(frac=1, random_state=1), {"x": definition})
    out = out.sort_values("period")
    assert list(out.spc_rule)[4] == "Above UCL"
    assert list(out.spc_signal)[4] == expected
    assert set(out.spc_signal.iloc[[0, 1, 2, 3, 5, 6]]) == {"common_cause"}


def test_context_indicators_show_position_but_are_never_flagged(frame):
    rows = frame[(frame.indicator_id == "aged_65_plus") & (frame.level == "practice")]
    assert rows.funnel_scotland.isna().all() and rows.funnel_hscp.isna().all() and rows.spc_signal.isna().all()
    assert rows.lower95.notna().all() and rows.national_rank.notna().all()


def _performance_frame(observed, expected_rate=0.02, lists=None, **extra) -> pd.DataFrame:
    """One quarter of practices with a crude rate per 1,000 and Scotland's rate as the comparator."""
    observed = np.asarray(observed, dtype=float)
    lists = np.full(observed.size, 5000.0) if lists is None else np.asarray(lists, dtype=float)
    scotland = observed.sum() / lists.sum() * 1000
    return pd.DataFrame({
        "indicator_id": "x", "level": "practice", "area_code": [f"{10000 + i}" for i in range(observed.size)],
        "period": pd.Timestamp("2024-01-01"), "numerator": observed, "denominator": lists,
        "value": observed / lists * 1000, "hscp_value": np.nan, "scotland_value": scotland, **extra})


def _crude(definition_id="emergency_admission_rate", **update):
    return load_definition(definition_id).model_copy(
        update={"id": "x", "expected": None, "adjust_for": [], **update})


def test_performance_funnel_follows_funnelplotr_with_overdispersion():
    # 60 practices that genuinely differ (log-normal effect, sd 0.15) around 100 expected events each
    rng = np.random.default_rng(11)
    observed = rng.poisson(100 * np.exp(rng.normal(0, 0.15, 60)))
    out = attach_statistics(_performance_frame(observed), {"x": _crude()})
    # METHODS.md 1b, typed here: CQC standardised ratio, winsorised at the 5th/95th centiles (our TRIM)
    e = observed.sum() / 60.0
    y, s = np.sqrt(observed / e), 1 / (2 * np.sqrt(e))
    z = (y - 1) / s
    low, high = np.quantile(z, [0.05, 0.95])
    phi = np.mean(np.clip(z, low, high) ** 2)
    w = np.full(60, 1 / s**2)
    tau2 = max(0.0, (60 * phi - 59) / (w.sum() - (w**2).sum() / w.sum()))
    assert phi > 1  # overdispersed, so the limits widen
    assert out.expected.to_numpy() == pytest.approx(np.full(60, e))
    assert out.z_score.to_numpy() == pytest.approx((y - 1) / np.sqrt(s**2 + tau2), rel=1e-9)


def test_funnel_flags_a_clear_outlier_but_not_ordinary_variation():
    rng = np.random.default_rng(5)
    observed = rng.poisson(100 * np.exp(rng.normal(0, 0.1, 50))).astype(float)
    observed[0] = 260  # 2.6 times what a practice of that size sees
    out = attach_statistics(_performance_frame(observed), {"x": _crude()})
    assert out.funnel_scotland.iloc[0] == "high_998"
    assert (out.funnel_scotland.iloc[1:] != "high_998").all() and (out.funnel_scotland.iloc[1:] != "low_998").all()


def test_case_mix_expected_counts_match_each_class_total():
    # the maximum-likelihood main effects: every class's expected total equals its observed total, and
    # practices of one class keep the same ratio to their crude expectation
    rng = np.random.default_rng(2)
    deprivation = np.repeat([1, 2, 3, 4, 5], 12)
    rurality = np.tile([1, 2, 3, 4, 5, 6], 10)
    lists = rng.integers(2000, 12000, 60).astype(float)
    observed = rng.poisson(lists * 0.02 * (1.5 - 0.1 * deprivation) * (1 + 0.05 * rurality)).astype(float)
    frame = _performance_frame(observed, lists=lists, case_deprivation=deprivation, case_rurality=rurality)
    out = attach_statistics(frame, {"x": _crude(adjust_for=["deprivation", "rurality"])})
    for column in ("case_deprivation", "case_rurality"):
        totals = out.groupby(column)[["numerator", "expected"]].sum()
        assert totals.expected.to_numpy() == pytest.approx(totals.numerator.to_numpy(), rel=1e-6)
    crude = lists * observed.sum() / lists.sum()
    ratio = pd.Series(out.expected.to_numpy() / crude).groupby([deprivation, rurality]).agg(["min", "max"])
    assert ratio["min"].to_numpy() == pytest.approx(ratio["max"].to_numpy())


def test_compute_table_leaves_results_on_the_connection_only(fixture_con):
    from gpcluster.indicators.engine import RESULT_COLUMNS, compute_table

    rows = compute_table(fixture_con, [load_definition("aged_65_plus")], table="my_results")
    assert rows == 14 * len(RELEASES)
    columns = [c[0] for c in fixture_con.execute("SELECT * FROM my_results LIMIT 0").description]
    assert columns == RESULT_COLUMNS
    stored = fixture_con.execute("SELECT count(*) FROM duckdb_tables() WHERE table_name = 'indicator_value'")
    assert stored.fetchone()[0] == 0


def test_an_empty_warehouse_computes_nothing_without_error(tmp_path):
    from gpcluster.warehouse import open_warehouse

    with open_warehouse(tmp_path / "empty.duckdb") as con:
        summary = compute(con, load_catalogue())
        assert (summary.rows, summary.periods) == (0, 0)
        assert con.execute("SELECT count(*) FROM indicator_definition").fetchone()[0] == len(load_catalogue())


def test_compute_batches_give_the_rows_of_compute_frame_in_stored_order(fixture_con):
    import pyarrow as pa

    from gpcluster.indicators.engine import RESULT_COLUMNS, compute_batches

    definitions = [load_definition(i) for i in ("aged_65_plus", "list_size_change")]
    expected = compute_frame(fixture_con, definitions)
    batches = list(compute_batches(fixture_con, definitions, rows=7))
    assert len(batches) > 1 and all(b.num_rows <= 7 for b in batches)
    assert all(b.schema.names == RESULT_COLUMNS for b in batches)
    assert pa.types.is_dictionary(batches[0].schema.field("area_code").type)  # strings stay encoded
    table = pa.Table.from_batches(batches)
    got = pa.table({name: table[name].cast(table[name].type.value_type) if pa.types.is_dictionary(table[name].type)
                    else table[name] for name in table.column_names}).to_pandas(date_as_object=False)
    keys = ["level", "area_code", "indicator_id", "period"]
    assert list(got[keys].itertuples(index=False)) == sorted(got[keys].itertuples(index=False))
    got = got.sort_values(keys).reset_index(drop=True)
    expected = expected.sort_values(keys).reset_index(drop=True)
    for column in RESULT_COLUMNS:
        left, right = got[column].astype(object), expected[column].astype(object)
        same = (left == right) | (left.isna() & right.isna())
        assert same.all(), column
    assert not list(compute_batches(fixture_con, []))


def test_compute_frame_columns_have_their_types_and_can_be_written_one_at_a_time(fixture_con):
    from gpcluster.indicators.engine import RESULT_COLUMNS

    definitions = [load_definition(i) for i in ("aged_65_plus", "emergency_admission_rate")]
    frame = compute_frame(fixture_con, definitions)
    numbers = ["numerator", "denominator", "value", "lower95", "upper95", "lower998", "upper998", "expected",
               "z_score", "cluster_value", "hscp_value", "board_value", "scotland_value"]
    dates = ["period", "numerator_date", "denominator_date"]
    strings = [c for c in RESULT_COLUMNS if c not in (*numbers, *dates, "national_rank", "national_decile")]
    assert list(frame.columns) == RESULT_COLUMNS
    assert all(frame[c].dtype == "float64" for c in numbers)
    assert all(frame[c].dtype == "datetime64[ms]" for c in dates)
    assert all(pd.api.types.is_string_dtype(frame[c]) for c in strings)
    # strings are categoricals of sorted distinct labels (missing: NaN), so they sort and compare as strings
    assert all(isinstance(frame[c].dtype, pd.CategoricalDtype) for c in strings)
    for column in strings:
        categories = list(frame[column].cat.categories)
        assert categories == sorted(set(frame[column].dropna().astype("str"))), column
    plain = frame[strings].astype("str")
    assert plain["cluster_id"].isna().any() and plain["note"].isna().any()
    assert frame.sort_values(["area_code", "indicator_id"])[strings].astype("str").equals(
        plain.sort_values(["area_code", "indicator_id"]))
    assert frame["national_rank"].dtype == "Int32" and frame["national_decile"].dtype == "Int32"
    assert frame["national_rank"].isna().any() and frame["national_rank"].notna().any()
    before = frame.copy(deep=True)
    # every number column is its own writable array: writing one leaves every other column as it was
    for column in numbers:
        frame.loc[:, column] = -1.5
        others = [c for c in numbers if c != column]
        pd.testing.assert_frame_equal(frame[others], before[others])
        frame[column] = before[column]
    pd.testing.assert_frame_equal(frame, before)
