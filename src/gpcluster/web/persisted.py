"""Rendered pages and serialised tables kept on disk beside their warehouse version, shared by every
server process and kept across restarts: a page is built once per (page, entity, role or scope,
disclosure settings, warehouse version, code), not once per process.

One SQLite file per warehouse version file (``<version>.duckdb.pages.sqlite``). Entries are looked up by
the SHA-256 of the full cache key (gpcluster.web.cache: the page and its entity, the viewer's scope, the
disclosure settings, the version) and the stored key text is compared too, so an entry is only ever
returned for exactly the key it was written under: a page kept for one scope is never served to another.
The file also records what it was written for (the version file's size and modification time, and a
fingerprint of the web code and templates); if either differs when it is opened (a plain warehouse
file rewritten in place, or a new release of gpcluster), every entry is dropped. A new warehouse version
is a new file, so it starts empty. Page stores of versions that no longer exist are removed when a store
is opened.

Values are pickled and compressed: the file is written only by the server (and `gpcluster web prerender`) with mode
0600 beside the warehouse, which whoever can write could change anyway.
"""

from __future__ import annotations

import hashlib
import logging
import os
import pickle
import sqlite3
import threading
import zlib
from functools import lru_cache
from importlib.resources import files
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

SUFFIX = ".pages.sqlite"
#: zlib level of the stored values (pages and tables are text: about a tenth of their size, in a millisecond)
COMPRESSION = 3
#: what `get` returns for a key that is not stored
MISSING = object()


@lru_cache(maxsize=1)
def code_fingerprint() -> str:
    """A digest of gpcluster's version and every file of the package (code, templates, indicator
    definitions, model parameters, reference data; not the web's static files, which pages only link
    to): pages persisted by other code are never served. The whole package, not only gpcluster.web:
    pages show what the disclosure, statistics, formatting, indicator and planner modules make."""
    from gpcluster import __version__

    digest = hashlib.sha256(__version__.encode())
    root = Path(str(files("gpcluster")))
    for file in sorted(root.rglob("*")):
        parts = file.relative_to(root).parts
        if file.is_file() and "__pycache__" not in parts and parts[:2] != ("web", "static"):
            digest.update(str(file.relative_to(root)).encode())
            digest.update(file.read_bytes())
    return digest.hexdigest()


def store_path(version_file: Path) -> Path:
    return Path(str(version_file) + SUFFIX)


def key_text(full_key: Any) -> str:
    """The stored form of a cache key (its repr: keys are tuples of strings, numbers, dates and paths)."""
    return repr(full_key)


class PageStore:
    """The persisted entries of one warehouse version; safe to share between threads and processes."""

    def __init__(self, version_file: Path | str):
        self.version_file = Path(version_file)
        self.path = store_path(self.version_file)
        self._local = threading.local()
        self.enabled = True
        try:
            stat = self.version_file.stat()
            self._written_for = f"{stat.st_size}:{stat.st_mtime_ns}:{code_fingerprint()}"
            self._prepare()
            _remove_orphans(self.version_file.parent)
        except (OSError, sqlite3.Error) as exc:  # a read-only folder: pages are kept in memory only
            log.warning("rendered pages are not persisted beside %s: %s", self.version_file, exc)
            self.enabled = False

    def _connect(self) -> sqlite3.Connection:
        con = getattr(self._local, "con", None)
        if con is None:
            con = sqlite3.connect(self.path, timeout=30, isolation_level=None, check_same_thread=True)
            con.execute("PRAGMA journal_mode=WAL")
            con.execute("PRAGMA synchronous=NORMAL")
            self._local.con = con
        return con

    def _prepare(self) -> None:
        fresh = not self.path.exists()
        con = self._connect()
        if fresh:
            os.chmod(self.path, 0o600)
        con.execute("BEGIN IMMEDIATE")
        try:
            con.execute("CREATE TABLE IF NOT EXISTS entry (digest TEXT PRIMARY KEY, key TEXT NOT NULL, value BLOB NOT NULL)")
            con.execute("CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT)")
            row = con.execute("SELECT value FROM meta WHERE name = 'written_for'").fetchone()
            if row is None or row[0] != self._written_for:
                con.execute("DELETE FROM entry")
                con.execute("DELETE FROM meta")
                con.execute("INSERT INTO meta VALUES ('written_for', ?)", [self._written_for])
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise
        con.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # entries dropped: do not keep their copy in the log

    def get(self, full_key: Any) -> Any:
        """The value stored under exactly this key, or MISSING."""
        if not self.enabled:
            return MISSING
        text = key_text(full_key)
        try:
            row = self._connect().execute("SELECT key, value FROM entry WHERE digest = ?", [_digest(text)]).fetchone()
        except sqlite3.Error:
            log.warning("reading a persisted page failed", exc_info=True)
            return MISSING
        if row is None or row[0] != text:
            return MISSING
        return pickle.loads(zlib.decompress(row[1]))

    def put(self, full_key: Any, value: Any) -> None:
        if not self.enabled:
            return
        text = key_text(full_key)
        try:
            self._connect().execute("INSERT OR IGNORE INTO entry VALUES (?, ?, ?)",
                                    [_digest(text), text, zlib.compress(pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL), COMPRESSION)])
        except sqlite3.Error:  # full disk, or locked for longer than the timeout: the page is still served
            log.warning("persisting a page failed", exc_info=True)

    def __len__(self) -> int:
        if not self.enabled:
            return 0
        return self._connect().execute("SELECT count(*) FROM entry").fetchone()[0]

    def mark(self, name: str, value: str) -> None:
        """Record a fact about the store (e.g. when the shared pages were prerendered)."""
        if self.enabled:
            self._connect().execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", [name, value])

    def marked(self, name: str) -> str | None:
        if not self.enabled:
            return None
        row = self._connect().execute("SELECT value FROM meta WHERE name = ?", [name]).fetchone()
        return row[0] if row else None

    def close(self) -> None:
        con = getattr(self._local, "con", None)
        if con is not None:
            con.close()
            self._local.con = None


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _remove_orphans(folder: Path) -> None:
    """Remove the page stores of warehouse versions that are gone (pruned or rolled past)."""
    for store in folder.glob("*" + SUFFIX):
        version = Path(str(store)[: -len(SUFFIX)])
        if not version.exists():
            for extra in (store, Path(str(store) + "-wal"), Path(str(store) + "-shm")):
                extra.unlink(missing_ok=True)
