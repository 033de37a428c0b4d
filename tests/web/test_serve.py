"""`gpcluster serve` is registered, and pages load their JavaScript only from the app itself."""

from __future__ import annotations

import re
from importlib.resources import files

from typer.testing import CliRunner

from gpcluster.cli import app as cli_app


def test_serve_command_offers_host_port_and_warehouse():
    result = CliRunner().invoke(cli_app, ["serve", "--help"])
    assert result.exit_code == 0
    for option in ("--host", "--port", "--warehouse"):
        assert option in result.output


def test_scripts_are_served_by_the_app_with_their_licences(client_for):
    client = client_for("cql")
    html = client.get("/practices/10001").text + client.get("/indicators/emergency_admission_rate").text
    sources = set(re.findall(r'<script[^>]+src="([^"]+)"', html))
    assert {"/static/vendor/vega.min.js", "/static/vendor/vega-lite.min.js",
            "/static/vendor/vega-embed.min.js"} <= sources
    for src in sources:
        assert src.startswith("/static/"), src
        assert client.get(src).status_code == 200
    vendor = files("gpcluster.web") / "static" / "vendor"
    for name in ("vega", "vega-lite", "vega-embed"):
        assert "Redistribution and use" in (vendor / f"{name}.LICENSE").read_text(encoding="utf-8")


def test_every_chart_has_a_data_table(client_for):
    client = client_for("cql")
    for url in ("/practices/10001", "/indicators/emergency_admission_rate"):
        html = client.get(url).text
        charts = html.count('<div class="chart"')
        assert charts >= 2
        assert html.count("<summary>Table of") >= charts
