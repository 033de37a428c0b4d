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
) -> None:
    """Serve the web app (pages, downloads and JSON API) on the warehouse's indicator results."""
    import uvicorn

    from gpcluster import config
    from gpcluster.web import create_app

    app = create_app(warehouse)
    host = host or config.get("host")
    port = port or int(config.get("port"))
    console.print(f"gpcluster web app on http://{host}:{port}/  (add accounts with `gpcluster users add`)")
    uvicorn.run(app, host=host, port=port, log_level="warning", proxy_headers=True)


def register(app: typer.Typer) -> None:
    app.command("serve")(serve)
