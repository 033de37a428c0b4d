"""The DuckDB warehouse: schema, transactional loads, load ledger, organisation history.

Public API: open_warehouse(path=None, read_only=False), load_paths(paths, source=None, synthetic=False,
progress=None) -> LoadReport, summary(con) -> dict."""

import importlib

from gpcluster.warehouse.connection import connect, ensure_schema, open_warehouse
from gpcluster.warehouse.summary import summary

# the loader (every source's reader) is imported when first used: the web app only opens the warehouse
_LOADER = ("LoadReport", "load_paths", "load_sourced")

__all__ = ["LoadReport", "connect", "ensure_schema", "load_paths", "load_sourced", "open_warehouse", "summary"]


def __getattr__(name: str):
    if name in _LOADER:
        return getattr(importlib.import_module("gpcluster.warehouse.loader"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
