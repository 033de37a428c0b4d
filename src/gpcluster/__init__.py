"""gpcluster: data, analysis and planning tools for Scotland's GP clusters."""

import os

__version__ = "0.1.0"

# DuckDB's allocator (jemalloc, on Linux) keeps freed pages for ten seconds by default, so a compute run's
# peak memory also held every temporary table it had already dropped (about 200 MB at Scotland's size).
# Freed pages go back at once instead, unless the environment chooses otherwise. Read when DuckDB's library
# loads: gpcluster is imported before anything of ours imports duckdb.
os.environ.setdefault("DUCKDB_JE_MALLOC_CONF", "dirty_decay_ms:0,muzzy_decay_ms:0")
