"""docs/data-sources.md describes every registered source and every data command."""

from __future__ import annotations

from pathlib import Path

from gpcluster.sources import SOURCES

DOC = Path(__file__).resolve().parents[2] / "docs" / "data-sources.md"


def test_every_source_and_command_is_documented():
    text = DOC.read_text(encoding="utf-8")
    missing = [name for name in SOURCES if f"`{name}`" not in text]
    missing += [c for c in ("load", "sync", "status", "settings", "demo") if f"gpcluster {c}" not in text]
    assert missing == []
