"""Establishments as the web layer sees them: loaded on first use and cached for a short
while, so that thousands of establishments cost no more than the ones in use and a busy
login page does not query the establishments table on every request."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

from idp.db import Database
from idp.store import establishments


@dataclass(frozen=True)
class EstablishmentView:
    id: int
    code: str
    name: str
    uai: str
    enabled: bool


class Directory:
    def __init__(self, database: Database, ttl: float = 30.0, size: int = 10_000) -> None:
        self._database = database
        self._ttl = ttl
        self._size = size
        self._entries: dict[str, tuple[float, EstablishmentView | None]] = {}
        self._lock = threading.Lock()

    def get(self, code: str) -> EstablishmentView | None:
        """Blocking (may query): call from a worker thread."""
        # Monotonic time, not the injectable clock: this is a cache, not a business rule.
        now = time.monotonic()
        with self._lock:
            cached = self._entries.get(code)
        if cached and cached[0] > now:
            return cached[1]
        with self._database.session() as session:
            row = establishments.by_code(session, code)
            view = (
                EstablishmentView(row.id, row.code, row.name, row.uai, row.enabled) if row else None
            )
        with self._lock:
            if len(self._entries) >= self._size:
                self._entries.clear()
            self._entries[code] = (now + self._ttl, view)
        return view

    def forget(self, code: str) -> None:
        with self._lock:
            self._entries.pop(code, None)
