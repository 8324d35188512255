"""Per-process caches, kept fresh across instances.

Establishments, signing keys and the per-establishment Authlib servers are cached in each
process, so that a busy login page does not read them on every request. Any change they
depend on bumps one generation number in the database, in the change's own transaction
(`changed`). Each process reads that number at most every `IDP_CACHE_SECONDS` (`check`, on
the request path) and, when it has moved, drops its caches: a change made through any
instance or the CLI is seen everywhere within that time.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from sqlalchemy.orm import Session

from idp.db import after_commit
from idp.store import generations


class Caches:
    def __init__(self, seconds: float) -> None:
        self._seconds = seconds
        self._seen: int | None = None
        self._next_check = 0.0
        self._clears: list[Callable[[], None]] = []
        self._lock = threading.Lock()
        # Moves at every clear: a value loaded before a clear is not cached after it.
        self.epoch = 0

    def register(self, clear: Callable[[], None]) -> None:
        self._clears.append(clear)

    def due(self) -> bool:
        """Whether the next `check` would read the database (otherwise it does nothing)."""
        return time.monotonic() >= self._next_check

    def check(self, session: Session) -> None:
        """Drop every cache if another process (or this one) changed what they hold."""
        now = time.monotonic()
        if now < self._next_check:
            return
        generation = generations.current(session)
        with self._lock:
            self._next_check = now + self._seconds
            moved = generation != self._seen
            self._seen = generation
        if moved:
            self.clear()

    def changed(self, session: Session) -> None:
        """Record, in the session's transaction, that cached data changed; this process
        drops its caches as soon as the change is committed."""
        generations.bump(session)
        after_commit(session, self.clear)

    def clear(self) -> None:
        with self._lock:
            self.epoch += 1
        for clear in self._clears:
            clear()
