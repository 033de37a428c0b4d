"""Work that can take seconds runs off the request path, in worker processes (pebble's process pool).

Roster uploads and model comparisons parse files and run pandas for seconds; in the server process they
held the event loop or the GIL and every other user waited (a 298 KB workbook stalled /health for three
minutes). Here a request hands the work to a worker process and awaits it without blocking: other
requests keep being served by the server process while the worker uses the other core.

Limits: `job_workers` processes; `job_timeout` seconds per task (the worker is killed and replaced);
`jobs_per_user` tasks running or queued per user in this server process (more get HTTP 429), and at most
QUEUE_PER_WORKER tasks waiting per worker in all. Each server process (`gpcluster serve --workers 2`) has
its own pool, so the per-user limit applies per process.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import threading
from collections import Counter
from collections.abc import Callable
from concurrent.futures import TimeoutError as FutureTimeout

from gpcluster import config
from gpcluster.errors import GpclusterError

QUEUE_PER_WORKER = 8


class JobRefused(GpclusterError):
    """Too many tasks already (the user's own, or the server's): HTTP 429 with this message."""


class JobFailed(GpclusterError):
    """The task ran out of time or its worker died; the message says which, in plain words."""


#: workers run at a lower CPU priority than the server process, so pages stay fast while they work
WORKER_NICENESS = 10


def _lower_priority() -> None:
    if hasattr(os, "nice"):
        os.nice(WORKER_NICENESS)


def _with_settings(settings: dict[str, str], function: Callable, args: tuple):
    """Run in the worker with the server's settings as they were when the task was submitted (the
    worker process was started earlier, perhaps with other GPCLUSTER_* variables)."""
    for name in [n for n in os.environ if n.startswith("GPCLUSTER_")]:
        del os.environ[name]
    os.environ.update(settings)
    config.clear_cache()
    return function(*args)


class JobRunner:
    """A lazily started process pool with per-user and overall limits."""

    def __init__(self) -> None:
        self._pool = None
        self._lock = threading.Lock()
        self._running: Counter[int] = Counter()

    def _get_pool(self):
        from pebble import ProcessPool

        with self._lock:
            if self._pool is None:
                # forkserver: workers start from a clean process, not a fork of a threaded server
                self._pool = ProcessPool(max_workers=max(1, int(config.get("job_workers"))),
                                         context=multiprocessing.get_context("forkserver"),
                                         initializer=_lower_priority)
            return self._pool

    def _reserve(self, user_id: int) -> None:
        per_user, workers = int(config.get("jobs_per_user")), max(1, int(config.get("job_workers")))
        with self._lock:
            if self._running[user_id] >= per_user:
                raise JobRefused(f"You already have {self._running[user_id]} planner task(s) running. Wait for "
                                 "them to finish (this page shows the result when it is ready), then try again.")
            if sum(self._running.values()) >= workers * QUEUE_PER_WORKER:
                raise JobRefused("The planner is busy with other people's work. Try again in a minute.")
            self._running[user_id] += 1

    def _release(self, user_id: int) -> None:
        with self._lock:
            self._running[user_id] -= 1
            if self._running[user_id] <= 0:
                del self._running[user_id]

    async def run(self, user_id: int, function: Callable, *args, what: str = "The task"):
        """Run `function(*args)` in a worker process and return its result; the event loop is free
        meanwhile. Raises JobRefused (too many tasks) or JobFailed (timed out or the worker died);
        exceptions raised by `function` itself are re-raised here."""
        from pebble import ProcessExpired

        self._reserve(user_id)
        timeout = float(config.get("job_timeout"))
        try:
            settings = {n: v for n, v in os.environ.items() if n.startswith("GPCLUSTER_")}
            future = self._get_pool().schedule(_with_settings, args=(settings, function, args), timeout=timeout)
            try:
                return await asyncio.wrap_future(future)
            except asyncio.CancelledError:  # the client went away: stop the work too
                future.cancel()
                raise
            except FutureTimeout as exc:
                raise JobFailed(f"{what} took longer than {timeout:g} seconds and was stopped "
                                "(setting job_timeout).") from exc
            except ProcessExpired as exc:
                raise JobFailed(f"{what} stopped unexpectedly (worker exit code {exc.exitcode}).") from exc
        finally:
            self._release(user_id)

    def close(self) -> None:
        """Stop the workers (at server shutdown)."""
        with self._lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.stop()
            pool.join(timeout=10)


#: one pool per server process, shared by every app it serves
RUNNER = JobRunner()
