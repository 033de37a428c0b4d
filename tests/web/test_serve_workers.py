"""`gpcluster serve --workers 2`: the app's modules are imported once and the server processes forked from
that process (not spawned as fresh interpreters that import everything again); each still builds its own
app, and every page is answered whichever process takes the request."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
from warehouse_fixture import OWN_CLUSTER, build_warehouse

from gpcluster.web.ready import wait_until_serving

PASSWORD = "workers test passphrase"


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry.name))
    return found


def _command_line(pid: int) -> str:
    return (Path("/proc") / str(pid) / "cmdline").read_bytes().replace(b"\0", b" ").decode()


def test_two_server_processes_forked_from_one_import_serve_every_page(tmp_path):
    from gpcluster.store import open_store
    from gpcluster.store.accounts import add_user

    warehouse = build_warehouse(tmp_path / "warehouse.duckdb")
    store_url = f"sqlite:///{tmp_path / 'store.db'}"
    store = open_store(store_url)
    with store.session() as session:
        add_user(session, "national", PASSWORD, "national", "scotland", None)
    store.engine.dispose()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "GPCLUSTER_STORE_URL": store_url, "GPCLUSTER_SECRET_KEY": "workers-test-secret",
           "GPCLUSTER_WEB_PRERENDER": "0"}
    server = subprocess.Popen([sys.executable, "-m", "gpcluster.cli", "serve", "--host", "127.0.0.1", "--port",
                               str(port), "--warehouse", str(warehouse), "--workers", "2"],
                              env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until_serving(base, server, timeout=120)
        workers = [pid for pid in _children(server.pid) if "resource_tracker" not in _command_line(pid)]
        assert len(workers) == 2
        for pid in workers:  # forked: the parent's command line, not multiprocessing's spawn of a new interpreter
            assert "spawn_main" not in _command_line(pid) and "gpcluster.cli serve" in _command_line(pid)
        with httpx.Client(base_url=base, timeout=60) as client:
            token = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/login").text).group(1)
            client.post("/login", data={"username": "national", "password": PASSWORD, "csrf_token": token, "next": "/"})
            for _ in range(6):  # over fresh connections: either process may take each
                for url in (f"/clusters/{OWN_CLUSTER}", "/practices/10001", "/api/tables/practice?key=10001"):
                    with httpx.Client(base_url=base, cookies=client.cookies, timeout=60) as fresh:
                        answer = fresh.get(url)
                        assert answer.status_code == 200, (url, answer.text[:300])
            assert "Alpha Surgery" in client.get("/practices/10001").text
    finally:
        server.terminate()
        server.wait(timeout=60)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and any(Path(f"/proc/{pid}").exists() for pid in workers):
        time.sleep(0.1)
    assert not [pid for pid in workers if Path(f"/proc/{pid}").exists()
                and "gpcluster" in _command_line(pid)]  # stopped with the server


AFTER_FORK = r"""
import json, re, sys
from fastapi.testclient import TestClient  # the test's client: not the server's

from pathlib import Path

from gpcluster.cli.serve import preload_app_for_workers

preload_app_for_workers(Path(sys.argv[1]))  # the view opened before the fork (the release not kept yet)
before = set(sys.modules)
from gpcluster.web.app import create_app

app = create_app(sys.argv[1], store_url=sys.argv[2])
with TestClient(app) as client:
    assert client.get("/health").status_code == 200
    app.state.services.data.current._holder.join()  # the release read into memory
    token = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/login").text).group(1)
    client.post("/login", data={"username": "national", "password": sys.argv[3], "csrf_token": token, "next": "/"})
    assert client.get("/indicators").status_code == 200
    assert "Alpha Surgery" in client.get("/practices/10001").text
heavy = {"gpcluster", "sqlalchemy", "argon2", "duckdb", "scipy", "statsmodels"}  # not the libraries' own lazy parts
print(json.dumps(sorted(m for m in set(sys.modules) - before if m.split(".")[0] in heavy)))
"""


def test_server_processes_import_nothing_heavy_after_the_fork(tmp_path):
    """What each server process needs to build its app, read the release, answer /health, sign a user in
    and answer a page is imported before the fork, once, not in each process (two at once, beside the
    release's reading)."""
    import duckdb

    from gpcluster.indicators.stored import stored_definitions
    from gpcluster.indicators.suppression import rebuild_suppression
    from gpcluster.store import open_store
    from gpcluster.store.accounts import add_user

    warehouse = build_warehouse(tmp_path / "warehouse.duckdb")
    con = duckdb.connect(str(warehouse))
    try:  # the pattern stored, as `indicators compute` stores it (else the server decides it, with scipy)
        rebuild_suppression(con, stored_definitions(con))
    finally:
        con.close()
    store_url = f"sqlite:///{tmp_path / 'store.db'}"
    store = open_store(store_url)
    with store.session() as session:
        add_user(session, "national", PASSWORD, "national", "scotland", None)
    store.engine.dispose()
    env = {**os.environ, "GPCLUSTER_SECRET_KEY": "workers-test-secret", "GPCLUSTER_WEB_PRERENDER": "0"}
    run = subprocess.run([sys.executable, "-c", AFTER_FORK, str(warehouse), store_url, PASSWORD], env=env,
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-2000:]
    assert json.loads(run.stdout.strip().splitlines()[-1]) == []


def test_the_deploy_step_compiles_the_modules_and_an_edited_one_is_never_run_stale(tmp_path):
    """`gpcluster prepare` compiles the package (serve then reads bytecode instead of compiling about a
    hundred modules where Python writes none itself); each compiled file is checked against its source's
    hash, so an edit of the same size within the same second still runs the new code."""
    from gpcluster.cli.serve import compile_package

    package = tmp_path / "compiled"
    package.mkdir()
    (package / "__init__.py").write_text("")
    module = package / "answer.py"
    module.write_text("VALUE = 1\n")
    assert compile_package(package)
    env = {**os.environ, "PYTHONPATH": str(tmp_path), "PYTHONDONTWRITEBYTECODE": "1"}
    run = [sys.executable, "-v", "-c", "from compiled.answer import VALUE; print(VALUE)"]
    first = subprocess.run(run, env=env, capture_output=True, text=True, check=True)
    assert first.stdout.strip() == "1"
    assert re.search(r"code object from '[^']*__pycache__/answer\.[^']*\.pyc'", first.stderr)  # not compiled again
    stat = module.stat()
    module.write_text("VALUE = 2\n")
    os.utime(module, ns=(stat.st_atime_ns, stat.st_mtime_ns))  # same size and time: a timestamp would match
    assert subprocess.run(run, env=env, capture_output=True, text=True, check=True).stdout.strip() == "2"
