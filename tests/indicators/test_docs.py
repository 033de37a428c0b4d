"""docs/indicators.md describes every indicator command and every shipped indicator."""

from __future__ import annotations

from pathlib import Path

from gpcluster.indicators.definition import CATALOGUE_DIR

DOC = Path(__file__).resolve().parents[2] / "docs" / "indicators.md"


def test_every_command_and_indicator_is_documented():
    text = DOC.read_text(encoding="utf-8")
    missing = [c for c in ("list", "show", "compute", "export") if f"gpcluster indicators {c}" not in text]
    missing += [p.stem for p in CATALOGUE_DIR.glob("*.toml") if f"`{p.stem}`" not in text]
    assert missing == []
