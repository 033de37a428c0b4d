"""A small warehouse built in code for the web tests: three clusters, eight practices, four quarters,
two real catalogue indicators, and distinctive small counts that disclosure control must suppress."""

from __future__ import annotations

from datetime import date
from importlib.resources import files
from pathlib import Path

import pandas as pd

from gpcluster.indicators.definition import version_of
from gpcluster.warehouse import open_warehouse

CATALOGUE = files("gpcluster.indicators") / "catalogue"
INDICATORS = {  # id -> (measure_type, multiplier)
    "emergency_admission_rate": ("crude_rate", 1000.0),
    "high_risk_prescribing": ("proportion", 100.0),
}
PERIODS = [date(2024, 1, 1), date(2024, 4, 1), date(2024, 7, 1), date(2024, 10, 1)]
CLUSTERS = {  # cluster_id -> (name, hscp, board)
    "S37000007/dundee-east": ("Dundee East", "S37000007", "S08000030"),
    "S37000007/dundee-west": ("Dundee West", "S37000007", "S08000030"),
    "S37000030/linlithgow": ("Linlithgow", "S37000030", "S08000024"),
}
PRACTICES = {  # code -> (name, cluster_id, list size, postcode)
    "10001": ("Alpha Surgery", "S37000007/dundee-east", 5200, "DD1 1AA"),
    "10002": ("Amber Health Centre", "S37000007/dundee-east", 8100, "DD1 2AB"),
    "10003": ("Acorn Medical Practice", "S37000007/dundee-east", 4321, "DD1 3AC"),
    "70001": ("Bravo Medical Centre", "S37000007/dundee-west", 6600, "DD2 7QX"),
    "70002": ("Birchwood Lane Surgery", "S37000007/dundee-west", 3777, "DD2 8QY"),
    "70003": ("BLUEBELL SURGERY", "S37000007/dundee-west", 9050, "DD2 9QZ"),
    "80001": ("Cedar Surgery", "S37000030/linlithgow", 7300, "EH49 6AA"),
    "80002": ("Cypress Health Centre", "S37000030/linlithgow", 5900, "EH49 7AB"),
}
OWN_CLUSTER = "S37000007/dundee-east"
OTHER_CLUSTER = "S37000007/dundee-west"
#: names and codes a CQL of OWN_CLUSTER must never obtain
FORBIDDEN = [s for code, (name, cluster, _, postcode) in PRACTICES.items() if cluster != OWN_CLUSTER
             for s in (code, name, postcode)]
#: (practice, indicator, period) -> numerator small enough to be suppressed (threshold 5)
SMALL = {("10003", "emergency_admission_rate", PERIODS[-1]): 3.0,
         ("70002", "emergency_admission_rate", PERIODS[-1]): 4.0}
#: emergency admissions flagged above Scotland's 99.8% limit since July 2024, with an SPC signal
FLAGGED = {("10001", "emergency_admission_rate"): (PERIODS[2], "Above UCL"),
           ("70001", "emergency_admission_rate"): (PERIODS[1], "7 Point Trend (Increasing)")}


def _numerator(code: str, indicator: str, period: date, denominator: float) -> float:
    if (code, indicator, period) in SMALL:
        return SMALL[(code, indicator, period)]
    base = 0.021 if indicator == "emergency_admission_rate" else 0.08
    flagged = FLAGGED.get((code, indicator))
    if flagged and period >= flagged[0]:
        base *= 1.6
    wobble = 1 + 0.01 * (int(code) % 7) + 0.005 * PERIODS.index(period)
    return float(round(denominator * base * wobble))


def _practice_rows() -> pd.DataFrame:
    rows = []
    for indicator, (_, mult) in INDICATORS.items():
        for period in PERIODS:
            for code, (_, cluster, size, _) in PRACTICES.items():
                den = float(size if indicator == "emergency_admission_rate" else size // 10)
                num = _numerator(code, indicator, period, den)
                _, hscp, board = CLUSTERS[cluster]
                flagged = FLAGGED.get((code, indicator))
                on = bool(flagged and period >= flagged[0])
                rows.append(dict(indicator_id=indicator, period=period, level="practice", area_code=code,
                                 cluster_id=cluster, hscp_code=hscp, board_code=board, numerator=num,
                                 denominator=den, value=num / den * mult,
                                 funnel_scotland="high_998" if on else "not_significant",
                                 spc_signal="special_cause_concern" if on else "common_cause",
                                 spc_rule=flagged[1] if on else None))
    return pd.DataFrame(rows)


def _aggregate(practice: pd.DataFrame, level: str, key: str | None) -> pd.DataFrame:
    groups = ["indicator_id", "period"] + ([key] if key else [])
    agg = practice.groupby(groups, as_index=False)[["numerator", "denominator"]].sum()
    agg["level"] = level
    agg["area_code"] = agg[key] if key else "S92000003"
    if key == "cluster_id":
        agg["hscp_code"] = [CLUSTERS[c][1] for c in agg["cluster_id"]]
        agg["board_code"] = [CLUSTERS[c][2] for c in agg["cluster_id"]]
    return agg


def values_frame() -> pd.DataFrame:
    """indicator_value rows: practices with comparators, plus cluster, HSCP, board and Scotland rows."""
    practice = _practice_rows()
    levels = [_aggregate(practice, "cluster", "cluster_id"), _aggregate(practice, "hscp", "hscp_code"),
              _aggregate(practice, "board", "board_code"), _aggregate(practice, "scotland", None)]
    frame = pd.concat([practice, *levels], ignore_index=True)
    frame["value"] = frame["numerator"] / frame["denominator"] * frame["indicator_id"].map(
        {k: v[1] for k, v in INDICATORS.items()})
    frame["lower95"], frame["upper95"] = frame["value"] * 0.9, frame["value"] * 1.1
    frame["lower998"], frame["upper998"] = frame["value"] * 0.85, frame["value"] * 1.15
    for level, key in (("cluster", "cluster_id"), ("hscp", "hscp_code"), ("board", "board_code")):
        lookup = frame[frame["level"] == level].set_index(["indicator_id", "period", "area_code"])["value"]
        frame[f"{level}_value"] = [lookup.get((i, p, a)) for i, p, a in
                                   zip(frame["indicator_id"], frame["period"], frame[key], strict=True)]
    scot = frame[frame["level"] == "scotland"].set_index(["indicator_id", "period"])["value"]
    frame["scotland_value"] = [scot[(i, p)] for i, p in zip(frame["indicator_id"], frame["period"], strict=True)]
    is_practice = frame["level"] == "practice"
    frame.loc[is_practice, "national_rank"] = frame[is_practice].groupby(["indicator_id", "period"])["value"].rank(
        ascending=False, method="first")
    frame.loc[is_practice, "national_decile"] = frame[is_practice].groupby(["indicator_id", "period"])[
        "value"].rank(pct=True).mul(10).clip(1, 10).round()
    # E: the unit's denominator at Scotland's rate (what the engine stores for performance indicators)
    units = frame["level"].isin(["practice", "cluster"])
    multiplier = frame["indicator_id"].map({k: v[1] for k, v in INDICATORS.items()})
    frame.loc[units, "expected"] = (frame["denominator"] * frame["scotland_value"] / multiplier)[units]
    return frame


#: the overdispersion-adjusted funnel's τ² in every quarter (funnel_model), for the limits the pages draw
TAU2 = 0.01


def build_warehouse(path: Path, synthetic: bool = True) -> Path:
    """Write the fixture warehouse to `path` and return it."""
    con = open_warehouse(path)
    con.execute((files("gpcluster.indicators") / "results.sql").read_text(encoding="utf-8"))
    for cid, (name, hscp, _) in CLUSTERS.items():
        con.execute("INSERT INTO cluster VALUES (?, ?, ?)", [cid, hscp, name])
    for code, (name, cid, size, postcode) in PRACTICES.items():
        _, hscp, board = CLUSTERS[cid]
        con.execute("INSERT INTO practice VALUES (?, ?, ?, NULL, ?, ?)", [code, name, postcode, PERIODS[0],
                                                                         PERIODS[-1]])
        for period in PERIODS:
            con.execute("INSERT INTO practice_release (release_date, practice_code, practice_name, board_code, "
                        "hscp_code, cluster_id, postcode, list_size, cluster_name) VALUES (?,?,?,?,?,?,?,?,?)",
                        [period, code, name, board, hscp, cid, postcode, size, CLUSTERS[cid][0]])
    con.execute("INSERT INTO load_ledger (source, file_name, sha256, row_count, synthetic) VALUES "
                "('gp_practice_contact_details', 'fixture.csv', 'abc', 8, ?)", [synthetic])
    for indicator, (measure_type, mult) in INDICATORS.items():
        text = (CATALOGUE / f"{indicator}.toml").read_text(encoding="utf-8")
        title = {"emergency_admission_rate": "Emergency admissions per 1,000 patients",
                 "high_risk_prescribing": "High-risk prescribing"}[indicator]
        con.execute("INSERT INTO indicator_definition (indicator_id, version, title, description, why_it_matters, "
                    "measure_type, multiplier, unit, polarity, synthetic, definition) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                    [indicator, version_of(text), title, "A description of the indicator.",
                     "Why this indicator matters.", measure_type, mult,
                     "per 1,000 patients" if mult == 1000 else "%", "higher_is_worse", True, text])
    frame = values_frame()
    frame["version"] = frame["indicator_id"].map(
        {i: version_of((CATALOGUE / f"{i}.toml").read_text(encoding="utf-8")) for i in INDICATORS})
    con.register("fixture_values", frame)
    con.execute("INSERT INTO indicator_value BY NAME SELECT * FROM fixture_values")
    for indicator in INDICATORS:
        for period in PERIODS:
            for level, units in (("practice", len(PRACTICES)), ("cluster", len(CLUSTERS))):
                con.execute("INSERT INTO funnel_model VALUES (?, ?, ?, ?, 'sqrt(O/E)', ?, 2.5, ?, true, 1.0)",
                            [indicator, frame.loc[frame["indicator_id"] == indicator, "version"].iloc[0], period,
                             level, units, TAU2])
    _signals(con, frame)
    con.close()
    return path


def _signals(con, frame: pd.DataFrame) -> None:
    """One live signal per FLAGGED practice in the last quarter, as gpcluster.signals would store it."""
    from gpcluster.signals.build import COLUMNS, SCHEMA

    rows = []
    for (code, indicator), (start, _) in FLAGGED.items():
        cluster = PRACTICES[code][1]
        _, hscp, board = CLUSTERS[cluster]
        persistence = PERIODS.index(PERIODS[-1]) - PERIODS.index(start) + 1
        rows.append({
            "signal_id": f"practice:{code}:{indicator}:{start:%Y-%m}", "indicator_id": indicator,
            "level": "practice", "area_code": code, "cluster_id": cluster, "hscp_code": hscp, "board_code": board,
            "period": PERIODS[-1], "start_period": start, "status": "ongoing", "direction": "high",
            "concern": "worse", "evidence": "level", "persistence": persistence, "observed": 180.0,
            "expected": 110.0, "denominator": float(PRACTICES[code][2]), "ratio": 180 / 110, "difference": 13.5,
            "z_level": 5.0, "change_pct": None, "z_change": None, "score": 8.0, "rank_in_cluster": 1,
            "worth_discussing": True,
            "sentence": "Emergency admissions per 1,000 patients: 64% higher than expected, after allowing for "
                        "the age and sex of the practice's patients and the usual differences between practices.",
            "method": "Observed against expected counts."})
    con.execute(SCHEMA)
    con.register("fixture_signals", pd.DataFrame(rows, columns=COLUMNS))
    con.execute("INSERT INTO signal SELECT * FROM fixture_signals")


# ---------------------------------------------------------------- planner data (populations, zones, roster)

RELEASE = PERIODS[-1]
TINY = "10009"  # a 4-patient practice in Dundee East: its list size must never leave the server
# practice -> (SIMD decile, urban-rural 8-fold); TINY alone is class 5, so that class's total is 4 patients
ZONES = {"10001": (1, 1), "10002": (3, 1), "10003": (5, 1), TINY: (5, 5), "70001": (2, 1), "70002": (7, 1),
         "70003": (9, 1), "80001": (6, 3), "80002": (10, 3)}
HEADER = ("post_id,role,wte,employer,base,practice_sessions,start_date,end_date,line_manager,"
          "gp_supervision_hours_per_week")
# Dundee (S37000007) pharmacist sessions: 3+3+2 + 4+2+1 = 15 a week = 60 hours; Linlithgow 3+2 = 20 hours.
ROSTER = "\n".join([
    HEADER,
    "PH-E1,pharmacist,1.0,S37000007,10001,10001:3; 10002:3; 10003:2,2020-04-01,,lead pharmacist,1.0",
    "PH-W1,pharmacist,0.8,S37000007,70001,70001:4; 70002:2; 70003:1,2020-04-01,,lead pharmacist,1.0",
    "PH-L1,pharmacist,0.6,S37000030,80001,80001:3; 80002:2,2021-01-04,,lead pharmacist,1.0",
    "ANP-1,anp,1.0,S37000007,Dundee hub,10002:5; 70003:4,2022-08-01,,lead nurse,2.0",
]) + "\n"
DUNDEE_LIST = sum(size for code, (_, cluster, size, _) in PRACTICES.items() if cluster.startswith("S37000007")) + 4




def build_planner_warehouse(path: Path) -> Path:
    """The web fixture warehouse plus populations, data zones and a roster (the planner's inputs)."""
    from gpcluster.workforce.store import import_roster

    build_warehouse(path)
    con = open_warehouse(path)
    sizes = {code: size for code, (_, _, size, _) in PRACTICES.items()} | {TINY: 4}
    con.execute("INSERT INTO practice_release (release_date, practice_code, practice_name, board_code, hscp_code, "
                "cluster_id, list_size, cluster_name) VALUES (?, ?, 'Tiny Isle Surgery', 'S08000030', 'S37000007', "
                "'S37000007/dundee-east', 4, 'Dundee East')", [RELEASE, TINY])
    for code, (decile, ur8) in ZONES.items():
        zone = f"S01{code}"
        con.execute("UPDATE practice_release SET data_zone = ? WHERE practice_code = ?", [zone, code])
        con.execute("INSERT INTO data_zone (data_zone, simd_rank, simd_decile, simd_quintile, urban_rural_8) "
                    "VALUES (?, ?, ?, ?, ?)", [zone, decile * 690 - int(code) % 100, decile, (decile + 1) // 2, ur8])
        size = sizes[code]
        con.executemany("INSERT INTO list_population VALUES (?, ?, ?, ?, ?)",
                        [[RELEASE, code, "All", "All", size], [RELEASE, code, "Female", "25-44", size // 2],
                         [RELEASE, code, "Male", "65-74", size - size // 2]])
    roster = path.parent / "roster.csv"
    roster.write_text(ROSTER, encoding="utf-8")
    import_roster(con, roster)
    con.close()
    return path


#: a practice in no cluster (PHS published no contact details for it): 'cluster unknown' on its page
UNCLUSTERED = ("99001", "Lone Glen Surgery")


def build_browser_warehouse(path: Path) -> Path:
    """The planner warehouse plus a practice without a cluster, with its own figures (browser tests)."""
    build_planner_warehouse(path)
    con = open_warehouse(path)
    code, name = UNCLUSTERED
    con.execute("INSERT INTO practice VALUES (?, ?, 'DD9 9ZZ', NULL, ?, ?)", [code, name, PERIODS[0], PERIODS[-1]])
    con.execute("INSERT INTO list_population VALUES (?, ?, 'All', 'All', 2500)", [RELEASE, code])
    con.execute("""INSERT INTO indicator_value BY NAME
                   SELECT * REPLACE ('99001' AS area_code, NULL::VARCHAR AS cluster_id, NULL::DOUBLE AS cluster_value)
                   FROM indicator_value WHERE level = 'practice' AND area_code = '10002'""")
    con.close()
    return path
