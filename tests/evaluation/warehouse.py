"""A warehouse built in code for the evaluation tests: 60 practices in 12 clusters of 3 HSCPs, 24 quarters
of emergency admissions simulated with gpcluster.evaluation.simulate, a known 15% fall planted in 8
practices from START, and one practice with small counts that disclosure control must hide."""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

import numpy as np
import pandas as pd

from gpcluster.evaluation.simulate import EMERGENCY_ADMISSIONS, plant, quarters, simulate_panel
from gpcluster.indicators.definition import version_of
from gpcluster.warehouse import open_warehouse

INDICATOR = "emergency_admission_rate"
PERIODS = quarters(pd.Timestamp("2019-04-01").date(), 24)
START = PERIODS[16]
HSCPS = {"S37000007": "S08000030", "S37000030": "S08000024", "S37000005": "S08000022"}
CLUSTERS = {f"{h}/cluster-{i}": h for i, h in enumerate([h for h in HSCPS for _ in range(4)])}
PRACTICES = {f"{10001 + i}": c for i, c in enumerate([c for c in CLUSTERS for _ in range(5)])}
TREATED = sorted(PRACTICES)[:8]  # clusters 0 and 1 (both in S37000007), minus two practices
EFFECT = 0.85
TINY = "10059"  # a very small practice: its counts (1-5) are at or below the disclosure threshold


def practice_rows(seed: int = 7) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    panel, _ = simulate_panel(rng, len(PRACTICES), len(PERIODS), PERIODS[0], EMERGENCY_ADMISSIONS)
    codes = dict(zip(panel.units, sorted(PRACTICES), strict=True))
    panel = plant(rng, panel, {u: START for u, c in codes.items() if c in TREATED}, "step", EFFECT)
    f = panel.frame.assign(area_code=panel.frame["unit"].map(codes))
    f.loc[f["area_code"] == TINY, "numerator"] = rng.integers(1, 6, (f["area_code"] == TINY).sum()).astype(float)
    f.loc[f["area_code"] == TINY, "denominator"] = 150.0
    f["value"] = f["numerator"] / f["denominator"] * 1000
    f["cluster_id"] = f["area_code"].map(PRACTICES)
    f["hscp_code"] = f["cluster_id"].map(CLUSTERS)
    f["board_code"] = f["hscp_code"].map(HSCPS)
    f["level"] = "practice"
    return f.drop(columns=["unit"])


def values_frame(seed: int = 7) -> pd.DataFrame:
    practice = practice_rows(seed)
    frames = [practice]
    for level, key in (("cluster", "cluster_id"), ("hscp", "hscp_code"), ("board", "board_code")):
        agg = practice.groupby(["period", key], as_index=False)[["numerator", "denominator"]].sum()
        agg["level"], agg["area_code"] = level, agg[key]
        if level == "cluster":
            agg["hscp_code"] = agg["cluster_id"].map(CLUSTERS)
        if level in ("cluster", "hscp"):
            agg["board_code"] = agg["hscp_code"].map(HSCPS)
        frames.append(agg)
    frame = pd.concat(frames, ignore_index=True)
    frame["value"] = frame["numerator"] / frame["denominator"] * 1000
    frame["indicator_id"] = INDICATOR
    return frame


def build_warehouse(path: Path, seed: int = 7) -> Path:
    con = open_warehouse(path)
    con.execute((files("gpcluster.indicators") / "results.sql").read_text(encoding="utf-8"))
    for cid, hscp in CLUSTERS.items():
        con.execute("INSERT INTO cluster VALUES (?, ?, ?)", [cid, hscp, f"Cluster {cid[-1]} of {hscp}"])
    for code in PRACTICES:
        con.execute("INSERT INTO practice VALUES (?, ?, NULL, NULL, ?, ?)",
                    [code, f"Practice {code} Surgery", PERIODS[0], PERIODS[-1]])
    con.execute("INSERT INTO load_ledger (source, file_name, sha256, row_count, synthetic) VALUES "
                "('practice_activity', 'fixture.csv', 'abc', 1, TRUE)")
    text = (files("gpcluster.indicators") / "catalogue" / f"{INDICATOR}.toml").read_text(encoding="utf-8")
    con.execute("INSERT INTO indicator_definition (indicator_id, version, title, description, why_it_matters, "
                "measure_type, multiplier, unit, polarity, synthetic, definition) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                [INDICATOR, version_of(text), "Emergency admissions per 1,000 patients", "Description.", "Why.",
                 "crude_rate", 1000.0, "per 1,000 patients per quarter", "higher_is_worse", True, text])
    frame = values_frame(seed)
    frame["version"] = version_of(text)
    con.register("fixture_values", frame)
    con.execute("INSERT INTO indicator_value BY NAME SELECT * FROM fixture_values")
    con.close()
    return path


def registration_toml(slug: str = "pharmacy-pilot", start=START, method: str = "did", units=None,
                      level: str = "practice", expected: str = "decrease") -> str:
    units = units if units is not None else TREATED
    lines = [f'id = "{slug}"', 'title = "Pharmacotherapy pilot"',
             'what_changed = "Pharmacists took over medication reviews."', f'level = "{level}"']
    for code in units:
        lines += ["[[units]]", f'code = "{code}"', f"start = {start.isoformat()}"]
    lines += ["[[outcomes]]", 'indicator_id = "emergency_admission_rate"', f'expected = "{expected}"',
              "[plan]", f'method = "{method}"', "post_quarters = 8", "pre_quarters = 12"]
    return "\n".join(lines) + "\n"
