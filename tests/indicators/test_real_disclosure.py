"""Disclosure control on the real PHS files, attacked as a user would attack a download: every published
figure of the age family is taken from the exported CSV, and each suppressed count is bounded by linear
programming (scipy's HiGHS) over every relation the published figures obey. No suppressed count may be
pinned down. Skipped when ../shared is absent."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import pytest
from scipy.optimize import linprog

from gpcluster.exports import export_indicators
from gpcluster.indicators.definition import load_catalogue
from gpcluster.indicators.engine import compute
from gpcluster.warehouse import load_paths, open_warehouse

pytestmark = pytest.mark.realdata
OCTOBER = date(2023, 10, 1)
PARTS = ["aged_under_15", "aged_15_64", "aged_65_plus"]
AREA_OF = {"cluster": "cluster_id", "hscp": "hscp_code", "board": "board_code"}


@pytest.fixture(scope="module")
def published(raw_dir, tmp_path_factory):
    folder = tmp_path_factory.mktemp("real-disclosure")
    path = folder / "warehouse.duckdb"
    load_paths([raw_dir / f for f in ("phs_gp_practices", "phs_simd", "humaniverse_scot", "phs_geography")],
               warehouse=path)
    with open_warehouse(path) as con:
        compute(con, [d for d in load_catalogue() if not d.synthetic])
        export_indicators(con, folder / "all.csv", indicator_ids=["list_size", *PARTS])
    frame = pd.read_csv(folder / "all.csv", dtype={"area_code": str})
    return frame[frame.period == str(OCTOBER)]


def test_the_under_15s_of_practice_84129_cannot_be_recovered_by_subtraction(published):
    rows = published[(published.level == "practice") & (published.area_code == "84129")].set_index("indicator_id")
    assert rows.loc["list_size", "value"] == 122  # a special-service practice: 122 patients
    assert rows.loc["aged_under_15", "suppressed"]
    # 122 - 57 - 60 = 5 worked before; now a second figure of the partition is hidden too
    assert rows.loc[PARTS, "numerator"].isna().sum() >= 2


def test_no_suppressed_age_count_is_pinned_down_by_any_published_relation(published):
    practices = published[published.level == "practice"]
    hidden = published[published.indicator_id.isin(PARTS) & published.numerator.isna()]
    assert len(hidden) >= 2
    unknown = {(r.indicator_id, r.level, r.area_code): k for k, r in enumerate(hidden.itertuples())}
    known = {(r.indicator_id, r.level, r.area_code): r.numerator for r in published.itertuples()
             if not np.isnan(r.numerator)}
    rows, rhs = [], []

    def relation(terms):  # Σ coeff x = 0 over (indicator, level, area) cells
        coeffs, constant = np.zeros(len(unknown)), 0.0
        for cell, coeff in terms:
            if cell in unknown:
                coeffs[unknown[cell]] += coeff
            elif cell in known:
                constant += coeff * known[cell]
            else:
                return  # a figure nobody publishes: no relation
        if coeffs.any():
            rows.append(coeffs)
            rhs.append(-constant)

    for indicator in PARTS:  # an area's count is the sum of its practices'
        members = practices[practices.indicator_id == indicator]
        for level, column in [*AREA_OF.items(), ("scotland", None)]:
            groups = members.groupby(column) if column else [("S92000003", members)]
            for area, group in groups:
                relation([((indicator, level, area), 1.0)]
                         + [((indicator, "practice", code), -1.0) for code in group.area_code])
    for row in published[published.indicator_id == "list_size"].itertuples():  # under 15 + 15-64 + 65+ = list
        relation([((p, row.level, row.area_code), 1.0) for p in PARTS]
                 + [(("list_size", row.level, row.area_code), -1.0)])
    a_eq, b_eq = np.array(rows), np.array(rhs)
    for cell, k in unknown.items():
        bounds = []
        for sense in (1.0, -1.0):
            c = np.zeros(len(unknown))
            c[k] = sense
            result = linprog(c, A_eq=a_eq, b_eq=b_eq, bounds=(0, None), method="highs")
            assert result.status == 0, cell
            bounds.append(sense * result.fun)
        low, high = bounds
        assert high - low >= 1, f"{cell} is pinned to {low:g}..{high:g} by published figures"
