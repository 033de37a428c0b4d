"""`gpcluster serve` on a free loopback port for the web benchmarks: started, waited for, stopped."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from gpcluster.web.ready import NotServing, wait_until_serving


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def served_app(warehouse: Path, env: dict[str, str], workers: int = 1, start_seconds: float = 120) -> Iterator[str]:
    """The base URL of `gpcluster serve` on `warehouse` with extra environment `env`, until the block ends."""
    port = free_port()
    environment = {**os.environ, "GPCLUSTER_SECRET_KEY": "benchmark-only-secret", **env}
    server = subprocess.Popen([sys.executable, "-m", "gpcluster.cli", "serve", "--host", "127.0.0.1", "--port",
                               str(port), "--warehouse", str(warehouse), "--workers", str(workers)],
                              env=environment, stdout=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        try:
            wait_until_serving(base, server, start_seconds)
        except NotServing as exc:
            raise SystemExit(str(exc)) from exc
        yield base
    finally:
        server.terminate()
        server.wait(timeout=30)
