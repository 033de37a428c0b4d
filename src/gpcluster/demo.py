"""The demo: a synthetic Scotland taken through the same path as real data.

write files in PHS formats -> load (validated, transactional) -> compute every indicator ->
import a synthetic MDT roster through the roster importer -> demo accounts, one per kind of user.
Everything made from it says it is synthetic.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from gpcluster import config

# (username, role, scope level) for every role; scope codes are chosen from the data (one showcase cluster,
# one of its practices, its HSCP and its board), so the accounts see the same corner of Scotland.
DEMO_USERS = (
    ("demo-national", "national", "scotland"),
    ("demo-board", "board", "board"),
    ("demo-hscp", "hscp", "hscp"),
    ("demo-cql", "cluster", "cluster"),
    ("demo-pql", "practice", "practice"),
    ("demo-analyst", "analyst", "hscp"),
    ("demo-admin", "admin", "scotland"),
)
#: what each role's demo account can see and do (printed by `gpcluster demo`; docs/accounts.md)
CAN_SEE = {
    "national": "every practice by name; the API; the planner for Scotland",
    "board": "practices of its board by name, others as Practice A, B, ...; the API; the board's planner",
    "hscp": "practices of its HSCP by name; the API; the HSCP's planner and roster",
    "cluster": "its cluster's practices by name (others pseudonymised); its cluster in the planner",
    "practice": "its practice and cluster's practices by name; its cluster in the planner",
    "analyst": "practices of its HSCP by name; the API; the HSCP's planner and roster",
    "admin": "every practice by name; users, sign-in throttles and the audit log",
}


@dataclass
class DemoAccount:
    username: str
    role: str
    scope_level: str
    scope_code: str | None
    scope_name: str
    password: str

    @property
    def can_see(self) -> str:
        return CAN_SEE.get(self.role, "")


@dataclass
class DemoReport:
    summary: dict
    indicator_rows: int
    roster_posts: int
    roster_wte: float
    accounts: list[DemoAccount] = field(default_factory=list)
    evaluations: int = 0
    packs: int = 0


Step = Callable[[str], None]


def build_demo(seed: int | None = None, step: Step | None = None, scale: int = 1) -> DemoReport:
    """Build the whole demo in <home>: warehouse with indicators and roster, and demo accounts.

    Re-running replaces the synthetic data and gives the demo accounts fresh random passwords (returned
    once, never stored in clear). `scale` K builds K synthetic Scotlands side by side (8: England-sized)."""
    from gpcluster.indicators.definition import load_catalogue
    from gpcluster.indicators.engine import compute
    from gpcluster.synthetic import write_synthetic_scotland
    from gpcluster.warehouse import load_sourced, summary
    from gpcluster.warehouse.versions import new_version

    say = step or (lambda _message: None)
    seed = config.get("synthetic_seed") if seed is None else seed
    out_dir = config.home() / "synthetic"

    # prescribing at real scale for the one-Scotland demo (the scaled benchmark Scotlands have none)
    months = int(config.get("demo_prescribing_months")) if scale == 1 else 0
    say(f"Writing the synthetic Scotland (with {months} months of prescribing)" if months
        else "Writing the synthetic Scotland")
    written = write_synthetic_scotland(out_dir, seed, scale=scale, prescribing_months=months)
    # one new warehouse version for the whole build: a running app switches to it only when it is complete
    with new_version(note=f"demo: synthetic Scotland (seed {seed}), indicators and MDT roster") as draft:
        con = draft.con
        say("Loading it into the warehouse")
        load_sourced(written, synthetic=True, con=con)
        say("Computing every indicator for every practice, cluster, HSCP, board and quarter")
        computed = compute(con, load_catalogue())
        say("Importing the synthetic MDT roster")
        posts, wte = _import_roster(con, out_dir, seed)
        say("Creating demo accounts")
        accounts = _demo_accounts(con, seed)
        say("Registering and evaluating the planted interventions")
        evaluations = _register_interventions(con, seed)
        report = DemoReport(summary(con), computed.rows, posts, wte, accounts, evaluations)
    say("Publishing the latest quarter's cluster packs")
    report.packs = _publish_packs(accounts)
    return report


def _publish_packs(accounts: list[DemoAccount]) -> int:
    """Publish the latest quarter's packs (once the new warehouse version is current), so the demo accounts
    find one under Packs: every cluster's HTML pack, and the PDF too for the demo CQL's cluster (every
    cluster's PDF would add minutes; `gpcluster pack publish --all` makes them). Returns the packs published."""
    from gpcluster.packs.publish import clusters_with_practices, publish
    from gpcluster.warehouse.versions import current_file
    from gpcluster.web.data import WebData

    data = WebData(current_file(None))
    try:
        clusters = clusters_with_practices(data, data.latest_period) if data.latest_period else []
    finally:
        data.close()
    showcase = [a.scope_code for a in accounts if a.role == "cluster" and a.scope_code in clusters][:1]
    published = publish(showcase, formats=("html", "pdf"), published_by="demo") if showcase else []
    others = [c for c in clusters if c not in showcase]
    published += publish(others, formats=("html",), published_by="demo") if others else []
    return sum(p.version is not None for p in published)


def _import_roster(con, out_dir: Path, seed: int) -> tuple[int, float]:
    from gpcluster.synthetic.roster import write_synthetic_roster
    from gpcluster.workforce.store import import_roster, read_practices

    path = write_synthetic_roster(read_practices(con), out_dir / "mdt_roster.csv", seed)
    import_roster(con, path, synthetic=True)
    posts, wte = con.execute("SELECT count(*), coalesce(sum(wte), 0) FROM mdt_post").fetchone()
    return int(posts), float(wte)


def _showcase_scopes(con, seed: int) -> dict[str, tuple[str, str]]:
    """Scopes for the demo users: the cluster holding the most planted signals (so the CQL sees signals),
    one of its practices, and its HSCP."""
    from gpcluster.synthetic import planted_signals

    planted = {s.practice_code for s in planted_signals(seed)}
    latest = con.execute(
        "SELECT p.practice_code, p.practice_name, p.cluster_id, p.cluster_name, p.hscp_code, h.hscp_name "
        "FROM practice_period p JOIN hscp h USING (hscp_code) "
        "WHERE p.release_date = (SELECT max(release_date) FROM practice_period) AND p.cluster_id IS NOT NULL "
        "ORDER BY p.cluster_id, p.practice_code"
    ).fetchall()
    by_cluster: dict[str, list[tuple]] = {}
    for row in latest:
        by_cluster.setdefault(row[2], []).append(row)
    cluster_id, members = max(
        by_cluster.items(), key=lambda item: (sum(r[0] in planted for r in item[1]), item[0])
    )
    practice = next((r for r in members if r[0] in planted), members[0])
    board = con.execute("SELECT b.board_code, b.board_name FROM hscp h JOIN board b ON b.board_code = h.board_code "
                        "WHERE h.hscp_code = ?", [practice[4]]).fetchone()
    return {
        "scotland": (None, "Scotland"),
        "board": (board[0], board[1]),
        "hscp": (practice[4], f"{practice[5]} HSCP"),
        "cluster": (cluster_id, practice[3]),
        "practice": (practice[0], practice[1]),
    }


def _demo_accounts(con, seed: int) -> list[DemoAccount]:
    from gpcluster.store import open_store
    from gpcluster.store.accounts import add_user, find_user, set_password, set_role

    scopes = _showcase_scopes(con, seed)
    store = open_store()
    accounts = []
    with store.session() as session:
        for username, role, level in DEMO_USERS:
            code, name = scopes[level]
            password = secrets.token_urlsafe(12)
            if find_user(session, username) is None:
                add_user(session, username, password, role, level, code, display_name=f"Demo {role} ({name})")
            else:
                set_role(session, username, role, level, code)
                set_password(session, username, password)
            accounts.append(DemoAccount(username, role, level, code, name, password))
    store.engine.dispose()
    return accounts


def _register_interventions(con, seed: int) -> int:
    """Register the interventions planted in the synthetic activity (as if a quarter before each started:
    the synthetic world's own register) and store their evaluations. Returns the number of results."""
    from datetime import UTC, datetime, timedelta

    from gpcluster.errors import UserError
    from gpcluster.evaluation import registry, run
    from gpcluster.store import open_store
    from gpcluster.synthetic import build_scotland
    from gpcluster.synthetic.interventions import registrations

    store = open_store()
    stored = 0
    for content in registrations(build_scotland(seed).interventions):
        units = []
        for unit in content["units"]:
            if "cluster_of_practice" in unit:
                found = con.execute("SELECT cluster_id FROM practice_period WHERE practice_code = ? AND release_date = ?",
                                    [unit["cluster_of_practice"], unit["start"]]).fetchone()
                if found is None or found[0] is None:
                    continue
                unit = {"code": found[0], "start": unit["start"]}
            units.append(unit)
        registration = run.resolve(con, registry.registration_from_dict({**content, "units": units}, content["id"]))
        registered_at = datetime.combine(registration.start - timedelta(days=91), datetime.min.time(), UTC)
        with store.session() as session:
            try:
                registry.get(session, registration.id)
            except UserError:
                registry.register(session, registration, now=registered_at)
    with store.session() as session:
        everything = registry.list_registered(session)
    through = run.data_through(con)
    for registered in everything:
        if registered.slug not in {c["id"] for c in registrations(build_scotland(seed).interventions)}:
            continue
        results = run.evaluate(con, registered, everything)
        with store.session() as session:
            for result in results:
                registry.record_run(session, registered.slug, registered.planned.number, result, through)
                stored += 1
    store.engine.dispose()
    return stored
