"""Sign-in sessions for the web app: held in the store (gpcluster.store.sessions), looked up through a
small in-memory cache so a page costs no database round trip.

* Sign-out, disabling an account, a password change or an administrator ending sessions take effect at
  once in this process (the cache entry is dropped with the store row), and in other server processes
  (`gpcluster serve --workers 2`, or the CLI) within `session_recheck_seconds`, when they next check
  the store.
* Idle and absolute timeouts (`session_idle_timeout`, `session_max_age`) are checked on every request
  against the cached times; the last-seen time is written back to the store at most once a minute.
* A token found ended is remembered as ended (it can never become valid again), so replaying an old
  cookie costs no database work either.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from gpcluster import config
from gpcluster.store import sessions as stored
from gpcluster.web.access import Viewer

#: most sessions remembered per process (least recently used are forgotten first, then re-read)
CACHE_SIZE = 20_000


@dataclass
class _Entry:
    checked: float  # time.monotonic() of the last look at the store
    viewer: Viewer | None  # None: ended for good
    created: float = 0.0  # epoch seconds
    last_seen: float = 0.0


class SessionCache:
    """Start, look up and end store-held sessions, with an in-process cache in front of the store."""

    def __init__(self, store, load_viewer: Callable[[int], Viewer | None], clock: Callable[[], float] = time.time):
        self.store = store
        self._load_viewer = load_viewer
        self._clock = clock
        self._entries: OrderedDict[str, _Entry] = OrderedDict()
        self._lock = threading.Lock()

    def _now(self) -> datetime:
        return datetime.fromtimestamp(self._clock(), UTC)

    def start(self, user_id: int, ip: str | None) -> str:
        """A new session for the user; returns the token to put in the cookie."""
        with self.store.session() as session:
            return stored.start(session, user_id, ip, now=self._now())

    def viewer(self, token: str) -> Viewer | None:
        """The signed-in viewer for a session token, or None when the session has ended."""
        now = self._clock()
        with self._lock:
            entry = self._entries.get(token)
            if entry is not None:
                self._entries.move_to_end(token)
        if entry is not None and entry.viewer is None:
            return None
        limits = stored.SessionLimits.from_settings()
        recheck = float(config.get("session_recheck_seconds"))
        if entry is not None and time.monotonic() - entry.checked < recheck:
            if (now - entry.created >= limits.max_age.total_seconds()
                    or now - entry.last_seen >= limits.idle.total_seconds()):
                self.end(token)
                return None
            entry.last_seen = now
            return entry.viewer
        seen = datetime.fromtimestamp(entry.last_seen, UTC) if entry is not None else None
        with self.store.session() as session:
            live = stored.check(session, token, now=self._now(), seen_at=seen, limits=limits)
        viewer = self._load_viewer(live.user_id) if live is not None else None
        fresh = _Entry(time.monotonic(), viewer)
        if live is not None and viewer is not None:
            fresh.created, fresh.last_seen = live.created_at.timestamp(), now
        self._remember(token, fresh)
        return viewer

    def _remember(self, token: str, entry: _Entry) -> None:
        with self._lock:
            self._entries[token] = entry
            self._entries.move_to_end(token)
            while len(self._entries) > CACHE_SIZE:
                self._entries.popitem(last=False)

    def end(self, token: str) -> None:
        """Sign-out: end the session in the store and in this process."""
        with self.store.session() as session:
            stored.end(session, token)
        self._remember(token, _Entry(time.monotonic(), None))

    def end_for_user(self, user_id: int) -> int:
        """End every session of an account (disable, password change, administrator); returns how many
        were open in the store."""
        with self.store.session() as session:
            ended = stored.end_for_user(session, user_id)
        self.forget_user(user_id, ended=True)
        return ended

    def forget_user(self, user_id: int, ended: bool = False) -> None:
        """Drop this process's cached copies of a user's sessions: `ended` marks them ended for good,
        otherwise they are re-read on the next request (role or scope changed)."""
        with self._lock:
            for token, entry in self._entries.items():
                if entry.viewer is not None and entry.viewer.user_id == user_id:
                    self._entries[token] = _Entry(time.monotonic(), None) if ended else _Entry(0.0, entry.viewer)
