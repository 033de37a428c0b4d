"""gpcluster sets DuckDB's allocator to hand freed memory back at once (gpcluster/__init__.py), unless the
environment already chose; the engine's peak memory depends on it (docs/performance.md)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

SHOW = "import gpcluster, os; print(os.environ.get('DUCKDB_JE_MALLOC_CONF'))"


@pytest.mark.parametrize(("given", "expected"), [
    (None, "dirty_decay_ms:0,muzzy_decay_ms:0"),
    ("dirty_decay_ms:5000", "dirty_decay_ms:5000"),  # an operator's own choice is kept
])
def test_importing_gpcluster_sets_the_allocator_default(given, expected):
    env = {k: v for k, v in os.environ.items() if k != "DUCKDB_JE_MALLOC_CONF"}
    if given is not None:
        env["DUCKDB_JE_MALLOC_CONF"] = given
    out = subprocess.run([sys.executable, "-c", SHOW], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == expected


def test_memory_freed_by_duckdb_goes_back_to_the_system():
    """A query's working memory is returned once it finishes (with jemalloc's default decay the process keeps
    it for ten seconds): resident memory after a 200 MB temporary table stays near where it started."""
    code = """
import gpcluster, duckdb
def rss():
    return next(int(line.split()[1]) for line in open('/proc/self/status') if line.startswith('VmRSS')) // 1024
con = duckdb.connect()
con.execute("SET enable_progress_bar = false")  # on a loaded machine it would print
before = rss()
con.execute("CREATE TEMP TABLE t AS SELECT range AS k, range * 2 AS v FROM range(12000000)")
con.execute("DROP TABLE t")
print(rss() - before)
"""
    if not os.path.exists("/proc/self/status"):
        pytest.skip("needs Linux's /proc to read resident memory")
    env = {k: v for k, v in os.environ.items() if k != "DUCKDB_JE_MALLOC_CONF"}
    grown = int(subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                               check=True).stdout.strip())
    assert grown < 60, f"{grown} MB still resident after the table was dropped"
