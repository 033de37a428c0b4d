"""The documentation mentions every setting and every command (Datasette's habit): a new setting or
command without docs fails here."""

from pathlib import Path

import typer.main

from gpcluster import config
from gpcluster.cli import app

ROOT = Path(__file__).resolve().parents[1]


def _docs_text() -> str:
    return "\n".join(p.read_text(encoding="utf-8") for p in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))])


def _command_paths(command, prefix=()):
    for name, sub in getattr(command, "commands", {}).items():
        path = (*prefix, name)
        if getattr(sub, "commands", None):
            yield from _command_paths(sub, path)
        else:
            yield " ".join(path)


def test_every_setting_is_in_docs_settings():
    text = (ROOT / "docs" / "settings.md").read_text(encoding="utf-8")
    missing = [s.name for s in config.SETTINGS.values() if f"`{s.name}`" not in text or s.env_var not in text]
    assert missing == []


def test_every_command_is_documented():
    paths = list(_command_paths(typer.main.get_command(app)))
    assert "demo" in paths and "indicators compute" in paths  # the walk itself works
    text = _docs_text()
    missing = [p for p in paths if f"gpcluster {p}" not in text]
    assert missing == []
