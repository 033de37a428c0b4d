"""A bounded cache of released results, keyed by what determines them: the request's parameters, the
viewer's scope (never just the user), the disclosure settings and the warehouse version the request
reads (a new version published by a load is served fresh). Bounded by entries and by memory
(`web_cache_mb`): the least recently used go first."""

from __future__ import annotations

import sys
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any

from gpcluster import config
from gpcluster.web.access import Viewer
from gpcluster.web.data import pinned_data
from gpcluster.web.persisted import MISSING

CACHE_SIZE = 20_000
#: what an object of a kind the estimate does not know is counted as
UNKNOWN_BYTES = 1024


def scope_key(viewer: Viewer) -> tuple:
    """Everything about a viewer that changes what `release` shows them."""
    return (viewer.scope_level, viewer.scope_code, tuple(sorted(viewer.own_cluster_by_period.items())))


def size_of(value: Any, depth: int = 0) -> int:
    """A cheap estimate of the memory a cached value holds (text and tables exactly enough, the rest roughly)."""
    if isinstance(value, bytes | str):
        return len(value) + 64
    if hasattr(value, "memory_usage") and hasattr(value, "columns"):  # a DataFrame: its columns' arrays
        return int(value.memory_usage(index=True, deep=False).sum()) + 48 * int(value.size)
    if depth < 3 and isinstance(value, dict):
        return 64 + sum(size_of(v, depth + 1) for v in value.values())
    if depth < 3 and isinstance(value, list | tuple):
        return 64 + sum(size_of(v, depth + 1) for v in value)
    return max(sys.getsizeof(value, UNKNOWN_BYTES), UNKNOWN_BYTES) if depth < 3 else UNKNOWN_BYTES


def disclosure_settings() -> tuple:
    """The settings every released figure depends on (part of every cache key of released results)."""
    return config.get("disclosure_threshold"), config.get("suppress_zeros"), config.get("disclosure_min_group")


def full_key(key: Hashable, viewer: Viewer) -> tuple:
    """What a cached result depends on: the request's key, the viewer's scope, the disclosure settings and
    the warehouse version the request reads (a new version never serves the old one's results)."""
    data = pinned_data()
    return (key, scope_key(viewer), *disclosure_settings(), data.file if data is not None else None)


class ReleasedCache:
    """Least-recently-used cache; safe to share between request threads."""

    def __init__(self, size: int = CACHE_SIZE, max_bytes: int | None = None):
        self._items: OrderedDict[Hashable, tuple[Any, int]] = OrderedDict()
        self._lock = threading.Lock()
        self._size = size
        self._max_bytes = max_bytes
        self._bytes = 0
        self._building: dict[Hashable, threading.Lock] = {}

    @property
    def max_bytes(self) -> int:
        return self._max_bytes if self._max_bytes is not None else int(config.get("web_cache_mb")) * 1024 * 1024

    @property
    def bytes_held(self) -> int:
        return self._bytes

    def __len__(self) -> int:
        return len(self._items)

    def get(self, key: Hashable, viewer: Viewer, build: Callable[[], Any], persist: bool = False) -> Any:
        """The cached result for (key, viewer's scope, disclosure settings), building it when absent.

        `persist`: also keep it on disk beside the warehouse version (gpcluster.web.persisted), shared by
        every server process and kept across restarts; for values that are small and picklable (rendered
        pages, serialised tables)."""
        data = pinned_data()
        full = full_key(key, viewer)
        store = data.pages if persist and data is not None else None
        with self._lock:
            if full in self._items:
                self._items.move_to_end(full)
                return self._items[full][0]
            building = self._building.setdefault(full, threading.Lock())
        # one build per key: concurrent first requests for the same page wait for it instead of all
        # computing it at once (50 simultaneous builds stalled the server for seconds)
        with building:
            with self._lock:
                if full in self._items:
                    return self._items[full][0]
            try:
                value = store.get(full) if store is not None else MISSING
                if value is MISSING:
                    value = build()
                    if store is not None:
                        store.put(full, value)
            finally:
                with self._lock:
                    self._building.pop(full, None)
            self._keep(full, value)
        return value

    def peek(self, key: Hashable, viewer: Viewer, persist: bool = False) -> Any:
        """get()'s result when it is kept (in memory or, with `persist`, on disk by any server process),
        else MISSING: never builds."""
        data = pinned_data()
        full = full_key(key, viewer)
        with self._lock:
            if full in self._items:
                self._items.move_to_end(full)
                return self._items[full][0]
        value = data.pages.get(full) if persist and data is not None else MISSING
        if value is not MISSING:
            self._keep(full, value)
        return value

    def _keep(self, full: tuple, value: Any) -> None:
        size = size_of(value)
        with self._lock:
            if full not in self._items:
                self._items[full] = (value, size)
                self._bytes += size
            limit = self.max_bytes
            while self._items and (len(self._items) > self._size or self._bytes > limit):
                _, (_, dropped) = self._items.popitem(last=False)
                self._bytes -= dropped
