"""The re-identification attack of issue 13, kept in the suite: as each scoped role, download what the app
releases about practices the viewer may not name, then try to match every pseudonymised practice to a
real one using everything public (PHS publishes every practice's list size and age bands by name) and
every published column: list size, expected count, intervals, ranks, comparators naming its area, and
ratios of published values. A pseudonym is matched better than chance when the columns published with it
rule out any practice the viewer cannot name. The same attack on a national user's (named) download
identifies nearly every practice, so the attack can succeed when a column gives a practice away.

Runs on the session's synthetic Scotland (about 930 practices; tests/conftest.py)."""

from __future__ import annotations

import importlib.util
import io
import random
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient

from gpcluster.warehouse import open_warehouse

_spec = importlib.util.spec_from_file_location("web_fixtures", Path(__file__).parent / "conftest.py")
_web = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_web)
PERFORMANCE = ["emergency_admission_rate", "gp_consultation_rate", "ae_attendance_rate", "high_risk_prescribing",
               "mdt_consultation_rate", "mdt_share_of_consultations"]
CONTEXT = ["list_size", "aged_65_plus", "aged_0_4", "simd_rank_mean"]


@pytest.fixture(scope="module")
def world(synthetic_world, tmp_path_factory):
    """The app on the synthetic world with one user per scoped role, and the public facts per practice."""
    from gpcluster.store import open_store
    from gpcluster.store.accounts import add_user
    from gpcluster.web import create_app

    with open_warehouse(synthetic_world, read_only=True) as con:
        latest = con.execute("SELECT max(release_date) FROM list_population").fetchone()[0]
        public = con.execute("""
            SELECT p.practice_code, p.cluster_id, p.hscp_code, p.list_size,
                   sum(l.population) FILTER (WHERE l.age_band IN ('65-74', '75-84', '85+')) / p.list_size * 100 AS old
            FROM practice_period p JOIN list_population l
              ON l.release_date = p.release_date AND l.practice_code = p.practice_code AND l.sex = 'All'
            WHERE p.release_date = ? AND p.cluster_id IS NOT NULL
            GROUP BY p.practice_code, p.cluster_id, p.hscp_code, p.list_size""", [latest]).df()
    rng = random.Random(13)
    practice = rng.choice(sorted(public.practice_code))
    home = public.set_index("practice_code").loc[practice]
    roles = {"cql": ("cluster", "cluster", home.cluster_id), "pql": ("practice", "practice", practice),
             "hscp": ("hscp", "hscp", home.hscp_code), "national": ("national", "scotland", None)}
    store = open_store(f"sqlite:///{tmp_path_factory.mktemp('reid') / 'store.db'}")
    with store.session() as session:
        for name, (role, level, code) in roles.items():
            add_user(session, name, _web.PASSWORD, role, level, code)
    app = create_app(synthetic_world, store=store)
    return app, public, roles, latest


def _downloads(app, username: str, clusters: list[str]) -> list[pd.DataFrame]:
    client = TestClient(app, base_url="http://testserver")  # no lifespan: the app serves every test
    assert _web.login(client, username).status_code == 303
    urls = [f"/download/cluster.csv?key={c}" for c in clusters]
    urls += [f"/download/funnel.csv?key={i}" for i in PERFORMANCE + CONTEXT]
    urls += [f"/download/signals.csv?key={c}" for c in clusters]
    frames = []
    for url in urls:
        response = client.get(url)
        assert response.status_code == 200, url
        frames.append(pd.read_csv(io.StringIO(response.text), dtype={"area_code": str}))
    client.close()
    return frames


def _candidates(rows: pd.DataFrame, public: pd.DataFrame) -> pd.Series:
    """Practices consistent with every public-linked column published for this pseudonym."""
    ok = pd.Series(True, index=public.index)
    for r in rows.itertuples():
        if getattr(r, "denominator", None) is not None and pd.notna(getattr(r, "denominator", np.nan)) \
                and r.indicator_id in ("list_size", "aged_65_plus", "aged_0_4", *PERFORMANCE):
            tolerance = 50 if r.denominator % 100 == 0 else 0.5  # rounded to 100, or exact
            ok &= (public.list_size - r.denominator).abs() <= tolerance
        if r.indicator_id == "list_size" and pd.notna(r.value):
            ok &= (public.list_size - r.value).abs() <= 0.5 + abs(r.value) * 0.005
        if r.indicator_id == "aged_65_plus" and pd.notna(r.value):
            ok &= (public.old - r.value).abs() <= 0.05 + abs(r.value) * 0.005
        for column, key in (("cluster_id", "cluster_id"), ("hscp_code", "hscp_code")):
            value = getattr(r, column, None)
            if isinstance(value, str) and value:
                ok &= public[key] == value
    return public[ok].practice_code


def _attack(frames: list[pd.DataFrame], public: pd.DataFrame, hidden_codes: set[str]) -> tuple[int, int]:
    """(pseudonyms matched better than chance, pseudonyms attacked) over every downloaded file."""
    better, attacked = 0, 0
    pool = public[public.practice_code.isin(hidden_codes)]
    for frame in frames:
        practice = frame[frame.level == "practice"] if "level" in frame else frame
        hidden = practice[practice.area_code.astype(str).str.startswith("Practice ")]
        for _, rows in hidden.groupby("area_code"):
            attacked += 1
            better += len(_candidates(rows, pool)) < len(pool)
    return better, attacked


@pytest.mark.parametrize("username", ["cql", "pql", "hscp"])
def test_no_pseudonymised_practice_is_matched_better_than_chance(world, username):
    app, public, roles, _ = world
    role, level, code = roles[username]
    if level == "practice":  # a practice lead names the practices of their own cluster
        named = public.cluster_id == public.set_index("practice_code").loc[code].cluster_id
    else:
        named = public.cluster_id == code if level == "cluster" else public.hscp_code == code
    hidden_codes = set(public.practice_code[~named])
    others = sorted(set(public.cluster_id[~named]))
    frames = _downloads(app, username, random.Random(7).sample(others, 8))
    better, attacked = _attack(frames, public, hidden_codes)
    assert attacked > 100  # the downloads do show practices by pseudonym
    assert better == 0, f"{better} of {attacked} pseudonymised practices narrowed down by published columns"


def test_the_attack_identifies_practices_when_columns_give_them_away(world):
    """On a national user's download (every practice named, exact list sizes) the same matching pins
    most practices to one candidate: the attack above is not toothless."""
    app, public, _, _ = world
    frames = _downloads(app, "national", sorted(public.cluster_id.unique())[:3])
    funnel = next(f for f in frames if "level" in f and set(f.indicator_id) == {"list_size"})
    rows = funnel[funnel.level == "practice"]
    unique = sum(len(_candidates(r.to_frame().T, public)) == 1 for _, r in rows.head(200).iterrows())
    assert unique >= 150
