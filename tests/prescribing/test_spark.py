"""The Spark engine gives the DuckDB engine's results on the same data (local mode, one session for all)."""

from __future__ import annotations

import shutil

import duckdb
import numpy as np
import pandas as pd
import pytest

from gpcluster.indicators.definition import load_catalogue
from gpcluster.indicators.engine import RESULT_COLUMNS, compute_frame

pytest.importorskip("pyspark")
KEY = ["indicator_id", "period", "level", "area_code"]


@pytest.fixture(scope="session")
def spark():
    if shutil.which("java") is None:
        pytest.skip("no Java runtime for Spark")
    from gpcluster.prescribing.spark import spark_session

    session = spark_session("local[2]")
    yield session
    session.stop()


@pytest.fixture(scope="session")
def fixture_warehouse(tmp_path_factory):
    from indicators.conftest import build_fixture_warehouse

    path = tmp_path_factory.mktemp("spark-fixture") / "warehouse.duckdb"
    build_fixture_warehouse(path).close()
    return path


def _sorted(frame: pd.DataFrame) -> pd.DataFrame:
    out = frame[RESULT_COLUMNS].copy()
    # compute_frame's strings are categoricals, Spark's plain strings: compared as strings
    out = out.astype({column: "str" for column in out.select_dtypes("category").columns})
    out["period"] = pd.to_datetime(out["period"]).astype("datetime64[ns]")
    return out.sort_values(KEY).reset_index(drop=True)


def test_spark_and_duckdb_give_the_same_results_for_the_whole_catalogue(spark, fixture_warehouse, tmp_path):
    from gpcluster.prescribing.spark import compute_frame_spark

    # every prescribing measure, and one definition of each other series kind Spark runs (high-risk
    # prescribing: a performance proportion with case-mix adjusted funnels)
    others = ("aged_65_plus", "need_weighted_list_size", "simd_rank_mean", "high_risk_prescribing")
    definitions = [d for d in load_catalogue() if d.id.startswith("rx_") or d.id in others]
    assert len(definitions) >= 15 + len(others)
    con = duckdb.connect(str(fixture_warehouse))
    try:
        expected = _sorted(compute_frame(con, definitions))
        got = _sorted(compute_frame_spark(con, definitions, spark, work_dir=tmp_path))
    finally:
        con.close()
    assert len(got) == len(expected) > 0
    pd.testing.assert_frame_equal(got[KEY], expected[KEY])
    for column in ("version", "cluster_id", "hscp_code", "board_code", "funnel_scotland", "funnel_hscp",
                   "spc_signal", "spc_rule"):
        assert got[column].fillna("-").tolist() == expected[column].fillna("-").tolist(), column
    for column in ("national_rank", "national_decile"):
        assert got[column].astype("Int64").equals(expected[column].astype("Int64")), column
    for column in ("numerator", "denominator", "value", "lower95", "upper95", "lower998", "upper998",
                   "expected", "z_score", "cluster_value", "hscp_value", "board_value", "scotland_value"):
        np.testing.assert_allclose(got[column].to_numpy(float), expected[column].to_numpy(float), rtol=1e-12,
                                   atol=0, equal_nan=True, err_msg=column)


def test_what_spark_cannot_run_is_refused_in_one_message():
    from gpcluster.errors import UserError
    from gpcluster.indicators.definition import load_definition
    from gpcluster.prescribing.spark import check_supported

    with pytest.raises(UserError) as caught:
        check_supported([load_definition(i) for i in ("emergency_admission_rate", "list_size_change",
                                                       "gp_headcount", "mdt_share_of_consultations",
                                                       "rx_high_dose_ppi")])
    message = str(caught.value)
    for part in ("emergency_admission_rate: expected counts", "list_size_change: measure type 'change'",
                 "gp_headcount: gp_headcount series", "mdt_share_of_consultations: sql series"):
        assert part in message
    assert "rx_high_dose_ppi" not in message
