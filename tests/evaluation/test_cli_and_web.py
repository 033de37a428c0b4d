"""End to end on a warehouse built in code: register, check power, run and report from the command line; the
web pages and downloads scoped by role, with practices outside scope pseudonymised and small counts hidden."""

from __future__ import annotations

import json
import re

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from gpcluster.cli import app as cli_app
from warehouse import EFFECT, PRACTICES, TINY, TREATED, registration_toml

PASSWORD = "correct horse battery staple"
OWN_CLUSTER = PRACTICES[TREATED[0]]  # a CQL of the first treated cluster
USERS = {"national": ("national", "scotland", None), "planner": ("hscp", "hscp", "S37000007"),
         "elsewhere": ("hscp", "hscp", "S37000030"), "cql": ("cluster", "cluster", OWN_CLUSTER),
         "pql": ("practice", "practice", TREATED[0])}


@pytest.fixture(scope="module")
def evaluated(evaluation_warehouse, tmp_path_factory):
    """A store with two registered, evaluated interventions (run through the CLI), plus the users."""
    from gpcluster import config
    from gpcluster.store import open_store
    from gpcluster.store.accounts import add_user

    home = tmp_path_factory.mktemp("eval-home")
    env = {"GPCLUSTER_HOME": str(home), "GPCLUSTER_WAREHOUSE": str(evaluation_warehouse),
           "GPCLUSTER_CONFIG": str(home / "none.toml")}
    patch = pytest.MonkeyPatch()
    for name, value in env.items():
        patch.setenv(name, value)
    config.clear_cache()
    runner = CliRunner()
    pilot = home / "pilot.toml"
    pilot.write_text(registration_toml(), encoding="utf-8")
    tiny = home / "tiny.toml"
    tiny.write_text(registration_toml("tiny-practice", method="its", units=[TINY]), encoding="utf-8")
    outputs = {}
    for name, args in [("register", ["evaluate", "register", str(pilot)]),
                       ("register_tiny", ["evaluate", "register", str(tiny)]),
                       ("power", ["evaluate", "power", "pharmacy-pilot"]),
                       ("run", ["evaluate", "run", "pharmacy-pilot"]),
                       ("run_tiny", ["evaluate", "run", "tiny-practice"]),
                       ("list", ["evaluate", "list"]), ("show", ["evaluate", "show", "pharmacy-pilot"]),
                       ("report", ["evaluate", "report", "pharmacy-pilot", "--html", str(home / "r.html"),
                                   "--csv", str(home / "r.csv")])]:
        result = runner.invoke(cli_app, args, catch_exceptions=False)
        assert result.exit_code == 0, (name, result.output)
        outputs[name] = result.output
    store = open_store()
    with store.session() as session:
        for username, (role, level, code) in USERS.items():
            add_user(session, username, PASSWORD, role, level, code)
    yield {"home": home, "outputs": outputs, "store": store, "warehouse": evaluation_warehouse}
    store.close()
    patch.undo()
    config.clear_cache()


def test_cli_registers_runs_and_reports(evaluated):
    out = evaluated["outputs"]
    assert "Registered and locked" in out["register"]
    assert "would probably not be detected" in out["power"]
    assert "Emergency admissions per 1,000 patients fell by" in out["run"]
    assert "pharmacy-pilot" in out["list"] and "tiny-practice" in out["list"]
    csv = (evaluated["home"] / "r.csv").read_text(encoding="utf-8")
    header, row = csv.splitlines()[:2]
    assert header.startswith("synthetic,intervention_id,")
    assert "pharmacy-pilot" in row and ",did," in row


def test_cli_estimate_finds_the_planted_effect(evaluated):
    import csv
    import math

    with open(evaluated["home"] / "r.csv", encoding="utf-8") as handle:
        row = next(csv.DictReader(handle))
    assert float(row["lower95"]) <= math.log(EFFECT) <= float(row["upper95"])


def test_html_report_is_self_contained(evaluated):
    html = (evaluated["home"] / "r.html").read_text(encoding="utf-8")
    assert "SYNTHETIC DATA" in html and "fell by" in html and "would probably not be detected" in html
    markup = re.sub(r"<script>.*?</script>", "", html, flags=re.S)  # the inlined libraries' own code aside
    assert not re.search(r"<(script|link|img|iframe)[^>]+(src|href)=", markup)  # nothing fetched from anywhere
    assert html.count("<script>") == 1
    assert "vegaEmbed" in html and '"$schema"' in html
    from importlib.resources import files

    web = files("gpcluster.web")
    for name in re.findall(r'src="/static/([^"]+)"', (web / "templates" / "charts_scripts.html").read_text()):
        assert (web / "static" / name).read_text(encoding="utf-8")[-200:] in html  # every chart script inlined


def test_cli_help_lists_every_evaluate_command():
    result = CliRunner().invoke(cli_app, ["evaluate", "--help"])
    for command in ("register", "amend", "list", "show", "power", "run", "report"):
        assert command in result.output


@pytest.fixture(scope="module")
def web(evaluated):
    from gpcluster.web import create_app

    return create_app(evaluated["warehouse"], store=evaluated["store"])


def _client(web, username):
    client = TestClient(web, base_url="http://testserver")
    token = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/login").text).group(1)
    response = client.post("/login", data={"username": username, "password": PASSWORD, "csrf_token": token,
                                           "next": "/"}, follow_redirects=False)
    assert response.status_code == 303
    return client


def test_national_user_sees_the_evaluation_with_sentence_chart_and_downloads(web):
    client = _client(web, "national")
    listing = client.get("/evaluations")
    assert listing.status_code == 200 and "Pharmacotherapy pilot" in listing.text
    page = client.get("/evaluations/pharmacy-pilot")
    assert page.status_code == 200
    assert "fell by" in page.text and "Pre-trend test p" in page.text and "series-1" in page.text
    assert "Practice 10001 Surgery" in page.text  # national scope: practices by name
    assert "could the plan see an effect?" in page.text and "would probably not be detected" in page.text
    assert re.search(r"Pre-trend test p</th><td>(&lt; 0\.001|0\.\d{2,3})\b", page.text)  # a p-value, not 0.000
    report = client.get("/evaluations/pharmacy-pilot/report.html")
    assert report.status_code == 200 and "attachment" in report.headers["content-disposition"]
    assert client.get("/evaluations/pharmacy-pilot/estimates.csv").text.startswith("synthetic,")


def test_hscp_planner_sees_only_changes_in_their_hscp(web):
    inside, outside = _client(web, "planner"), _client(web, "elsewhere")
    assert "Pharmacotherapy pilot" in inside.get("/evaluations").text
    assert "Pharmacotherapy pilot" not in outside.get("/evaluations").text
    assert outside.get("/evaluations/pharmacy-pilot").status_code == 404
    assert outside.get("/evaluations/pharmacy-pilot/estimates.csv").status_code == 404


def test_cluster_lead_sees_their_cluster_with_other_practices_pseudonymised(web):
    client = _client(web, "cql")
    page = client.get("/evaluations/pharmacy-pilot")
    assert page.status_code == 200
    own = [c for c in TREATED if PRACTICES[c] == OWN_CLUSTER]
    others = [c for c in PRACTICES if PRACTICES[c] != OWN_CLUSTER]
    assert f"Practice {own[0]} Surgery" in page.text
    assert not any(f"Practice {c} Surgery" in page.text or f"({c})" in page.text for c in others)
    assert "Practice A" in page.text


def test_practice_users_have_no_evaluation_pages(web):
    client = _client(web, "pql")
    assert client.get("/evaluations").status_code == 403
    assert "/evaluations" not in client.get("/").text


def test_a_single_small_practice_never_shows_its_counts(web):
    client = _client(web, "national")
    page = client.get("/evaluations/tiny-practice")
    assert page.status_code == 200
    spec = json.loads(re.search(r'<script type="application/json" id="series-1">(.*?)</script>', page.text,
                                re.S).group(1).replace("\\u003c", "<").replace("\\u003e", ">"))
    observed = [r for r in spec["data"]["values"] if r["series"] == "Observed"]
    assert observed == []  # every quarter's count (3) is at or below the threshold
    assert "at or below the disclosure threshold, or that include a suppressed figure, are not shown" in page.text



@pytest.fixture(scope="module")
def in_chromium(web):
    """The app served once for the module (stopping a server ends the app's lifespan) and Chromium."""
    from browser_support import CHROMIUM, chromium, serving

    if not CHROMIUM.exists():
        pytest.skip("Debian's chromium is not installed at /usr/bin/chromium")
    with serving(web) as base_url, chromium() as browser:
        yield base_url, browser


@pytest.mark.browser
@pytest.mark.parametrize("username", ["national", "cql"])
def test_evaluation_pages_in_chromium_draw_their_charts_with_no_serious_axe_findings(in_chromium, username):
    """As each role reads them: the list and the evaluation page, charts drawn, no serious or critical
    accessibility finding (axe-core), screenshots kept in test-artifacts/screenshots/."""
    from pathlib import Path

    from axe_playwright_python.sync_playwright import Axe

    from browser_support import sign_in

    base_url, browser = in_chromium
    shots = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"
    shots.mkdir(parents=True, exist_ok=True)
    context, page = sign_in(browser, base_url, username, PASSWORD)
    for path in ("/evaluations", "/evaluations/pharmacy-pilot"):
        page.goto(base_url + path)
        for i in range(page.locator("div.chart[data-spec]").count()):
            page.locator("div.chart[data-spec]").nth(i).locator("svg").first.wait_for(timeout=15000)
        page.screenshot(path=str(shots / f"evaluation-{username}-{path.strip('/').replace('/', '-')}.png"),
                        full_page=True)
        serious = [(v["id"], v["help"]) for v in Axe().run(page).response["violations"]
                   if v["impact"] in ("serious", "critical")]
        assert serious == [], (path, serious)
    assert page.locator("div.chart[data-spec] svg").count() >= 2  # the series and the event study
    context.close()


def test_a_retrospective_registration_reads_as_one(web):
    page = _client(web, "national").get("/evaluations/pharmacy-pilot").text
    assert "retrospective evaluation" in page
    assert "None" not in page and "the plan registered before the start" not in page


def test_a_new_version_a_rerun_or_a_changed_row_shows_at_once(web, evaluated):
    """The pages are kept per digest of the store rows they show: the next view after an amendment, a new
    run, or a row changed in place (outside the ORM) shows it, never the kept page."""
    from dataclasses import replace
    from datetime import date

    from sqlalchemy import text

    from gpcluster.evaluation import registry
    from gpcluster.evaluation.report import effect_text

    client = _client(web, "national")
    store = evaluated["store"]
    assert "Kept pages check" not in client.get("/evaluations").text
    with store.session() as session:  # an intervention of its own: the module's other tests see theirs unchanged
        pilot = registry.read(session, "pharmacy-pilot")
        registration = pilot.registered.planned.registration.model_copy(update={"id": "kept-pages",
                                                                                "title": "Kept pages check"})
        registry.register(session, registration)
        result = pilot.latest_runs[0].result
    page, listing = client.get("/evaluations/kept-pages").text, client.get("/evaluations").text
    assert "Kept pages check" in page and "No results yet" in page
    assert "Kept pages check</a>" in listing and "version 2 on" not in page

    with store.session() as session:
        registry.amend(session, "kept-pages", registration.model_copy(update={"title": "Kept pages, renamed"}),
                       reason="a clearer name")
    page = client.get("/evaluations/kept-pages").text
    assert "version 2 on" in page and "(after the start: a clearer name)" in page

    with store.session() as session:
        registry.record_run(session, "kept-pages", 1, result, date(2024, 3, 1))
    page = client.get("/evaluations/kept-pages").text
    assert effect_text(result) in page and "data to March 2024" in page and "No results yet" not in page

    effect = result.effect
    rerun = replace(result, effect=replace(effect, estimate=2 * effect.estimate, lower=2 * effect.lower,
                                           upper=2 * effect.upper))
    assert effect_text(rerun) != effect_text(result)
    with store.session() as session:
        registry.record_run(session, "kept-pages", 1, rerun, date(2024, 3, 1))
    page = client.get("/evaluations/kept-pages").text
    assert effect_text(rerun) in page and effect_text(result) not in page

    with store.engine.begin() as connection:  # a row changed in place
        connection.execute(text("UPDATE evaluation_run SET data_through = '2024-06-01' WHERE id = "
                                "(SELECT max(id) FROM evaluation_run)"))
    page = client.get("/evaluations/kept-pages").text
    assert "data to June 2024" in page and "data to March 2024" not in page

    with store.engine.begin() as connection:  # the middle of a long row changed in place, its length kept
        run_id, stored = connection.execute(text("SELECT id, result FROM evaluation_run WHERE id = "
                                                 "(SELECT max(id) FROM evaluation_run)")).one()
        series = json.loads(stored)["series"]
        before = f'"fitted": {json.dumps(series[len(series) // 2]["fitted"])}'
        after = '"fitted": 4321.25'.ljust(len(before), "0")
        assert stored.count(before) == 1 and len(after) == len(before)
        connection.execute(text("UPDATE evaluation_run SET result = :result WHERE id = :id"),
                           {"result": stored.replace(before, after), "id": run_id})
    assert '"value": 4321.25' in client.get("/evaluations/kept-pages").text
