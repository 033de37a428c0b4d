"""Direct and indirect standardisation against PHEindicatormethods' published results (METHODS.md §2c,
§3) and PHStatsMethods on random inputs."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from gpcluster.stats import StatsInputError, standardise
from gpcluster.stats.standardise import ESP2013, dsr, dsr_grouped, esp2013_by_sex, indirect

RTOL = 1e-9
BIG_COUNTS = [127, 25, 18, 21, 12, 27, 48, 27, 29, 32, 32, 34, 45, 65, 38, 68, 74, 82, 91]
BIG_POPS = [636, 558, 609, 543, 384, 594, 669, 843, 660, 576, 606, 522, 426, 273, 300, 288, 153, 123, 207]

# level, value, lower, upper per 10,000 (PHE testresults_DSR, testdata_big, ESP2013)
DSR_SPEC = [
    (0.95, 1043.0247991469423, 971.77090679856803, 1117.894091547925),
    (0.998, 1043.0247991469423, 932.32878802199036, 1162.0595999522059),
]


def test_esp2013_table():
    assert len(ESP2013) == 19
    assert ESP2013.sum() == 100_000
    assert ESP2013.index[0] == "0-4" and ESP2013.index[-1] == "90+"
    assert ESP2013["0-4"] == 5000 and ESP2013["45-49"] == 7000 and ESP2013["90+"] == 1000
    by_sex = esp2013_by_sex()
    assert by_sex.sum() == 200_000 and by_sex[("male", "75-79")] == 4000


@pytest.mark.parametrize(("level", "value", "lower", "upper"), DSR_SPEC)
def test_dsr_published(level, value, lower, upper):
    res = dsr(BIG_COUNTS, BIG_POPS, multiplier=10_000, level=level)
    assert res.value == pytest.approx(value, rel=RTOL)
    assert res.lower == pytest.approx(lower, rel=RTOL)
    assert res.upper == pytest.approx(upper, rel=RTOL)
    assert res.observed == 895


def test_dsr_withheld_below_ten_events_ohid_but_kept_scotpho():
    counts = [0] * 19
    counts[3], counts[12] = 4, 5
    res = dsr(counts, BIG_POPS, multiplier=100_000)
    assert np.isnan(res.value) and "fewer than 10" in res.note
    kept = dsr(counts, BIG_POPS, multiplier=100_000, min_events=None, method="scotpho")
    expected = (4 * 5500 / 543 + 5 * 6000 / 426) / 100_000 * 100_000
    assert kept.value == pytest.approx(expected, rel=1e-12)
    assert 0 <= kept.lower <= kept.value <= kept.upper


def _multiarea(oracles_dir) -> pd.DataFrame:
    df = pd.read_csv(oracles_dir / "testdata_DSR_ISR__testdata_multiarea.csv").dropna(subset=["area"])
    assert len(df) == 57
    # PHE counts a blank count as zero; its workbook mislabels band 55-59 as "55-69" (bands are in ESP order)
    df["count"] = df["count"].fillna(0)
    df["ageband"] = np.tile(ESP2013.index.to_numpy(), len(df) // 19)
    return df


def test_dsr_grouped_against_published_file(oracles_dir):
    df = _multiarea(oracles_dir)
    expected = pd.read_csv(oracles_dir / "testdata_DSR_ISR__testresults_DSR.csv").dropna(subset=["area"])
    expected = expected[expected.area.str.startswith("testdata_")].head(3)  # big, small, tiny per 10,000
    assert list(expected.area) == ["testdata_big", "testdata_small", "testdata_tiny"]
    for level, lo_col, hi_col in (
        (0.95, "lower95_0cl", "upper95_0cl"),
        (0.998, "lower99_8cl", "upper99_8cl"),
    ):
        got = dsr_grouped(df, "area", "count", "pop", "ageband", multiplier=10_000, level=level).set_index(
            "area"
        )
        for row in expected.itertuples():
            g = got.loc[row.area]
            assert g.observed == row.total_count
            if np.isnan(row.value):
                assert np.isnan(g.value) and g.note
            else:
                assert g.value == pytest.approx(row.value, rel=RTOL)
                assert g.lower == pytest.approx(getattr(row, lo_col), rel=RTOL)
                assert g.upper == pytest.approx(getattr(row, hi_col), rel=RTOL)


def test_dsr_grouped_by_sex_matches_hand_calculation():
    rng = np.random.default_rng(3)
    rows = []
    for sex in ("female", "male"):
        for band in ESP2013.index:
            rows.append(("A", sex, band, int(rng.integers(0, 40)), int(rng.integers(100, 900))))
    df = pd.DataFrame(rows, columns=["area", "sex", "band", "count", "pop"])
    got = dsr_grouped(df, "area", "count", "pop", ["sex", "band"], standard=esp2013_by_sex(), min_events=None)
    w = np.tile(ESP2013.to_numpy(), 2)
    hand = (df["count"] / df["pop"] * w).sum() / 200_000 * 100_000
    assert got.value.iloc[0] == pytest.approx(hand, rel=1e-12)


def test_dsr_grouped_against_phstatsmethods_random():
    ph = pytest.importorskip("PHStatsMethods")
    rng = np.random.default_rng(11)
    frames = []
    for g in range(8):
        frames.append(
            pd.DataFrame(
                {
                    "area": f"A{g}",
                    "band": ESP2013.index,
                    "count": rng.integers(0, 200, 19),
                    "pop": rng.integers(500, 5000, 19),
                    "esp": ESP2013.to_numpy(),
                }
            )
        )
    df = pd.concat(frames, ignore_index=True)
    ref = ph.ph_dsr(
        df, "count", "pop", "esp", group_cols="area", metadata=False, confidence=[0.95, 0.998],
        euro_standard_pops=False,
    )  # fmt: skip
    ref = ref.set_index("area")
    ours95 = dsr_grouped(df, "area", "count", "pop", "band").set_index("area")
    ours998 = dsr_grouped(df, "area", "count", "pop", "band", level=0.998).set_index("area")
    np.testing.assert_allclose(ours95.value, ref.loc[ours95.index, "Value"], rtol=1e-9)
    np.testing.assert_allclose(ours95.lower, ref.loc[ours95.index, "lower_95_ci"], rtol=1e-9)
    np.testing.assert_allclose(ours95.upper, ref.loc[ours95.index, "upper_95_ci"], rtol=1e-9)
    np.testing.assert_allclose(ours998.lower, ref.loc[ours95.index, "lower_99_8_ci"], rtol=1e-9)
    np.testing.assert_allclose(ours998.upper, ref.loc[ours95.index, "upper_99_8_ci"], rtol=1e-9)


# observed, expected, reference rate, level, value, lower, upper (PHE testresults_ISR, per 100,000)
ISR_SPEC = [
    (895, 835.88356123117433, 9349.8830922110192, 0.95, 10011.137622091057, 9365.91600297888, 10689.097582910616),
    (895, 835.88356123117433, 9349.8830922110192, 0.998, 10011.137622091057, 9008.7578618655007, 11089.02718538338),
    (91, 835.88356123117433, 9349.8830922110192, 0.95, 1017.8922051511577, 819.52100250646299, 1249.7592601383201),
    (9, 835.88356123117433, 9349.8830922110192, 0.95, 100.6706576523123, 46.033035133078933, 191.10426659054028),
    (9, 835.88356123117433, 9349.8830922110192, 0.998, 100.6706576523123, 27.431908625542341, 253.43696352192359),
]  # fmt: skip


@pytest.mark.parametrize(("o", "e", "ref", "level", "value", "lower", "upper"), ISR_SPEC)
def test_indirect_published(o, e, ref, level, value, lower, upper):
    v, lo, hi = indirect(o, e, level, reference_rate=ref)
    assert v == pytest.approx(value, rel=RTOL)
    assert lo == pytest.approx(lower, rel=RTOL)
    assert hi == pytest.approx(upper, rel=RTOL)


def test_expected_counts_reproduce_published_expected(oracles_dir):
    df = pd.read_csv(oracles_dir / "testdata_DSR_ISR__testdata_multiarea_isr.csv").dropna(subset=["count"])
    big = df[df.area == "testdata_big"]
    e = standardise.expected_counts(big["pop"], big["refcount"], big["refpop"]).sum()
    assert e == pytest.approx(835.88356123117433, rel=RTOL)
    ref_rate = big["refcount"].sum() / big["refpop"].sum() * 100_000
    assert ref_rate == pytest.approx(9349.8830922110192, rel=RTOL)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: dsr(BIG_COUNTS, [*BIG_POPS[:5], -558, *BIG_POPS[6:]]), "greater than zero"),
        (lambda: dsr(BIG_COUNTS, [*BIG_POPS[:5], 0, *BIG_POPS[6:]]), "greater than zero"),
        (lambda: dsr([-1, *BIG_COUNTS[1:]], BIG_POPS), "negative"),
        (lambda: dsr(BIG_COUNTS[:-1], BIG_POPS), "equal length"),
        (lambda: dsr([], [], []), "empty"),
        (lambda: indirect(5, 0), "greater than zero"),
        (lambda: dsr(BIG_COUNTS, BIG_POPS, method="x"), "unknown DSR method"),
    ],
)
def test_bad_input(call, message):
    with pytest.raises(StatsInputError, match=message):
        call()


def test_dsr_grouped_rejects_unknown_and_missing_bands():
    df = pd.DataFrame({"area": "A", "band": ESP2013.index, "count": 1, "pop": 10})
    with pytest.raises(StatsInputError, match="not in the standard"):
        dsr_grouped(df.replace({"band": {"55-59": "55-69"}}), "area", "count", "pop", "band")
    with pytest.raises(StatsInputError, match="has 18 bands"):
        dsr_grouped(df.iloc[1:], "area", "count", "pop", "band")
    with pytest.raises(StatsInputError, match="appears twice"):
        dsr_grouped(pd.concat([df, df.iloc[[0]]]), "area", "count", "pop", "band")
