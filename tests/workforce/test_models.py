"""Hand-worked examples for every allocation model, over the small HSCP in conftest.py.

Budget: 2.0 WTE of pharmacist = 75 hours a week (37.5 h per WTE), shared over 30,000 patients."""

from __future__ import annotations

import pandas as pd
import pytest

from gpcluster.errors import UserError, ValidationFailed
from gpcluster.workforce.allocate import allocate, allocate_roles
from gpcluster.workforce.params import _SPEC_ADAPTER, load_model, model_names
from gpcluster.workforce.plain import describe_practice, visit_frequency

ONES = {b: 1.0 for b in ("0-4", "5-14", "15-24", "25-44", "45-64", "65-74", "75-84", "85+")}
# Test weights: every band 1, except men aged 65-74 count double.
WEIGHTS = {"source": "test", "Male": {**ONES, "65-74": 2.0}, "Female": dict(ONES)}
ZEROS = {b: 0.0 for b in ONES}


def spec(**data):
    return _SPEC_ADAPTER.validate_python({"name": data.get("kind"), "label": data["kind"].replace("_", " "),
                                          "description": "test", **data})


NEED = spec(
    kind="need_weighted",
    age_sex_weights=WEIGHTS,
    deprivation_by_simd_quintile={"source": "test", "values": {"1": 1.5, "2": 1, "3": 1, "4": 1, "5": 1}},
    multimorbidity_prevalence_by_age={"source": "test", "values": {**ZEROS, "65-74": 0.5}},
    multimorbidity_deprivation_by_simd_quintile={"source": "test", "values": {str(q): 1 for q in range(1, 6)}},
    multimorbidity_weight={"value": 1.0, "source": "test"},
)
CAPITATION = spec(
    kind="weighted_capitation",
    age_sex_weights=WEIGHTS,
    mlc_by_simd_decile={"source": "test", "values": {**{str(d): 1 for d in range(1, 11)}, "1": 1.2, "10": 0.8}},
    excess_cost_by_ur8={"source": "test", "values": {**{str(u): 1 for u in range(1, 9)}, "7": 1.25, "8": 1.5}},
)
RURAL = spec(
    kind="rurality_aware",
    base_model="per_capita",
    min_viable_hours_per_week={"value": 8.0, "source": "test"},
    excess_cost_by_ur8={"source": "test", "values": {str(u): 1 for u in range(1, 9)}},
)


def hours(alloc: pd.DataFrame) -> dict[str, float]:
    return dict(zip(alloc["practice_code"], alloc["hours_per_week"], strict=True))


def test_per_capita_by_hand(practices, agesex):
    #  practice   list    share          hours = 75 x share
    #  Lochside   1,500   1500/30000     3.75
    #  Bayview    1,000   1000/30000     2.50
    #  Glen       1,500                  3.75
    #  Strath     2,000                  5.00
    #  Burgh     12,000                 30.00
    #  Harbour   12,000                 30.00
    alloc = allocate(practices, agesex, "per_capita", 2.0)
    assert hours(alloc) == pytest.approx(
        {"90001": 3.75, "90002": 2.5, "90003": 3.75, "90004": 5.0, "90005": 30.0, "90006": 30.0})
    lochside = alloc.set_index("practice_code").loc["90001"]
    assert lochside["sessions_per_week"] == pytest.approx(3.75 / 4)
    assert not lochside["viable"]
    assert describe_practice(alloc, practices, "90001") == [("Under per capita, Lochside (1,500 patients, very remote rural) gets 3.8 hours of "
                        "pharmacist time a week — below a viable session.")]


def test_need_weighted_by_hand(practices, agesex):
    #  practice  workload (F25-44 x1 + M65-74 x2)  deprivation  multimorbidity (0.5 x share M65-74)  need
    #  Lochside  750 + 1500 = 2,250                 1.0          1 + 0.25                             2,812.5
    #  Bayview   500 + 1000 = 1,500                 1.0          1.25                                 1,875
    #  Glen      2,250                              1.0          1.25                                 2,812.5
    #  Strath    1000 + 2000 = 3,000                1.0          1.25                                 3,750
    #  Burgh     6000 + 12000 = 18,000              1.5 (Q1)     1.25                                33,750
    #  Harbour   12,000                             1.0          1.0 (no older men)                  12,000
    #  total need 57,000; hours = 75 x need / 57,000
    alloc = allocate(practices, agesex, NEED, 2.0)
    expected = {"90001": 3.700658, "90002": 2.467105, "90003": 3.700658, "90004": 4.934211,
                "90005": 44.407895, "90006": 15.789474}
    assert hours(alloc) == pytest.approx(expected, abs=1e-5)
    # Need-weighting moves time from the affluent Harbour (Q5) to the deprived Burgh (Q1).
    assert hours(alloc)["90005"] > 30 > hours(alloc)["90006"]
    assert describe_practice(alloc, practices, "90001") == [("Under need weighted, Lochside (1,500 patients, very remote rural) gets 3.7 hours of "
                    "pharmacist time a week — below a viable session.")]


def test_weighted_capitation_by_hand(practices, agesex):
    #  as_index = (workload/list) / (39,000/30,000): 1.5/1.3 for all but Harbour (1.0/1.3)
    #  weighted population x 1.3 = list x workload-per-head x mlc x xs:
    #  Lochside  1500 x 1.5 x 1.0 x 1.5  = 3,375
    #  Bayview   1000 x 1.5 x 1.0 x 1.5  = 2,250
    #  Glen      1500 x 1.5 x 1.0 x 1.25 = 2,812.5
    #  Strath    2000 x 1.5 x 1.0 x 1.25 = 3,750
    #  Burgh    12000 x 1.5 x 1.2 x 1.0  = 21,600
    #  Harbour  12000 x 1.0 x 0.8 x 1.0  = 9,600      total 43,387.5; hours = 75 x value / 43,387.5
    alloc = allocate(practices, agesex, CAPITATION, 2.0)
    expected = {"90001": 5.834054, "90002": 3.889369, "90003": 4.861712, "90004": 6.482282,
                "90005": 37.337942, "90006": 16.594641}
    assert hours(alloc) == pytest.approx(expected, abs=1e-5)
    assert describe_practice(alloc, practices, "90001") == [("Under weighted capitation, Lochside (1,500 patients, very remote rural) gets 5.8 hours "
                    "of pharmacist time a week.")]


def test_weighted_capitation_takes_published_indices(practices, agesex):
    # NRAC-style indices supplied for two practices replace the computed ones column by column:
    # Lochside as 2.0, mlc 1.0, xs 2.0 -> 1500 x 4 = 6,000 (x1.3 scale: 7,800);
    # Harbour keeps its computed as (1/1.3) but mlc 1.0 -> 12000 x 1.0 (x1.3 scale: 12,000).
    indices = pd.DataFrame({"practice_code": ["90001", "90006"], "as_index": [2.0, None],
                            "mlc_index": [1.0, 1.0], "xs_index": [2.0, None]})
    alloc = allocate(practices, agesex, CAPITATION, 2.0, indices=indices)
    # scaled total = 43,387.5 - 3,375 + 7,800 - 9,600 + 12,000 = 50,212.5
    assert hours(alloc)["90001"] == pytest.approx(75 * 7800 / 50212.5)
    assert hours(alloc)["90006"] == pytest.approx(75 * 12000 / 50212.5)


def test_rurality_aware_pools_the_island_into_a_hub(practices, agesex):
    #  per capita hours (base): Lochside 3.75, Bayview 2.5, Glen 3.75, Strath 5.0 -> all below 8 h viable
    #  hub = 15 h/week = 0.4 WTE shared by 4 practices; each is visited for whole 7.5 h days:
    #  Lochside visits/week = 3.75 / 7.5 = 0.5 (a day a fortnight); travel 0.5 x 120 min = 1.0 h;
    #  on site 3.75 - 1.0 = 2.75 h. Glen (remote rural, 60 min): 0.5 visits, 0.5 h travel, 3.25 h on site.
    #  Burgh and Harbour (30 h) stay practice-based.
    flat = allocate(practices, agesex, RURAL, 2.0)
    alloc = flat.set_index("practice_code")
    island = ["90001", "90002", "90003", "90004"]
    assert set(alloc.loc[island, "hub_id"]) == {"H/island hub"}
    assert alloc.loc[island, "hub_wte"].tolist() == pytest.approx([0.4] * 4)
    assert alloc.loc["90001", "travel_hours_per_week"] == pytest.approx(1.0)
    assert alloc.loc["90001", "on_site_hours_per_week"] == pytest.approx(2.75)
    assert alloc.loc["90003", "on_site_hours_per_week"] == pytest.approx(3.25)
    assert alloc.loc[["90005", "90006"], "hub_id"].isna().all()
    assert alloc["viable"].all()
    assert describe_practice(flat, practices, "90001") == [("Under rurality aware, Lochside (1,500 patients, very remote rural) shares a 0.4 WTE hub "
                    "pharmacist with 3 neighbours: 1 day a fortnight on site (2.8 hours a week after 1.0 hour "
                    "of travel).")]


@pytest.mark.parametrize("name", model_names())
def test_every_shipped_model_conserves_each_hscp_budget(practices, agesex, name):
    two = pd.concat([practices, practices.assign(practice_code=lambda d: "8" + d["practice_code"].str[1:],
                                                  hscp_code="S37000098")])
    agesex2 = pd.concat([agesex, agesex.assign(practice_code=lambda d: "8" + d["practice_code"].str[1:])])
    budgets = pd.DataFrame({"hscp_code": ["S37000099", "S37000098", "S37000099"],
                            "role": ["pharmacist", "pharmacist", "anp"], "wte": [2.0, 3.5, 0.7]})
    alloc = allocate_roles(two, agesex2, name, budgets)
    totals = alloc.groupby(["hscp_code", "role"])["wte"].sum()
    assert totals[("S37000099", "pharmacist")] == pytest.approx(2.0)
    assert totals[("S37000098", "pharmacist")] == pytest.approx(3.5)
    assert totals[("S37000099", "anp")] == pytest.approx(0.7)
    assert (alloc["wte"] >= 0).all()
    assert (alloc["on_site_hours_per_week"] <= alloc["hours_per_week"] + 1e-12).all()


def test_swf_imitation_is_labelled_approximate(practices, agesex):
    swf = load_model("swf_approx")
    assert swf.approximate and "APPROXIMATE" in swf.approximation_note
    sentence = describe_practice(allocate(practices, agesex, swf, 2.0), practices, "90001")[0]
    assert sentence.startswith("Under Scottish Workload Formula (approximate), Lochside")


def test_bad_model_file_names_file_and_field(tmp_path):
    bad = tmp_path / "broken.toml"
    bad.write_text('kind = "need_weighted"\nlabel = "x"\ndescription = "x"\n'
                   '[multimorbidity_weight]\nvalue = -1\nsource = "assumption"\n', encoding="utf-8")
    with pytest.raises(ValidationFailed) as err:
        load_model(str(bad))
    text = str(err.value)
    assert "broken.toml" in text and "multimorbidity_weight.value" in text and "age_sex_weights" in text


def test_unknown_role_and_negative_budget_are_refused(practices, agesex):
    with pytest.raises(UserError, match="unknown role"):
        allocate(practices, agesex, "per_capita", 1.0, role="surgeon")
    with pytest.raises(UserError, match="non-negative"):
        allocate(practices, agesex, "per_capita", -1.0)


@pytest.mark.parametrize(("visits", "text"), [(0.5, "1 day a fortnight"), (1.0, "1 day a week"),
                                               (2.0, "2 days a week"), (1 / 3, "1 day every 3 weeks"),
                                               (12 / 52, "1 day a month")])
def test_visit_frequency_words(visits, text):
    assert visit_frequency(visits) == text


def test_gaps_in_practice_data_are_filled_neutrally_and_flagged(practices, agesex):
    # Harbour has no SIMD decile/quintile and no age-sex rows. It is treated as quintile 3 / decile 5, and
    # its workload as list x the others' mean workload per head: (39,000 - 12,000) / 18,000 = 1.5 per head.
    gappy = practices.assign(simd_quintile=practices["simd_quintile"].where(practices["practice_code"] != "90006"),
                             simd_decile=practices["simd_decile"].where(practices["practice_code"] != "90006"))
    alloc = allocate(gappy, agesex[agesex["practice_code"] != "90006"], CAPITATION, 2.0).set_index("practice_code")
    assert alloc.loc["90006", "imputed"] == "simd_quintile simd_decile"
    assert alloc.loc["90001", "imputed"] == ""
    # all practices now have 1.5 workload per head, so as_index = 1 everywhere; Harbour: 12000 x 1 x 1 x 1
    # total = 1500x1.5 + 1000x1.5 + 1500x1.25 + 2000x1.25 + 12000x1.2 + 12000 = 34,525
    assert alloc.loc["90006", "hours_per_week"] == pytest.approx(75 * 12000 / 34525)


def test_unknown_model_name_is_a_clear_error(practices, agesex):
    with pytest.raises(UserError, match="no model 'nonesuch'; choose one of need_weighted"):
        allocate(practices, agesex, "nonesuch", 1.0)


def test_a_practice_outside_every_hscp_gets_no_share_of_hscp_budgets(practices, agesex):
    """Per-HSCP budgets are shared among each HSCP's own practices: one with no HSCP gets nothing, and
    the HSCP's practices share all of its budget."""
    from gpcluster.workforce.allocate import allocate_roles

    practices.loc[practices["practice_code"] == "90006", "hscp_code"] = None
    budgets = pd.DataFrame({"hscp_code": ["S37000099"], "role": ["pharmacist"], "wte": [2.0]})
    alloc = allocate_roles(practices, agesex, "per_capita", budgets).set_index("practice_code")
    assert alloc.loc["90006", "share"] == 0 and alloc.loc["90006", "wte"] == 0
    assert alloc.loc["90005", "share"] == pytest.approx(12000 / 18000)
    assert alloc["wte"].sum() == pytest.approx(2.0)


def test_lookups_by_key_name_the_missing_key():
    from gpcluster.workforce.need import by_key

    assert by_key(pd.Series([3, 1, 3]), {1: 0.5, 3: 2.0}).tolist() == [2.0, 0.5, 2.0]
    assert by_key(pd.Series(["a", "b"]), {"a": 1.0, "b": 4.0}).tolist() == [1.0, 4.0]
    with pytest.raises(KeyError):
        by_key(pd.Series([1, 2]), {1: 0.5})
    with pytest.raises(KeyError):
        by_key(pd.Series([1.0, None]), {1.0: 0.5})
