"""Counts, ranges and internal consistency of the synthetic files, computed from the files themselves."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

from gpcluster.synthetic.geography import reference_table

BAND_COLUMNS = ["Ages0to4", "Ages5to14", "Ages15to24", "Ages25to44", "Ages45to64", "Ages65to74",
                "Ages75to84", "Ages85plus"]


def test_practice_and_cluster_counts_in_every_release(contacts):
    for release, frame in contacts.groupby("release"):
        assert 900 <= len(frame) <= 960, release
        assert frame["PracticeCode"].is_unique
        sizes = frame.groupby(["HSCP", "GPCluster"]).size()
        assert 140 <= len(sizes) <= 160, release
        assert sizes.between(3, 12).all(), release
        # each cluster name belongs to one HSCP only, so every cluster lies inside one HSCP
        assert frame.groupby("GPCluster")["HSCP"].nunique().max() == 1
    last = contacts[contacts["release"] == "jan2025"]
    sizes = last.groupby("GPCluster").size()
    assert sizes.between(5, 8).mean() > 0.5  # most clusters have 5 to 8 practices
    assert 900 <= len(last) <= 960 and abs(len(last) - 930) <= 20


def test_list_size_distribution_and_scotland_total(contacts):
    last = contacts[contacts["release"] == "jan2025"]["PracticeListSize"]
    assert 4500 <= last.median() <= 6500
    assert last.min() < 1000 and last.max() > 20000
    assert 5.6e6 <= last.sum() <= 6.2e6
    first = contacts[contacts["release"] == "apr2016"]["PracticeListSize"]
    assert first.sum() < last.sum()  # Scotland's registered list grows


def test_real_boards_and_hscps_with_consistent_parents(contacts):
    boards = {r["board_code"] for r in reference_table("boards")}
    hscp_board = {r["hscp_code"]: r["board_code"] for r in reference_table("hscps")}
    assert set(contacts["HB"]) == boards
    assert set(contacts["HSCP"]) == set(hscp_board)
    assert (contacts["HSCP"].map(hscp_board) == contacts["HB"]).all()


def test_codes_postcodes_and_names_cannot_pass_for_real(contacts, simd):
    assert contacts["PracticeCode"].str.fullmatch(r"\d{5}").all()
    assert contacts["Postcode"].str.fullmatch(r"ZZ\d{1,2} \d[A-Z]{2}").all()
    assert not contacts["GPPracticeName"].str.contains("synthetic", case=False).any()
    codes = simd["DataZone"].str.slice(3).astype(int)
    assert simd["DataZone"].str.fullmatch(r"S01\d{6}").all() and (codes >= 900001).all()
    assert simd["IntZone"].str.fullmatch(r"S029\d{5}").all()
    assert set(contacts["DataZone"]) <= set(simd["DataZone"])
    # a practice keeps its code, postcode and data zone across releases
    assert (contacts.groupby("PracticeCode")[["Postcode", "DataZone"]].nunique() == 1).all().all()


def test_practice_populations_add_up(populations, contacts):
    pops = populations.set_index(["Date", "PracticeCode", "Sex"])
    males = pops.xs("Male", level="Sex")
    females = pops.xs("Female", level="Sex")
    alls = pops.xs("All", level="Sex")
    for column in ["AllAges", *BAND_COLUMNS]:
        assert ((males[column] + females[column]) == alls[column]).all(), column
    assert (pops[BAND_COLUMNS].sum(axis=1) == pops["AllAges"]).all()
    assert (populations.loc[populations["Sex"] == "All", "SexQF"] == "d").all()
    assert (populations.loc[populations["Sex"] != "All", "SexQF"] == "").all()
    months = {"jan": "01", "apr": "04", "jul": "07", "oct": "10"}
    contact_lists = contacts.assign(
        Date=contacts["release"].map(lambda r: int(r[3:] + months[r[:3]] + "01")))
    joined = contact_lists.merge(alls.reset_index()[["Date", "PracticeCode", "AllAges"]],
                                 on=["Date", "PracticeCode"], how="outer", indicator=True)
    assert (joined["_merge"] == "both").all()
    assert (joined["PracticeListSize"] == joined["AllAges"]).all()


def test_age_structure_varies_with_deprivation_and_rurality(populations, contacts, simd, urban_rural):
    last = populations[(populations["Date"] == 20250101) & (populations["Sex"] == "All")]
    zone = contacts[contacts["release"] == "jan2025"][["PracticeCode", "DataZone"]]
    frame = last.merge(zone, on="PracticeCode").merge(simd, on="DataZone").merge(urban_rural, on="DataZone")
    frame["old"] = (frame["Ages75to84"] + frame["Ages85plus"]) / frame["AllAges"]
    by_quintile = frame.groupby("SIMD2020V2CountryQuintile")["old"].mean()
    assert by_quintile.is_monotonic_increasing and by_quintile[5] > 1.5 * by_quintile[1]
    by_rurality = frame.groupby("UrbanRural6fold2020")["old"].mean()
    assert by_rurality[6] > by_rurality[1] * 1.4
    share = frame[BAND_COLUMNS].sum() / frame["AllAges"].sum()
    assert 0.15 < share[["Ages65to74", "Ages75to84", "Ages85plus"]].sum() < 0.25  # Scotland's 65+ ~ 20%


def _equal_count_groups_ok(rank: pd.Series, group: pd.Series, groups: int) -> bool:
    """Groups rise with rank, all present, and hold n/groups data zones each (give or take one)."""
    order = group[rank.sort_values().index]
    counts = order.value_counts().reindex(range(1, groups + 1), fill_value=0)
    return bool(order.is_monotonic_increasing and counts.min() >= len(rank) // groups
                and counts.max() <= -(-len(rank) // groups))


def test_simd_deciles_follow_the_data_zone_count_rule(simd):
    n = len(simd)
    assert 6500 <= n <= 7500
    assert sorted(simd["SIMD2020V2Rank"]) == list(range(1, n + 1))
    rank = simd["SIMD2020V2Rank"]
    assert _equal_count_groups_ok(rank, simd["SIMD2020V2CountryDecile"], 10)
    assert _equal_count_groups_ok(rank, simd["SIMD2020V2CountryQuintile"], 5)
    # the first decile is the 10% most deprived: 700 of 7000 data zones
    assert (simd.loc[simd["SIMD2020V2CountryDecile"] == 1, "SIMD2020V2Rank"] <= -(-n // 10)).all()
    assert simd["SIMD2020V2Most15pc"].sum() == round(0.15 * n) == simd["SIMD2020V2Least15pc"].sum()
    assert rank[simd["SIMD2020V2Most15pc"] == 1].max() < rank[simd["SIMD2020V2Least15pc"] == 1].min()
    for area, prefix in (("HB", "HB"), ("HSCP", "HSCP"), ("CA", "CA")):
        for _, zones in simd.groupby(area):
            assert _equal_count_groups_ok(zones["SIMD2020V2Rank"], zones[f"SIMD2020V2{prefix}Decile"], 10)
            assert _equal_count_groups_ok(zones["SIMD2020V2Rank"], zones[f"SIMD2020V2{prefix}Quintile"], 5)
    assert simd["CA"].str.fullmatch(r"S12\d{6}").all() and simd["CA"].nunique() == 32


def test_deprivation_and_rurality_sit_where_they_do_in_scotland(simd, urban_rural):
    hscps = {r["hscp_name"]: r["hscp_code"] for r in reference_table("hscps")}
    q1 = simd.assign(q1=simd["SIMD2020V2CountryQuintile"] == 1).groupby("HSCP")["q1"].mean()
    for deprived in ("Glasgow City", "Dundee City", "Inverclyde", "West Dunbartonshire", "North Lanarkshire"):
        assert q1[hscps[deprived]] > 0.25, deprived
    for affluent in ("Aberdeenshire", "East Renfrewshire", "East Dunbartonshire", "Shetland Islands", "Orkney Islands"):
        assert q1[hscps[affluent]] < 0.05, affluent
    frame = simd.merge(urban_rural, on="DataZone")
    remote = frame.assign(r=frame["UrbanRural8fold2020"].isin([7, 8])).groupby("HSCP")["r"].mean()
    urban = frame.assign(u=frame["UrbanRural8fold2020"] == 1).groupby("HSCP")["u"].mean()
    for name in ("Highland", "Argyll & Bute", "Western Isles", "Orkney Islands", "Shetland Islands"):
        assert remote[hscps[name]] > 0.3, name
    for name in ("Glasgow City", "Edinburgh", "Aberdeen City", "Dundee City"):
        assert urban[hscps[name]] > 0.8 and remote[hscps[name]] == 0, name
    # the folds agree with one another (SG definitions)
    eight_to_six = {1: 1, 2: 2, 3: 3, 4: 4, 5: 4, 6: 5, 7: 6, 8: 6}
    assert (urban_rural["UrbanRural8fold2020"].map(eight_to_six) == urban_rural["UrbanRural6fold2020"]).all()
    assert (urban_rural["UrbanRural2fold2020"] == np.where(urban_rural["UrbanRural6fold2020"] <= 4, 1, 2)).all()
    assert (urban_rural[[c for c in urban_rural if c.endswith("QF")]] == "").all().all()


def test_data_zone_populations_add_up_and_are_older_where_rural(written, urban_rural):
    path = next(p for s, p in written if s == "data_zone_populations")
    pops = pd.read_csv(path, keep_default_na=False)
    ages = [c for c in pops if re.fullmatch(r"Age(\d+|90plus)", c)]
    assert len(ages) == 91 and (pops[ages].sum(axis=1) == pops["AllAges"]).all()
    wide = pops.pivot(index="DataZone", columns="Sex", values="AllAges")
    assert (wide["Male"] + wide["Female"] == wide["All"]).all()
    assert 5.0e6 < wide["All"].sum() < 5.9e6
    everyone = pops[pops["Sex"] == "All"].merge(urban_rural, on="DataZone")
    everyone["old"] = everyone[[f"Age{a}" for a in range(75, 90)] + ["Age90plus"]].sum(axis=1) / everyone["AllAges"]
    by_class = everyone.groupby("UrbanRural6fold2020")["old"].mean()
    assert by_class[6] > by_class[1]


def test_headcount_is_loosely_proportional_to_list_size(written, contacts):
    path = next(p for s, p in written if s == "gp_headcount")
    heads = pd.read_csv(path, dtype={"PracticeCode": str})
    assert set(heads["GPDesignation"]) <= {"PERFORMER", "PERFORMER SALARIED", "PERFORMER REGISTRAR",
                                           "PERFORMER RETAINEE"}
    assert set(heads["Sex"]) <= {"Female", "Male", "Unknown"} and (heads["Headcount"] > 0).all()
    per_practice = heads.groupby("PracticeCode")["Headcount"].sum()
    last = contacts[contacts["release"] == "jan2025"].set_index("PracticeCode")["PracticeListSize"]
    assert set(per_practice.index) == set(last.index)
    assert 1400 <= last.sum() / per_practice.sum() <= 1900
    assert np.corrcoef(last[per_practice.index], per_practice)[0, 1] > 0.7


def test_only_remote_and_rural_practices_dispense(contacts, urban_rural):
    last = contacts[contacts["release"] == "jan2025"].merge(urban_rural, on="DataZone")
    assert set(last["Dispensing"]) == {"Y", ""}
    dispensing = last[last["Dispensing"] == "Y"]
    assert 20 <= len(dispensing) <= 150
    assert (dispensing["UrbanRural8fold2020"] >= 4).all()
