"""The demo's synthetic MDT roster, calibrated to the national totals in the source documents: about
2,463 WTE of new MDT staff by March 2021, over 1,000 of them pharmacists and pharmacy technicians
(BJGP 2023 qualitative study, seeds/000). It is written in the roster template format so that it goes
through the same importer as a real roster.

Shape: posts are employed by HSCPs and shared out to practices mostly per capita, with HSCP-level
variation (some partnerships ahead of the national rate, some behind) and practice-level noise, so
small remote practices get the fragments of a post ('two hours of this a week') that the study reports."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pandas as pd

from gpcluster.workforce.params import load_assumptions
from gpcluster.workforce.roster import write_roster_csv

NATIONAL_WTE = 2463.0
# Registered patients in Scotland around 2021 (PHS practice list sizes, ~5.9 million): scales the
# national total down when the practice frame is only part of Scotland.
NATIONAL_LIST = 5_900_000
# Role shares of the national WTE: assumption, keeping pharmacists + technicians above 1,000 WTE.
ROLE_WTE = {
    "pharmacist": 720, "pharmacy_technician": 330, "app": 240, "anp": 330, "mental_health_nurse": 170,
    "mental_health_worker": 110, "community_link_worker": 290, "paramedic": 273,
}
POST_SIZES = (1.0, 1.0, 0.8, 0.6, 0.5)
LINE_MANAGERS = {
    "pharmacist": "HSCP lead pharmacist", "pharmacy_technician": "HSCP lead pharmacist",
    "app": "MSK service manager", "anp": "Urgent care lead nurse", "mental_health_nurse": "Primary care mental health lead",
    "mental_health_worker": "Primary care mental health lead", "community_link_worker": "Third-sector CLW manager",
    "paramedic": "Urgent care lead",
}


def synthetic_roster(practices: pd.DataFrame, seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(posts, sessions) for the practices given (columns practice_code, hscp_code, cluster_id, list_size);
    deterministic for a seed."""
    a = load_assumptions()
    rng = np.random.default_rng(seed)
    session_wte = a.session_hours.value / a.hours_per_wte.value
    df = practices[practices["list_size"] > 0].sort_values(["hscp_code", "cluster_id", "practice_code"]).copy()
    df["cluster_id"] = df["cluster_id"].fillna(df["hscp_code"])
    scale = df["list_size"].sum() / NATIONAL_LIST
    hscps = sorted(df["hscp_code"].unique())
    progress = dict(zip(hscps, rng.lognormal(0.0, 0.25, len(hscps)), strict=True))
    weights = df["hscp_code"].map(progress) * df["list_size"]
    posts, sessions, start = [], [], date(2018, 4, 1)
    for role, national in ROLE_WTE.items():
        noisy = weights * rng.lognormal(0.0, 0.3, len(df))
        target = national * scale * noisy / noisy.sum()
        want = np.maximum(np.round(target.to_numpy() / session_wte * 2) / 2, 0.5)  # half-session steps
        for hscp, idx in df.groupby("hscp_code").indices.items():
            post, capacity = None, 0.0
            for i in idx:
                left = float(want[i])
                while left > 1e-9:
                    if post is None or capacity < 0.5:
                        size = float(rng.choice(POST_SIZES))
                        n = len(posts) + 1
                        begun = start + timedelta(days=int(rng.integers(0, 3 * 365)))
                        ended = begun + timedelta(days=int(rng.integers(365, 5 * 365))) if rng.random() < 0.1 else None
                        post = {"post_id": f"SYN-{role[:4].upper()}-{n:05d}", "role": role, "wte": size,
                                "employer": hscp, "base": df.iloc[i]["practice_code"], "start_date": begun,
                                "end_date": ended, "line_manager": LINE_MANAGERS[role],
                                "gp_supervision_hours_per_week": round(
                                    size * a.supervision_hours_per_wte[role] * rng.uniform(0.6, 1.4), 2)}
                        posts.append(post)
                        capacity = size / session_wte
                    take = min(left, np.floor(capacity * 2) / 2)
                    sessions.append({"post_id": post["post_id"], "practice_code": df.iloc[i]["practice_code"],
                                     "sessions_per_week": take})
                    left -= take
                    capacity -= take
    sess = pd.DataFrame(sessions).groupby(["post_id", "practice_code"], as_index=False, sort=False).sum()
    frame = pd.DataFrame(posts)
    # A post is only as large as the sessions it delivers (to the next 0.1 WTE).
    used = frame["post_id"].map(sess.groupby("post_id")["sessions_per_week"].sum()) * session_wte
    frame["wte"] = np.minimum(frame["wte"], np.ceil(used * 10 - 1e-9) / 10)
    return frame, sess


def write_synthetic_roster(practices: pd.DataFrame, out_path, seed: int) -> Path:
    """Write the synthetic roster for `practices` to `out_path` in the roster template (CSV) format."""
    posts, sessions = synthetic_roster(practices, seed)
    return write_roster_csv(posts, sessions, out_path)
