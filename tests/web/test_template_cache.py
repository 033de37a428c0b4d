"""Compiled templates are kept between server processes (gpcluster.web.render): a fresh process loads
them instead of compiling, a changed template is compiled again, and the page skeleton shares the cache."""

from __future__ import annotations

import os
import subprocess
import sys

from jinja2 import DictLoader, Environment


def _compile_all(tmp_path) -> tuple[float, list[str]]:
    code = ("import time; from gpcluster.web.render import templates, _blocks; c = time.process_time(); "
            "[templates.env.get_template(n) for n in templates.env.list_templates()]; "
            "_blocks.get_template('practice.html'); print(time.process_time() - c)")
    out = subprocess.run([sys.executable, "-c", code], env={**os.environ, "TMPDIR": str(tmp_path)},
                         capture_output=True, text=True, check=True).stdout
    folder = tmp_path / f"_jinja2-cache-{os.getuid()}"
    return float(out), sorted(os.listdir(folder)) if folder.exists() else []


def test_a_second_process_loads_the_templates_compiled_by_the_first(tmp_path):
    first, kept = _compile_all(tmp_path)
    assert len(kept) > 30  # every template (and the skeleton's own base.html), in the private folder
    assert oct((tmp_path / f"_jinja2-cache-{os.getuid()}").stat().st_mode & 0o777) == "0o700"
    second, again = _compile_all(tmp_path)
    assert again == kept
    assert second < first / 3  # loaded, not compiled (about 0.5 s against 0.02 s of CPU)


def test_a_changed_template_is_compiled_again_not_served_from_the_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    from gpcluster.web.render import _bytecode_cache

    cache = _bytecode_cache()
    assert cache is not None
    old = Environment(loader=DictLoader({"page.html": "old {{ x }}"}), bytecode_cache=cache)
    assert old.get_template("page.html").render(x=1) == "old 1"
    new = Environment(loader=DictLoader({"page.html": "new {{ x }}"}), bytecode_cache=cache)
    assert new.get_template("page.html").render(x=1) == "new 1"
