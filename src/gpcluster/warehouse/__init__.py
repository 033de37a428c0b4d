"""The DuckDB warehouse: schema, transactional loads, load ledger, organisation history.

Public API: open_warehouse(path=None, read_only=False), load_paths(paths, source=None, synthetic=False,
progress=None) -> LoadReport, summary(con) -> dict."""

from gpcluster.warehouse.connection import connect, ensure_schema, open_warehouse
from gpcluster.warehouse.loader import LoadReport, load_paths, load_sourced
from gpcluster.warehouse.summary import summary

__all__ = ["LoadReport", "connect", "ensure_schema", "load_paths", "load_sourced", "open_warehouse", "summary"]
