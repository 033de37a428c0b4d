"""Shared test fixtures. Real public data and reference fixtures live in ../shared (present in CI);
tests that need them skip with a clear reason when it is absent."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("GPCLUSTER_SHARED", REPO_ROOT.parent / "shared"))


def _require(path: Path, what: str) -> Path:
    if not path.exists():
        pytest.skip(f"{what} not found at {path} (set GPCLUSTER_SHARED to the shared/ folder to run this test)")
    return path


@pytest.fixture(scope="session")
def raw_dir() -> Path:
    """../shared/data/raw: real PHS open data (Open Government Licence)."""
    return _require(SHARED / "data" / "raw", "real PHS open data")


@pytest.fixture(scope="session")
def oracles_dir() -> Path:
    """../shared/data/oracles: reference fixtures of public statistics packages."""
    return _require(SHARED / "data" / "oracles", "statistics oracle fixtures")


@pytest.fixture(autouse=True)
def _isolated_home(tmp_path_factory, monkeypatch):
    """Every test gets its own GPCLUSTER_HOME so nothing touches the developer's warehouse."""
    home = tmp_path_factory.mktemp("gpcluster-home")
    monkeypatch.setenv("GPCLUSTER_HOME", str(home))
    monkeypatch.setenv("GPCLUSTER_CONFIG", str(home / "gpcluster.toml"))
    from gpcluster import config

    config.clear_cache()
    yield
    config.clear_cache()


@pytest.fixture(scope="session")
def synthetic_world(tmp_path_factory) -> Path:
    """A synthetic Scotland of 24 quarters (seed 4242) through the real loaders and the whole catalogue:
    the warehouse path. Built once per session (a few minutes); read it, never write to it."""
    from gpcluster.indicators.definition import load_catalogue
    from gpcluster.indicators.engine import compute
    from gpcluster.synthetic import write_synthetic_scotland
    from gpcluster.warehouse import load_sourced, open_warehouse

    folder = tmp_path_factory.mktemp("synthetic-world")
    written = write_synthetic_scotland(folder / "files", 4242, "2019-04-01", 24)
    path = folder / "warehouse.duckdb"
    load_sourced(written, synthetic=True, warehouse=path)
    with open_warehouse(path) as con:
        compute(con, load_catalogue())
    return path
