"""Waiting for a server started in another process to answer (the benchmarks and the tests that start
`gpcluster serve` use this one loop)."""

from __future__ import annotations

import subprocess
import time

import httpx


class NotServing(RuntimeError):
    """The server exited, or did not answer /health in time."""


def wait_until_serving(base_url: str, process: subprocess.Popen | None = None, timeout: float = 120.0,
                       poll: float = 0.05) -> float:
    """Seconds from now until `base_url`/health answers 200. Raises NotServing when `process` exits first
    (with its standard error, if piped) or after `timeout` seconds."""
    began = time.monotonic()
    while True:
        try:
            if httpx.get(f"{base_url}/health", timeout=5).status_code == 200:
                return time.monotonic() - began
        except httpx.TransportError:
            pass
        if process is not None and process.poll() is not None:
            error = process.stderr.read().decode(errors="replace") if process.stderr else ""
            raise NotServing(f"the server exited with code {process.returncode} before answering" +
                             (f": {error.strip()}" if error.strip() else ""))
        if time.monotonic() - began > timeout:
            raise NotServing(f"the server did not answer {base_url}/health within {timeout:.0f} s")
        time.sleep(poll)
