"""One EstablishmentServer per establishment, built on first use and cached, so that the
issuer, keys and clients are that establishment's and idle establishments cost nothing."""

from __future__ import annotations

import threading

from idp.oauth.server import EstablishmentServer, Lifetimes
from idp.runtime import Runtime

# Establishments whose servers one process keeps at most; thousands fit.
_MAX_SERVERS = 10_000


class Servers:
    def __init__(self, rt: Runtime, lifetimes: Lifetimes | None = None) -> None:
        self._rt = rt
        settings = rt.settings
        self.lifetimes = lifetimes or Lifetimes(
            access_token=settings.access_token_lifetime,
            id_token=settings.id_token_lifetime,
            refresh_token=settings.refresh_token_lifetime,
        )
        self._servers: dict[int, EstablishmentServer] = {}
        self._lock = threading.Lock()
        rt.caches.register(self.clear)

    def get(self, establishment_id: int, code: str) -> EstablishmentServer:
        with self._lock:
            server = self._servers.get(establishment_id)
            if server is None or server.code != code:
                server = EstablishmentServer(self._rt, establishment_id, code, self.lifetimes)
                if len(self._servers) >= _MAX_SERVERS:
                    self._servers.clear()  # a bound, not an eviction policy
                self._servers[establishment_id] = server
            return server

    def clear(self) -> None:
        with self._lock:
            self._servers.clear()
