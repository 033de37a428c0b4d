"""`gpcluster serve`: run the web application with uvicorn. Thin: parse arguments, build the app, serve."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console

console = Console()


def serve(
    host: str = typer.Option(None, help="Address to listen on (default: the `host` setting)."),
    port: int = typer.Option(None, help="Port to listen on (default: the `port` setting)."),
    warehouse: Path = typer.Option(None, help="DuckDB warehouse (default: the `warehouse` setting)."),
    workers: int = typer.Option(None, help="Server processes (default: the `workers` setting)."),
) -> None:
    """Serve the web app (pages, downloads and JSON API) on the warehouse's indicator results."""
    import os

    import uvicorn

    from gpcluster import config

    host = host or config.get("host")
    port = int(config.get("port")) if port is None else port
    workers = int(config.get("workers")) if workers is None else workers
    if not 1 <= port <= 65535:  # uvicorn would take 99999 modulo 65536 and listen on 34463
        raise typer.BadParameter(f"{port} is not a TCP port (1-65535)", param_hint="--port or the port setting")
    if workers < 1:
        raise typer.BadParameter(f"{workers} is not a number of server processes (at least 1)",
                                 param_hint="--workers or the workers setting")
    if warehouse is not None and not warehouse.exists():
        raise typer.BadParameter(f"no warehouse at {warehouse}", param_hint="--warehouse")
    console.print(f"gpcluster web app on http://{host}:{port}/  (add accounts with `gpcluster users add`)")
    if workers > 1:
        # each process opens the warehouse read-only and builds the app from the settings
        if warehouse is not None:
            os.environ["GPCLUSTER_WAREHOUSE"] = str(warehouse)
        if not config.get("secret_key"):  # sessions and CSRF tokens must verify in every process
            import secrets

            os.environ["GPCLUSTER_SECRET_KEY"] = secrets.token_urlsafe(32)
        preload_app_for_workers(warehouse)
        uvicorn.run("gpcluster.web.app:create_served_app", factory=True, host=host, port=port, workers=workers,
                    log_level="warning", proxy_headers=False, ws="none")
        return
    from gpcluster.web import create_app

    # proxy headers are read by the app itself, from the addresses in the `trusted_proxies` setting
    # ws="none": the app has no WebSocket routes (uvicorn would import a WebSocket library for nothing)
    uvicorn.run(create_app(warehouse, prerender=bool(config.get("web_prerender"))), host=host, port=port,
                log_level="warning", proxy_headers=False, ws="none")


def preload_app_for_workers(warehouse: Path | None = None) -> None:
    """Import the web app's modules once, in this process, and have uvicorn fork its server processes from
    it instead of spawning fresh interpreters: each of them then starts with fastapi, pandas, numpy and
    the app imported (about 1.5 s of CPU per process, two processes at once on two cores), and builds its
    own app (warehouse connection, store, threads) after the fork, as before. Nothing is opened here: no
    connection, file or thread crosses the fork. The code's fingerprint (what kept pages are keyed by) is
    taken here too: the processes run the code this process imported, even if its files are replaced
    while it serves.

    Also imported here, once: what each process would otherwise import after the fork on its way to /health
    and its first pages (two processes at once, beside the reading of the release; the test
    test_server_processes_import_nothing_heavy_after_the_fork lists what is left): the store's SQLAlchemy
    dialect (create_engine imports it by name), the readers of the stored definitions, of the suppression
    pattern and of the kept release, the warehouse watcher's versions, sign-in's password hashing, the SPC
    chart's limits; uvicorn's event loop, HTTP protocol and lifespan, and anyio's asyncio backend.

    The kept release's checksum is computed meanwhile, in a thread on the other core (gpcluster.checksummed)."""
    import multiprocessing
    import os

    from gpcluster import checksummed, config

    checksummed.check_ahead(Path(os.path.realpath(warehouse if warehouse is not None else config.warehouse_path())))

    import anyio._backends._asyncio  # noqa: F401
    import pyarrow.pandas_compat  # noqa: F401
    import sqlalchemy.dialects.sqlite  # noqa: F401
    import uvicorn._subprocess
    import uvicorn.lifespan.on  # noqa: F401
    import uvicorn.loops.auto
    import uvicorn.protocols.http.auto  # noqa: F401

    import gpcluster.indicators.stored  # noqa: F401
    import gpcluster.indicators.suppression  # noqa: F401
    import gpcluster.stats.spc  # noqa: F401
    import gpcluster.store.accounts  # noqa: F401
    import gpcluster.warehouse.versions  # noqa: F401
    import gpcluster.web.app  # noqa: F401 - the import is the point
    import gpcluster.web.persisted_release  # noqa: F401
    from gpcluster.web.persisted import code_fingerprint

    uvicorn.loops.auto.auto_loop_factory(use_subprocess=True)  # imports the loop (uvloop when installed); makes none
    code_fingerprint()

    from gpcluster.web.data import preopen_for_workers

    preopen_for_workers(warehouse)
    uvicorn._subprocess.spawn = multiprocessing.get_context("fork")


def prepare(
    warehouse: Path = typer.Option(None, help="DuckDB warehouse (default: the `warehouse` setting)."),
) -> None:
    """Prepare the warehouse's current version for the web app before serving it: its disclosed release,
    every page and table national viewers share and those each HSCP's viewers share, built now and kept
    beside the version, so that `gpcluster serve` starts ready; and the package's modules compiled to
    bytecode. Run it after every load and every deploy of new code (a code change makes them again)."""
    import os
    import time

    from gpcluster import config
    from gpcluster.errors import UserError
    from gpcluster.web.prerender import prepare as prepare_version

    path = warehouse if warehouse is not None else config.warehouse_path()
    if not Path(path).exists():
        raise UserError(f"no warehouse at {path}: load data first (`gpcluster load` and `gpcluster indicators compute`, or `gpcluster demo`)")
    console.print("Preparing the web app's pages and tables for this data version (the first time, several minutes "
                  "for demo Scotland; `gpcluster serve` then starts ready)...")
    began = time.monotonic()
    seconds = prepare_version(Path(os.path.realpath(path)))
    console.print(f"Prepared {os.path.realpath(path)} for serving in {time.monotonic() - began:.0f} s"
                  + (" (already prepared by this code)" if time.monotonic() - began < 1 and seconds else "") + ".")
    compile_package()


def compile_package(root: Path | None = None) -> bool:
    """Compile the package's modules to bytecode beside them, for each later start to read instead of
    compiling about a hundred modules (about 0.2 s of CPU, serial before `serve` answers) where Python
    does not write bytecode itself (PYTHONDONTWRITEBYTECODE, as in this project's development containers;
    pip compiles an installed package). Each file records its source's hash, checked at every import: an
    edited module is compiled afresh, never run stale. False when some could not be written (a read-only
    folder: imports compile, as before)."""
    import compileall
    import py_compile
    from importlib.resources import files

    return bool(compileall.compile_dir(str(root or files("gpcluster")), quiet=2,
                                       invalidation_mode=py_compile.PycInvalidationMode.CHECKED_HASH))


def register(app: typer.Typer) -> None:
    app.command("serve")(serve)
    app.command("prepare")(prepare)
