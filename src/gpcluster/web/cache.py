"""A bounded cache of released results, keyed by what determines them: the request's parameters, the
viewer's scope (never just the user), the disclosure settings and the warehouse version the request
reads (a new version published by a load is served fresh)."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any

from gpcluster import config
from gpcluster.web.access import Viewer
from gpcluster.web.data import pinned_version

CACHE_SIZE = 256


def scope_key(viewer: Viewer) -> tuple:
    """Everything about a viewer that changes what `release` shows them."""
    return (viewer.scope_level, viewer.scope_code, tuple(sorted(viewer.own_cluster_by_period.items())))


class ReleasedCache:
    """Least-recently-used cache; safe to share between request threads."""

    def __init__(self, size: int = CACHE_SIZE):
        self._items: OrderedDict[Hashable, Any] = OrderedDict()
        self._lock = threading.Lock()
        self._size = size
        self._building: dict[Hashable, threading.Lock] = {}

    def get(self, key: Hashable, viewer: Viewer, build: Callable[[], Any]) -> Any:
        """The cached result for (key, viewer's scope, disclosure settings), building it when absent."""
        full = (key, scope_key(viewer), config.get("disclosure_threshold"), config.get("suppress_zeros"),
                config.get("disclosure_min_group"), pinned_version())  # a new warehouse version never serves the old one's results
        with self._lock:
            if full in self._items:
                self._items.move_to_end(full)
                return self._items[full]
            building = self._building.setdefault(full, threading.Lock())
        # one build per key: concurrent first requests for the same page wait for it instead of all
        # computing it at once (50 simultaneous builds stalled the server for seconds)
        with building:
            with self._lock:
                if full in self._items:
                    return self._items[full]
            try:
                value = build()
            finally:
                with self._lock:
                    self._building.pop(full, None)
            with self._lock:
                self._items[full] = value
                while len(self._items) > self._size:
                    self._items.popitem(last=False)
        return value
