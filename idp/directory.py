"""Establishments as the web layer sees them: loaded on first use and cached until one of
them changes, so that thousands of establishments cost no more than the ones in use and a
busy login page does not query the establishments table on every request."""

from __future__ import annotations

import threading
from dataclasses import dataclass

from sqlalchemy.orm import Session

from idp.accounts.initial_passwords import InitialPasswords
from idp.caches import Caches
from idp.db import detached_copy
from idp.models import Establishment
from idp.store import establishments


@dataclass(frozen=True)
class EstablishmentView:
    id: int
    code: str
    name: str
    uai: str
    enabled: bool
    # Its look (idp.services.looks): the accent colour, whether it has a logo, and a version
    # that changes with them (in the logo's and the theme's addresses, cached by browsers).
    accent: str | None = None
    has_logo: bool = False
    look_version: int = 0
    # What a first sign-in types (the login page's hint follows it).
    initial_passwords: InitialPasswords = InitialPasswords.BIRTH_DATE


class Missing:
    """Not in the cache (None is a cached answer: no such establishment)."""


MISSING = Missing()


class Directory:
    """Establishments by code, as requests see them; kept fresh by `caches` (idp.caches)."""

    def __init__(self, caches: Caches, size: int = 10_000) -> None:
        self._caches = caches
        self._size = size
        self._entries: dict[str, EstablishmentView | None] = {}
        self._rows: dict[int, Establishment] = {}
        self._lock = threading.Lock()
        caches.register(self.clear)

    def peek(self, code: str) -> EstablishmentView | Missing | None:
        """Without blocking: the cached answer, or MISSING when `get` must be called (not
        cached, or the shared generation is due to be checked)."""
        if self._caches.due():
            return MISSING
        with self._lock:
            return self._entries.get(code, MISSING)

    def get(self, session: Session, code: str) -> EstablishmentView | None:
        """Blocking (may query through the request's session): call from a worker thread.
        Every establishment-scoped request comes through here first, so this is where the
        process checks whether another one changed what is cached."""
        self._caches.check(session)
        with self._lock:
            if code in self._entries:
                return self._entries[code]
            epoch = self._caches.epoch
        row = establishments.by_code(session, code)
        view = None
        if row is not None:
            look = establishments.look_of(session, row.id)
            view = EstablishmentView(
                row.id,
                row.code,
                row.name,
                row.uai,
                row.enabled,
                accent=look.accent if look else None,
                has_logo=bool(look and look.logo_type),
                # Microseconds: two changes within one second get two addresses.
                look_version=round(look.updated_at.timestamp() * 1_000_000) if look else 0,
                initial_passwords=row.initial_passwords,
            )
        with self._lock:
            if self._caches.epoch == epoch:
                if len(self._entries) >= self._size:
                    self._entries.clear()
                self._entries[code] = view
        return view

    def row(self, session: Session, establishment_id: int) -> Establishment:
        """The establishment as a row of `session`, without a query once cached: store
        functions take the row, and a sign-in flow needs it in every request."""
        return session.merge(self.snapshot(session, establishment_id), load=False)

    def snapshot(self, session: Session, establishment_id: int) -> Establishment:
        """The cached detached row itself, shared by every thread: for code that only reads
        its columns (the protocol endpoints), which then skips the merge into the session.
        Never to be changed or added to a session."""
        with self._lock:
            snapshot = self._rows.get(establishment_id)
            epoch = self._caches.epoch
        if snapshot is not None:
            return snapshot
        row = session.get(Establishment, establishment_id)
        if row is None:
            raise LookupError(f"no establishment {establishment_id}")
        snapshot = detached_copy(row)
        with self._lock:
            if self._caches.epoch == epoch:
                if len(self._rows) >= self._size:
                    self._rows.clear()
                self._rows[establishment_id] = snapshot
        return snapshot

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self._rows.clear()
