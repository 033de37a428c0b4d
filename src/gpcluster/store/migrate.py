"""Run the store's Alembic migrations from the installed package (no alembic.ini in the working folder)."""

from __future__ import annotations

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Engine

SCRIPT_LOCATION = "gpcluster.store:migrations"


def alembic_config(engine: Engine) -> Config:
    """An Alembic Config pointing at the packaged migrations and the given engine's database."""
    cfg = Config()
    cfg.set_main_option("script_location", SCRIPT_LOCATION)
    cfg.set_main_option("sqlalchemy.url", engine.url.render_as_string(hide_password=False).replace("%", "%%"))
    return cfg


def _run(engine: Engine, action, revision: str) -> None:
    cfg = alembic_config(engine)
    with engine.begin() as connection:
        cfg.attributes["connection"] = connection
        action(cfg, revision)


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Bring the store's schema up to `revision` (default: the newest)."""
    _run(engine, command.upgrade, revision)


def downgrade(engine: Engine, revision: str = "base") -> None:
    """Take the store's schema down to `revision` (default: empty)."""
    _run(engine, command.downgrade, revision)


def current_revision(engine: Engine) -> str | None:
    """The revision the database is at, or None for an empty database."""
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def head_revision(engine: Engine) -> str | None:
    """The newest revision shipped with this version of gpcluster."""
    return ScriptDirectory.from_config(alembic_config(engine)).get_current_head()
