"""Functions the job tests run in worker processes: importable there without the test modules' fixtures."""

from __future__ import annotations

import time


def busy_loop(seconds: float) -> int:
    end, n = time.perf_counter() + seconds, 0
    while time.perf_counter() < end:
        n += 1
    return n


def setting(name: str):
    from gpcluster import config

    return config.get(name)
