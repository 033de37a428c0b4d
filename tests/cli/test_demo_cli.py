"""`gpcluster demo --no-serve` builds the whole demo through the real loaders, engine, roster importer
and store, says it is synthetic, and gives working demo accounts."""

import pytest
from typer.testing import CliRunner

from gpcluster import config
from gpcluster.cli import app

runner = CliRunner()


@pytest.fixture(scope="module")
def demo_output(tmp_path_factory):
    home = tmp_path_factory.mktemp("demo-home")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("GPCLUSTER_HOME", str(home))
        config.clear_cache()
        result = runner.invoke(app, ["demo", "--no-serve"], env={"COLUMNS": "250"})
        yield home, result
    config.clear_cache()


def test_demo_builds_everything_and_says_synthetic(demo_output):
    home, result = demo_output
    assert result.exit_code == 0, result.output
    assert "SYNTHETIC DATA" in result.output
    assert (home / "synthetic" / "README.txt").read_text().upper().count("SYNTHETIC") >= 1

    import duckdb

    con = duckdb.connect(str(home / "warehouse.duckdb"), read_only=True)
    try:
        practices = con.execute(
            "SELECT count(*) FROM practice_period WHERE release_date = (SELECT max(release_date) FROM practice_period)"
        ).fetchone()[0]
        indicators = con.execute("SELECT count(DISTINCT indicator_id) FROM indicator_value").fetchone()[0]
        synthetic_flags = con.execute("SELECT bool_and(synthetic) FROM load_ledger").fetchone()[0]
        roster_wte = con.execute("SELECT sum(wte) FROM mdt_post").fetchone()[0]
    finally:
        con.close()
    assert 900 <= practices <= 960
    assert indicators >= 20
    assert synthetic_flags is True
    assert 2300 <= roster_wte <= 2700  # calibrated to ~2,463 WTE of new MDT staff (March 2021)


def test_demo_accounts_can_sign_in_with_the_printed_passwords(demo_output, monkeypatch):
    home, result = demo_output
    monkeypatch.setenv("GPCLUSTER_HOME", str(home))
    config.clear_cache()
    lines = [line for line in result.output.splitlines() if "demo-cql" in line]
    assert lines, result.output
    password = lines[0].split("│")[2].strip()

    from gpcluster.store import open_store
    from gpcluster.store.accounts import authenticate

    with open_store().session() as session:
        user = authenticate(session, "demo-cql", password, ip="127.0.0.1")
        assert user.role == "cluster" and user.scope_level == "cluster" and "/" in user.scope_code


def test_demo_has_an_account_for_every_role_each_signing_in_with_its_scope(demo_output, monkeypatch):
    from gpcluster.demo import DEMO_USERS
    from gpcluster.store import open_store
    from gpcluster.store.accounts import authenticate
    from gpcluster.web.access import ROLES

    home, result = demo_output
    monkeypatch.setenv("GPCLUSTER_HOME", str(home))
    config.clear_cache()
    assert {role for _, role, _ in DEMO_USERS} == set(ROLES)
    with open_store().session() as session:
        for username, role, level in DEMO_USERS:
            line = next(line for line in result.output.splitlines() if f" {username} " in line)
            assert "can see" in result.output
            user = authenticate(session, username, line.split("│")[2].strip(), ip="127.0.0.1")
            assert (user.role, user.scope_level) == (role, level)
            assert (user.scope_code is None) == (level == "scotland")
            if level == "board":
                assert user.scope_code.startswith("S08")


def test_demo_passwords_are_printed_whole_in_an_80_column_log():
    import io
    import secrets

    from rich.console import Console

    from gpcluster.cli.demo import accounts_table
    from gpcluster.demo import DemoAccount

    accounts = [DemoAccount("demo-analyst", "analyst", "hscp", "S37000030", "West Lothian HSCP", secrets.token_urlsafe(12)),
                DemoAccount("demo-board", "board", "board", "S08000024", "NHS Lothian", secrets.token_urlsafe(12))]
    console = Console(width=80, record=True, file=io.StringIO())
    console.print(accounts_table(accounts))
    text = console.export_text()
    assert all(a.password in text for a in accounts)  # each on one line, never cut to "kha9_aNj…"


def test_demo_publishes_the_latest_quarters_packs(demo_output, monkeypatch):
    """A demo user signing in finds a pack: every cluster's HTML pack of the latest quarter is published,
    and the demo CQL's cluster's PDF too."""
    home, result = demo_output
    monkeypatch.setenv("GPCLUSTER_HOME", str(home))
    config.clear_cache()
    from sqlalchemy import select

    from gpcluster.demo import _showcase_scopes
    from gpcluster.store import open_store
    from gpcluster.store.models import Pack

    assert "cluster packs published" in result.output
    with open_store().session() as session:
        packs = session.scalars(select(Pack)).all()
        showcase = session.execute(select(Pack.cluster_id, Pack.pdf_sha256)).all()
    assert len({p.cluster_id for p in packs}) >= 140 and {p.version for p in packs} == {1}
    assert len({p.period for p in packs}) == 1  # the latest quarter
    with_pdf = [cluster for cluster, pdf in showcase if pdf]
    import duckdb

    con = duckdb.connect(str(home / "warehouse.duckdb"), read_only=True)
    try:
        cql_cluster = _showcase_scopes(con, int(config.get("synthetic_seed")))["cluster"][0]
    finally:
        con.close()
    assert with_pdf == [cql_cluster]
    folder = home / "packs" / cql_cluster.replace("/", "-")
    assert any(folder.rglob("pack.pdf")) and any(folder.rglob("pack.html"))
