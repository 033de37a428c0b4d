"""Warehouse versions: refresh without downtime, and rollback.

The `warehouse` path is a symbolic link to the current version, a DuckDB file in the folder beside it
(`warehouse.duckdb` -> `warehouse.versions/000007.duckdb`). A write (load, compute, roster import) never
touches the current version, which the web app may hold open read-only: it copies it to a new version,
writes there, and only when everything has succeeded replaces the link in one atomic rename. The app
notices the new target and reopens (requests in flight finish on the old version); a failure leaves the
current version exactly as it was. Earlier versions stay for `gpcluster data rollback` until more than
the `warehouse_versions_kept` setting exist.

A warehouse made before versions existed (a plain file) becomes version 1 on its first versioned write.
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import duckdb

from gpcluster import config
from gpcluster.errors import UserError

VERSION_FILE = re.compile(r"^(\d{6})\.duckdb$")


@dataclass(frozen=True)
class Version:
    number: int
    path: Path
    created: datetime | None
    note: str
    size_bytes: int
    current: bool


@dataclass
class Draft:
    """A new version being written. Set `keep = False` when nothing changed: no version is published."""

    con: duckdb.DuckDBPyConnection
    path: Path
    number: int
    keep: bool = True


def warehouse_link(path: Path | str | None = None) -> Path:
    return Path(path) if path is not None else config.warehouse_path()


def versions_dir(path: Path | str | None = None) -> Path:
    link = warehouse_link(path)
    return link.with_name(link.stem + ".versions")


def current_file(path: Path | str | None = None) -> Path | None:
    """The DuckDB file the warehouse path stands for now (the link's target), or None when there is none."""
    link = warehouse_link(path)
    if not link.exists():
        return None
    return Path(os.path.realpath(link))


def _number(file: Path) -> int | None:
    found = VERSION_FILE.match(file.name)
    return int(found[1]) if found else None


def _version_files(folder: Path) -> dict[int, Path]:
    if not folder.is_dir():
        return {}
    return {n: f for f in folder.iterdir() if (n := _number(f)) is not None}


def list_versions(path: Path | str | None = None) -> list[Version]:
    """Every kept version, oldest first."""
    current = current_file(path)
    found = []
    for number, file in sorted(_version_files(versions_dir(path)).items()):
        meta = _read_meta(file)
        created = datetime.fromisoformat(meta["created"]) if meta.get("created") else None
        found.append(Version(number, file, created, meta.get("note", ""), file.stat().st_size,
                             current is not None and file.resolve() == current))
    return found


def _read_meta(file: Path) -> dict:
    try:
        return json.loads(file.with_suffix(".json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


@contextmanager
def _writer_lock(path: Path | str | None) -> Iterator[None]:
    folder = versions_dir(path)
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / ".lock", "a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as exc:
            handle.seek(0)
            holder = handle.read().strip() or "another gpcluster command"
            raise UserError(f"the warehouse {warehouse_link(path)} is being written by {holder}; run this again "
                            "when it has finished (the web app may keep serving meanwhile)") from exc
        handle.seek(0)
        handle.truncate()
        handle.write(f"process {os.getpid()}")
        handle.flush()
        try:
            yield
        finally:
            handle.seek(0)
            handle.truncate()
            fcntl.flock(handle, fcntl.LOCK_UN)


def _publish(link: Path, target: Path) -> None:
    """Point `link` at `target` atomically: readers see the old version or the new one, never neither."""
    temporary = link.with_name(f".{link.name}.{os.getpid()}.link")
    temporary.unlink(missing_ok=True)
    os.symlink(os.path.relpath(target, link.parent), temporary)
    os.replace(temporary, link)


def _adopt_plain_file(link: Path) -> None:
    """A warehouse file from before versions becomes version 1 (hard-linked, so no moment without it)."""
    if not link.exists() or link.is_symlink():
        return
    folder = versions_dir(link)
    target = folder / f"{max(_version_files(folder), default=0) + 1:06d}.duckdb"
    try:
        os.link(link, target)
    except OSError:
        shutil.copyfile(link, target)
    wal = Path(str(link) + ".wal")
    if wal.exists():
        shutil.copyfile(wal, str(target) + ".wal")
    _write_meta(target, "the warehouse as it was before versioning")
    _publish(link, target)
    wal.unlink(missing_ok=True)


def _write_meta(file: Path, note: str, parent: int | None = None, schema: str | None = None) -> None:
    meta = {"created": datetime.now(UTC).isoformat(timespec="seconds"), "note": note, "from": parent}
    if schema is not None:  # the schema_fingerprint of the file's schema (see new_version)
        meta["schema"] = schema
    file.with_suffix(".json").write_text(json.dumps(meta), encoding="utf-8")


def _remove(file: Path) -> None:
    for extra in (file, Path(str(file) + ".wal"), file.with_suffix(".json")):
        extra.unlink(missing_ok=True)


@contextmanager
def new_version(path: Path | str | None = None, note: str = "") -> Iterator[Draft]:
    """Write into a copy of the current warehouse; publish it as the current version if the block succeeds.

    Raises UserError when another command is writing the same warehouse. On any exception the copy is
    deleted and the current version is untouched.
    """
    from gpcluster.warehouse.connection import connect, ensure_schema, schema_fingerprint

    link = warehouse_link(path)
    with _writer_lock(link):
        _adopt_plain_file(link)
        folder = versions_dir(link)
        current = current_file(link)
        number = max(_version_files(folder), default=0) + 1
        target = folder / f"{number:06d}.duckdb"
        _remove(target)
        if current is not None:
            shutil.copyfile(current, target)
            if Path(str(current) + ".wal").exists():
                shutil.copyfile(str(current) + ".wal", str(target) + ".wal")
        try:
            con = connect(target)
        except BaseException:
            _remove(target)
            raise
        draft = Draft(con, target, number)
        schema = schema_fingerprint()
        try:
            if current is None or _read_meta(current).get("schema") != schema:
                ensure_schema(con)  # else the copy already has this schema (same SQL, lists and code)
            yield draft
            con.execute("CHECKPOINT")
        except BaseException:
            con.close()
            _remove(target)
            raise
        con.close()
        if not draft.keep:
            _remove(target)
            return
        _write_meta(target, note, _number(current) if current else None, schema)
        _publish(link, target)
        prune(link)


def prune(path: Path | str | None = None, keep: int | None = None) -> list[int]:
    """Delete the oldest versions beyond `keep` (default: the warehouse_versions_kept setting); never the
    current one. Returns the numbers removed."""
    keep = max(int(config.get("warehouse_versions_kept") if keep is None else keep), 2)  # rollback needs one
    current = current_file(path)
    files = sorted(_version_files(versions_dir(path)).items())
    removed = []
    for number, file in files[: max(len(files) - keep, 0)]:
        if current is not None and file.resolve() == current:
            continue
        _remove(file)
        removed.append(number)
    return removed


def rollback(path: Path | str | None = None, to: int | None = None) -> Version:
    """Make an earlier version current again (default: the newest one older than the current)."""
    link = warehouse_link(path)
    with _writer_lock(link):
        versions = list_versions(link)
        now = next((v for v in versions if v.current), None)
        if now is None:
            raise UserError(f"{link} has no versions to roll back (it is written in place or missing); "
                            "versions begin with the next `gpcluster load`")
        if to is None:
            earlier = [v for v in versions if v.number < now.number]
            if not earlier:
                raise UserError(f"version {now.number} is the oldest kept; there is nothing earlier to roll back to")
            chosen = earlier[-1]
        else:
            chosen = next((v for v in versions if v.number == to), None)
            if chosen is None:
                kept = ", ".join(str(v.number) for v in versions)
                raise UserError(f"no version {to}; the versions kept are {kept}")
            if chosen.current:
                raise UserError(f"version {to} is already the current version")
        _publish(link, chosen.path)
    return Version(chosen.number, chosen.path, chosen.created, chosen.note, chosen.size_bytes, True)
