"""One full default synthetic Scotland per test session, read back from the files (never from the
generator's internals), so tests check what the loaders will actually see."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from gpcluster.synthetic import write_synthetic_scotland


@pytest.fixture(scope="session")
def synthetic_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("synthetic-scotland")


@pytest.fixture(scope="session")
def written(synthetic_dir) -> list[tuple[str, Path]]:
    return write_synthetic_scotland(synthetic_dir)


def _read(paths: list[Path]) -> pd.DataFrame:
    return pd.concat([pd.read_csv(p, dtype={"PracticeCode": str}, keep_default_na=False) for p in paths],
                     ignore_index=True)


@pytest.fixture(scope="session")
def contacts(written) -> pd.DataFrame:
    """All contact-details releases stacked, with a `release` column from the file name."""
    frames = []
    for source, path in written:
        if source == "gp_practice_contact_details":
            frame = _read([path])
            frame["release"] = path.name.split("_")[2].split("-")[0]
            frames.append(frame)
    return pd.concat(frames, ignore_index=True)


@pytest.fixture(scope="session")
def populations(written) -> pd.DataFrame:
    return _read([p for s, p in written if s == "gp_practice_populations"])


@pytest.fixture(scope="session")
def simd(written) -> pd.DataFrame:
    return _read([p for s, p in written if s == "simd"])


@pytest.fixture(scope="session")
def urban_rural(written) -> pd.DataFrame:
    return _read([p for s, p in written if s == "urban_rural"])


@pytest.fixture(scope="session")
def activity(written) -> pd.DataFrame:
    return _read([p for s, p in written if s == "practice_activity"])
