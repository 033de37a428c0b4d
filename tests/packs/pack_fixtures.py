"""The pack tests' shared warehouse, accounts and helpers (imported by name from the test files: a module
called conftest is ambiguous when several test folders run together)."""

from __future__ import annotations

import sys
from datetime import date
from pathlib import Path

import pandas as pd

TESTS = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(TESTS / "web"))

from warehouse_fixture import CLUSTERS, OWN_CLUSTER, PERIODS, PRACTICES, build_warehouse  # noqa: E402, F401

PASSWORD = "correct horse battery staple"
EARLIER, LATEST = PERIODS[-2], PERIODS[-1]
#: the PQL's practice has two signals in the earlier quarter (so the PQL has two to respond to)
PQL_PRACTICE = "10002"
EARLIER_SIGNALS = {
    f"practice:{PQL_PRACTICE}:emergency_admission_rate:2024-07": (PQL_PRACTICE, "emergency_admission_rate"),
    f"practice:{PQL_PRACTICE}:high_risk_prescribing:2024-07": (PQL_PRACTICE, "high_risk_prescribing"),
    "practice:10001:emergency_admission_rate:2024-07": ("10001", "emergency_admission_rate"),
}
LOOP_USERS = {  # username -> (role, scope_level, scope_code, e-mail)
    "cql": ("cluster", "cluster", OWN_CLUSTER, "cql@example.org"),
    "pql": ("practice", "practice", PQL_PRACTICE, "pql@example.org"),
    "pql_alpha": ("practice", "practice", "10001", "alpha@example.org"),
    "pql_other": ("practice", "practice", "70001", "bravo@example.org"),
    "cql_other": ("cluster", "cluster", "S37000007/dundee-west", "west@example.org"),
    "national": ("national", "scotland", None, None),
}


def add_earlier_signals(path: Path) -> None:
    """Signals of the quarter before the latest, as gpcluster.signals stores them."""
    from gpcluster.signals.build import COLUMNS
    from gpcluster.warehouse import open_warehouse

    rows = []
    for n, (signal_id, (code, indicator)) in enumerate(EARLIER_SIGNALS.items(), start=1):
        cluster = PRACTICES[code][1]
        _, hscp, board = CLUSTERS[cluster]
        rows.append({
            "signal_id": signal_id, "indicator_id": indicator, "level": "practice", "area_code": code,
            "cluster_id": cluster, "hscp_code": hscp, "board_code": board, "period": EARLIER,
            "start_period": EARLIER, "status": "new", "direction": "high", "concern": "worse", "evidence": "level",
            "persistence": 1, "observed": 150.0, "expected": 100.0, "denominator": float(PRACTICES[code][2]),
            "ratio": 1.5, "difference": 9.0, "z_level": 4.0, "change_pct": None, "z_change": None,
            "score": 9.0 - n, "rank_in_cluster": n, "worth_discussing": True,
            "sentence": f"Sentence {n}: 50% higher than expected, after allowing for the practice's patients.",
            "method": "Observed against expected counts."})
    con = open_warehouse(path)
    con.register("earlier_signals", pd.DataFrame(rows, columns=COLUMNS))
    con.execute("INSERT INTO signal SELECT * FROM earlier_signals")
    con.close()


def add_loop_users(store) -> dict[str, int]:
    from gpcluster.store.accounts import add_user

    ids = {}
    with store.session() as session:
        for username, (role, level, code, email) in LOOP_USERS.items():
            ids[username] = add_user(session, username, PASSWORD, role, level, code, display_name=username.upper(),
                                     email=email).id
    return ids


def publish_one(warehouse: Path, store, period: date, cluster: str = OWN_CLUSTER, formats=("html",), **kw):
    from gpcluster.packs.publish import publish

    [result] = publish([cluster], period, formats=formats, workers=1, warehouse=warehouse, store=store, **kw)
    return result


def corrected_warehouse(warehouse: Path, out: Path) -> Path:
    """A copy of the warehouse whose PQL practice had 40 more emergency admissions in the earlier quarter
    (a corrected source file), for publishing a correction."""
    import shutil

    import duckdb

    shutil.copyfile(warehouse, out)
    with duckdb.connect(str(out)) as con:
        con.execute("""UPDATE indicator_value SET numerator = numerator + 40, value = (numerator + 40) / denominator * 1000
                       WHERE area_code = ? AND indicator_id = 'emergency_admission_rate' AND period = ?""",
                    [PQL_PRACTICE, EARLIER])
    return out
