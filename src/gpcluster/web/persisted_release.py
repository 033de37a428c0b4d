"""The disclosed release of a warehouse version kept on disk beside it, so that a server process starts
serving from memory in a fraction of a second instead of querying and converting the whole release
(gpcluster.web.data.ReleasedRows) at every start.

One Arrow IPC file per (version, key): ``<version>.duckdb.release-<key>-<crc32>.arrow``. The key is a
digest of everything the disclosed rows depend on (`release_key`): the version file (path, size,
modification time), the disclosure settings, the suppression pattern itself, the indicators' disclosure
rules, and the code (every module of the package: `persisted.code_fingerprint`). A change of any of them names another file, so
stale figures are never read. The CRC-32 of the file's bytes is in its name and checked before it is
read (gpcluster.checksummed: `gpcluster serve --workers N` checks it ahead, beside its imports): a partial
or damaged file is removed and the release built afresh.

Written once, by the process that first builds the release of a version under a key (`building`: a
file lock, so that server processes starting at once build it once; the others wait, then read it):
into a temporary file in the same folder, flushed to disk, then renamed into place (atomic), so a reader
only ever sees a complete file. Files of other keys of the version and of versions that are gone are removed when one is
written.

Text columns are stored dictionary-encoded: the dictionary's indices are the codes ReleasedRows indexes
by, so reading gives them without factorising a million strings again.
"""

from __future__ import annotations

import glob
import hashlib
import logging
import os
import re
import tempfile
import threading
import time
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd

from gpcluster import checksummed
from gpcluster.web.persisted import code_fingerprint

log = logging.getLogger(__name__)

#: bump when the file layout changes (it is part of every key)
FORMAT = "1"
_NAME = re.compile(r"\.release-(?P<key>[0-9a-f]{32})-(?P<crc>[0-9a-f]{8})\.arrow$")
_TEMPORARY_MAX_AGE = 3600.0
LOCK_SUFFIX = ".release.lock"
#: the modules whose code decides what the rows are (selection, disclosure, encoding)


class NotPersistable(ValueError):
    """A column of a type this file layout does not store (the release is then held in memory only)."""


def release_key(version_file: Path, pattern: pd.DataFrame, rules: dict, settings: tuple) -> str:
    """A digest of everything the disclosed release of `version_file` depends on."""
    from gpcluster import __version__

    stat = version_file.stat()
    digest = hashlib.sha256()
    for part in (FORMAT, __version__, os.path.realpath(version_file), stat.st_size, stat.st_mtime_ns, settings,
                 sorted((k, repr(v)) for k, v in rules.items()), list(pattern.columns), list(map(str, pattern.dtypes))):
        digest.update(repr(part).encode())
        digest.update(b"\0")
    if len(pattern):
        digest.update(pd.util.hash_pandas_object(pattern, index=False).to_numpy().tobytes())
    # the code: every module of the package, as for kept pages (the disclosure rules live in
    # stats/disclosure.py, exports.py, indicators/suppression.py and web/data.py, and what they import)
    digest.update(code_fingerprint().encode())
    return digest.hexdigest()[:32]


@contextmanager
def building(version_file: Path, stop: threading.Event | None = None, poll: float = 0.05) -> Iterator[None]:
    """Hold the lock on building the release of `version_file` (one process at a time). Waits for it,
    raising InterruptedError when `stop` is set meanwhile (the server closing this version)."""
    import fcntl

    try:
        lock = open(str(version_file) + LOCK_SUFFIX, "a")  # noqa: SIM115 - closed below
    except OSError as exc:  # a read-only folder: nothing can be kept there either
        log.warning("building the release of %s without a lock: %s", version_file, exc)
        yield
        return
    waiting = stop if stop is not None else threading.Event()
    with lock:
        while True:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if waiting.wait(poll):
                    raise InterruptedError(f"stopped waiting to build the release of {version_file}") from None
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _files_of(version_file: Path) -> list[Path]:
    prefix = version_file.name + ".release-"
    return [p for p in version_file.parent.glob(glob.escape(prefix) + "*.arrow") if _NAME.search(p.name)]


def read(version_file: Path, key: str) -> tuple[pd.DataFrame, dict[str, tuple[np.ndarray, np.ndarray]]] | None:
    """The release stored for `version_file` under `key` as (frame, codes of each dictionary column), or
    None when there is none. A file that fails its checksum or cannot be decoded is removed."""
    import pyarrow as pa

    for path in _files_of(version_file):
        match = _NAME.search(path.name)
        if match["key"] != key:
            continue
        try:
            table = pa.ipc.open_file(pa.py_buffer(checksummed.mapped(path))).read_all()
            if (table.schema.metadata or {}).get(b"gpcluster_release_key") != key.encode():
                raise ValueError("stored under another key")
            return _decode(table)
        except (OSError, ValueError, pa.ArrowException) as exc:
            log.warning("the stored release %s is damaged (%s); building it afresh", path, exc)
            path.unlink(missing_ok=True)
    return None


def write(version_file: Path, key: str, frame: pd.DataFrame,
          codes: dict[str, tuple[np.ndarray, np.ndarray]]) -> Path:
    """Store the release of `version_file` under `key` (atomically) and remove stale files beside it.
    `codes`: (codes, distinct values) of columns already factorised (ReleasedRows' indexes)."""
    import pyarrow as pa

    table = _encode(frame, codes).replace_schema_metadata({"gpcluster_release_key": key})
    folder = version_file.parent
    descriptor, temporary = tempfile.mkstemp(dir=folder, prefix=f".{version_file.name}.release-", suffix=".tmp")
    try:
        with os.fdopen(descriptor, "wb") as handle:
            with pa.ipc.new_file(handle, table.schema) as writer:
                writer.write_table(table)
            handle.flush()
            os.fsync(handle.fileno())
        with pa.memory_map(temporary) as source:
            crc = zlib.crc32(source.read_buffer())
        final = folder / f"{version_file.name}.release-{key}-{crc:08x}.arrow"
        os.chmod(temporary, 0o600)
        os.replace(temporary, final)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    _remove_stale(version_file, keep=final)
    return final


def _remove_stale(version_file: Path, keep: Path) -> None:
    """Other keys' files of this version, files of versions that are gone, and abandoned temporary files."""
    folder = version_file.parent
    for path in folder.glob("*.release-*.arrow"):
        if path == keep or not _NAME.search(path.name):
            continue
        version = Path(str(path)[: _NAME.search(str(path)).start()])
        if version == version_file or not version.exists():
            path.unlink(missing_ok=True)
    for lock in folder.glob("*" + LOCK_SUFFIX):
        if not Path(str(lock)[: -len(LOCK_SUFFIX)]).exists():
            lock.unlink(missing_ok=True)
    now = time.time()
    for path in folder.glob(".*.release-*.tmp"):
        try:
            if now - path.stat().st_mtime > _TEMPORARY_MAX_AGE:
                path.unlink(missing_ok=True)
        except OSError:
            pass


_MISSING = {"none": None, "nan": np.nan, "nat": pd.NaT}


def _missing_name(values: np.ndarray, missing: np.ndarray) -> str:
    """How a column of Python objects writes a missing value (the first one; all must agree)."""
    found = {("nat" if v is pd.NaT else "none" if v is None else "nan") for v in values[missing]}
    if len(found) > 1:
        raise NotPersistable(f"missing values written as {sorted(found)}")
    return found.pop() if found else "nan"


def _encode(frame: pd.DataFrame, codes: dict[str, tuple[np.ndarray, np.ndarray]]):
    """The frame as an Arrow table: numbers as they are (NaN a value, not a null), text and dates
    dictionary-encoded, each field marked with the pandas type and missing value to give back."""
    import pyarrow as pa

    fields, arrays = [], []
    for column in frame.columns:
        values = frame[column]
        meta = {}
        if values.dtype == object or isinstance(values.dtype, pd.StringDtype):
            column_codes, distinct = codes.get(column) or pd.factorize(values.to_numpy(dtype=object))
            distinct = list(distinct)
            if all(isinstance(v, str) for v in distinct):
                dictionary = pa.array(distinct, pa.large_string())  # pandas' text type holds large strings
            elif all(isinstance(v, date) and not isinstance(v, pd.Timestamp) for v in distinct):
                dictionary = pa.array(distinct, pa.date32())
            else:
                raise NotPersistable(f"column {column} mixes types")
            missing = values.isna().to_numpy()
            if not np.array_equal(missing, np.asarray(column_codes) < 0):
                raise NotPersistable(f"column {column}'s codes do not match its values")
            indices = pa.array(np.asarray(column_codes, dtype=np.int32), mask=missing)
            array = pa.DictionaryArray.from_arrays(indices, dictionary)
            meta = {"pandas": "text" if isinstance(values.dtype, pd.StringDtype) else "object",
                    "missing": _missing_name(values.to_numpy(dtype=object), missing)}
        elif values.dtype in (np.float64, np.bool_) or str(values.dtype) == "datetime64[us]":
            array = pa.array(values.to_numpy())  # NaN stays a value (not a null): read back as it is
        else:
            raise NotPersistable(f"column {column} of type {values.dtype}")
        fields.append(pa.field(str(column), array.type, metadata=meta or None))
        arrays.append(array)
    return pa.Table.from_arrays(arrays, schema=pa.schema(fields))


def _codes(indices) -> np.ndarray:
    """A dictionary column's indices as codes, -1 where missing: read from its buffers (Arrow's fill_null
    made a new array of every column, a tenth of a start's decoding)."""
    begin, end = indices.offset, indices.offset + len(indices)
    validity, data = indices.buffers()[:2]
    codes = np.frombuffer(data, dtype=indices.type.to_pandas_dtype())[begin:end]
    if indices.null_count == 0:
        return codes
    valid = np.unpackbits(np.frombuffer(validity, dtype=np.uint8), bitorder="little")[begin:end].view(bool)
    return np.where(valid, codes, codes.dtype.type(-1))


def _decode(table) -> tuple[pd.DataFrame, dict[str, tuple[np.ndarray, np.ndarray]]]:
    import pyarrow as pa

    columns: dict[str, np.ndarray | pd.Series] = {}
    codes: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for field, chunked in zip(table.schema, table.columns, strict=True):
        name, meta = field.name, field.metadata or {}
        array = chunked.combine_chunks() if chunked.num_chunks != 1 else chunked.chunk(0)
        if pa.types.is_dictionary(array.type):
            column_codes = _codes(array.indices)
            distinct = np.array(array.dictionary.to_pylist(), dtype=object)
            codes[name] = (column_codes, distinct)
            if meta.get(b"pandas") == b"text":  # pandas' text type, built by Arrow (not a Python string per row)
                columns[name] = pd.Series(array.dictionary_decode().to_pandas(), copy=False)
            else:  # Python objects, with the missing value the query gave; explicitly object: left to infer,
                # pandas 3 turned each text column into its Arrow-backed type string by string (about 2 s
                # of CPU per server start, holding the interpreter lock), which ReleasedRows then undid
                missing = _MISSING[meta[b"missing"].decode()]
                columns[name] = pd.Series(np.append(distinct, np.array([missing], dtype=object))[column_codes],
                                          dtype=object, copy=False)
        else:
            columns[name] = array.to_numpy(zero_copy_only=False)
    # one block per column, as read (consolidating would copy every number out of the mapped file)
    return pd.DataFrame(columns, copy=False), codes
