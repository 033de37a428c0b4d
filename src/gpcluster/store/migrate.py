"""Run the store's Alembic migrations from the installed package (no alembic.ini in the working folder).

Opening a store whose schema is already the newest (every start of a server but the first after an
upgrade) does not import Alembic: the revision is read with a plain query and compared with the head
read from the packaged migration files' `revision` / `down_revision` assignments (`packaged_head`). Any
other case (an empty or older database, several heads, a file that cannot be read that way) runs Alembic.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable
from functools import lru_cache
from importlib.resources import files
from typing import TYPE_CHECKING

from sqlalchemy import inspect, text
from sqlalchemy.engine import Engine

if TYPE_CHECKING:
    from alembic.config import Config

SCRIPT_LOCATION = "gpcluster.store:migrations"
VERSION_TABLE = "alembic_version"  # Alembic's default, which env.py keeps


def alembic_config(engine: Engine) -> Config:
    """An Alembic Config pointing at the packaged migrations and the given engine's database."""
    from alembic.config import Config

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
    """Bring the store's schema up to `revision` (default: the newest). Already at the newest: one query,
    no Alembic."""
    if revision == "head" and (head := packaged_head()) is not None and stored_revisions(engine) == [head]:
        return
    from alembic import command

    _run(engine, command.upgrade, revision)


def downgrade(engine: Engine, revision: str = "base") -> None:
    """Take the store's schema down to `revision` (default: empty)."""
    from alembic import command

    _run(engine, command.downgrade, revision)


def current_revision(engine: Engine) -> str | None:
    """The revision the database is at, or None for an empty database."""
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def head_revision(engine: Engine) -> str | None:
    """The newest revision shipped with this version of gpcluster."""
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(alembic_config(engine)).get_current_head()


def stored_revisions(engine: Engine) -> list[str]:
    """The revisions recorded in the database's version table (none for an empty database), by plain query."""
    with engine.connect() as connection:
        if not inspect(connection).has_table(VERSION_TABLE):
            return []
        return sorted(row[0] for row in connection.execute(text(f"SELECT version_num FROM {VERSION_TABLE}")))


@lru_cache(maxsize=1)
def packaged_head() -> str | None:
    """The single head of the packaged migrations (see `single_head`), read without importing Alembic."""
    folder = files("gpcluster.store").joinpath("migrations", "versions")
    return single_head(source.read_text(encoding="utf-8") for source in folder.iterdir()
                       if source.name.endswith(".py") and not source.name.startswith("__"))


def single_head(sources: Iterable[str]) -> str | None:
    """The one head of migration files' texts, from each file's module-level `revision` and
    `down_revision` literals (the files are not run); None when that is not certain: no files, a file
    without them as literals, a revision twice, several heads, a merge, a parent that is not there or a
    `depends_on`. The caller then runs Alembic, which decides."""
    revisions: dict[str, tuple[str, ...]] = {}
    for source in sources:
        assigned = {}
        for node in ast.parse(source).body:
            target = node.targets[0] if isinstance(node, ast.Assign) and len(node.targets) == 1 else getattr(
                node, "target", None)
            if (isinstance(node, ast.Assign | ast.AnnAssign) and isinstance(target, ast.Name)
                    and target.id in ("revision", "down_revision", "depends_on") and node.value is not None):
                try:
                    assigned[target.id] = ast.literal_eval(node.value)
                except ValueError:
                    return None
        revision, down = assigned.get("revision"), assigned.get("down_revision", ...)
        if (not isinstance(revision, str) or down is ... or revision in revisions or assigned.get("depends_on")
                or not (down is None or isinstance(down, str))):
            return None
        revisions[revision] = (down,) if down else ()
    below = {parent for parents in revisions.values() for parent in parents}
    heads = [r for r in revisions if r not in below]
    if len(heads) != 1 or not below <= revisions.keys() or len(below) != len(revisions) - 1:
        return None
    return heads[0]
