"""`gpcluster demo` (what `make demo` runs) runs the deploy step before it starts the server, so the server
starts with the release and the shared pages already built; not when the `web_prerender` setting is off."""

from types import SimpleNamespace

import pytest
from typer.testing import CliRunner

from gpcluster import config
from gpcluster.cli import app


@pytest.mark.parametrize(("prerender", "expected"), [("true", ["prepare", "serve"]), ("false", ["serve"])])
def test_demo_prepares_the_version_before_serving_it(monkeypatch, prerender, expected):
    import gpcluster.cli.data
    import gpcluster.cli.serve
    import gpcluster.demo

    calls = []
    report = SimpleNamespace(summary=None, indicator_rows=1, roster_posts=1, roster_wte=1.0, packs=0, accounts=[])
    monkeypatch.setattr(gpcluster.demo, "build_demo", lambda seed, step, scale: report)
    monkeypatch.setattr(gpcluster.cli.data, "print_summary", lambda summary: None)
    monkeypatch.setattr(gpcluster.cli.serve, "prepare", lambda warehouse: calls.append("prepare"))
    monkeypatch.setattr(gpcluster.cli.serve, "serve", lambda **kwargs: calls.append("serve"))
    monkeypatch.setenv("GPCLUSTER_WEB_PRERENDER", prerender)
    config.clear_cache()
    try:
        result = CliRunner().invoke(app, ["demo"])
    finally:
        config.clear_cache()
    assert result.exit_code == 0, result.output
    assert calls == expected
