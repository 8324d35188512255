"""Paths and public URLs, built from the names of the route table (idp/web/routes.py): a URL
is spelled once, in the route that serves it. Pages, redirects, mails, the discovery document
and the audiences of client assertions all ask here."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import urlencode

from starlette.routing import BaseRoute, NoMatchFound, Router


class Urls:
    def __init__(self, base_url: str) -> None:
        self._base = base_url.rstrip("/")
        self._router: Router | None = None
        # (name, parameter names) → the route that answers: Starlette's router asks each
        # route in turn, each refusal an exception, and a page builds a dozen paths.
        self._found: dict[tuple[str, frozenset[str]], BaseRoute] = {}

    def path(self, name: str, query: Mapping[str, str] | None = None, **params: Any) -> str:
        """The path of route `name` (e.g. `path("login", code="lp-a")`), with a query."""
        values = {k: str(v) for k, v in params.items()}
        path = str(self._route(name, values).url_path_for(name, **values))
        return f"{path}?{urlencode(query)}" if query else path

    def public(self, name: str, query: Mapping[str, str] | None = None, **params: Any) -> str:
        """The absolute URL under IDP_BASE_URL (issuers, discovery, mails)."""
        return self._base + self.path(name, query, **params)

    def _route(self, name: str, values: dict[str, str]) -> BaseRoute:
        """The first route of the table that builds `name` from these parameters: which
        one depends on the name and the parameters' names alone, never on their values."""
        key = (name, frozenset(values))
        route = self._found.get(key)
        if route is None:
            for candidate in self._routes().routes:
                try:
                    candidate.url_path_for(name, **values)
                except NoMatchFound:
                    continue
                route = self._found[key] = candidate
                break
            else:
                raise NoMatchFound(name, values)
        return route

    def _routes(self) -> Router:
        if self._router is None:
            # Imported on first use: the route table imports the handlers, and they import
            # the layers that ask here.
            from idp.web.routes import routes

            self._router = Router(routes=routes())
        return self._router
