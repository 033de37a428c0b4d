"""Files kept beside a warehouse version under a name that ends in the CRC-32 of their bytes
(``<version>.<what>-<crc32 hex>.<ext>``, e.g. gpcluster.web.persisted_release's kept release): mapped into
memory and checked against that name before anything reads them.

`check_ahead` maps and checks a version's files in a thread, so that `gpcluster serve --workers N` checks
the kept release (hundreds of MB: about 0.07 s of CPU when cached, seconds from a cold disk) on the second
core while its first imports the app (zlib releases the interpreter lock); `mapped` then hands over those
same mapped bytes instead of checking them again. Light on purpose (standard library only): it is
imported before the app.
"""

from __future__ import annotations

import glob
import mmap
import re
import threading
import zlib
from pathlib import Path

_NAME = re.compile(r"-(?P<crc>[0-9a-f]{8})\.[a-z]+$")
_lock = threading.Lock()
#: files mapped and checked ahead, by path: (the mapped bytes, their CRC-32), or the error met
_ahead: dict[Path, tuple[mmap.mmap, int] | OSError | ValueError] = {}
_workers: list[threading.Thread] = []


def crc_in_name(path: Path) -> int:
    """The CRC-32 a file's name says its bytes have (ValueError when the name carries none)."""
    match = _NAME.search(path.name)
    if match is None:
        raise ValueError(f"{path.name} does not end in a CRC-32")
    return int(match["crc"], 16)


def _map(path: Path) -> tuple[mmap.mmap, int]:
    with open(path, "rb") as handle:
        content = mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ)  # ValueError when empty
    return content, zlib.crc32(content)


def check_ahead(version_file: Path) -> None:
    """Map and checksum, in a thread, each file kept beside `version_file` whose name carries a CRC-32."""
    prefix = glob.escape(version_file.name) + ".*-????????.*"
    paths = [p for p in version_file.parent.glob(prefix) if _NAME.search(p.name)]

    def check() -> None:
        for path in paths:
            try:
                result: tuple[mmap.mmap, int] | OSError | ValueError = _map(path)
            except (OSError, ValueError) as exc:
                result = exc
            with _lock:
                _ahead[path] = result

    if paths:
        worker = threading.Thread(target=check, name="gpcluster-check-ahead", daemon=True)
        with _lock:
            _workers.append(worker)
        worker.start()


def mapped(path: Path) -> mmap.mmap:
    """The bytes of `path`, mapped read-only, once checked against the CRC-32 in its name (ValueError when
    they differ; OSError when it cannot be read). Checked ahead (check_ahead) if it was, else now."""
    with _lock:
        workers = list(_workers)
    for worker in workers:
        worker.join()
    with _lock:
        _workers[:] = [w for w in _workers if w.is_alive()]
        result = _ahead.pop(path, None)
    if result is None:
        result = _map(path)
    elif isinstance(result, (OSError, ValueError)):
        raise result
    content, crc = result
    if crc != crc_in_name(path):
        raise ValueError("checksum mismatch")
    return content


def forget_ahead() -> None:
    """Drop what was checked ahead and not read (its mappings are closed when nothing holds them)."""
    with _lock:
        workers = list(_workers)
    for worker in workers:
        worker.join()
    with _lock:
        _ahead.clear()
        _workers.clear()

