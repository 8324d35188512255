"""What every request carries before any route sees it: an id (a trusted proxy's
X-Request-ID, or a new one), returned in the response and on every log line the request
causes; the security headers (idp.web.middleware); the scheme the client used, from a
trusted proxy's X-Forwarded-Proto; and, when it ends, one log line with its route, status
and latency (at INFO: the access log) and its count and latency in /metrics.

This wraps the whole application, error pages included, so that the line an unhandled
error writes carries the id too, and its page the security headers."""

from __future__ import annotations

import logging
import re
import secrets
import time
from collections.abc import Sequence

from starlette.requests import Request
from starlette.responses import RedirectResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from idp.logs import CURRENT, RequestFields
from idp.metrics import Metrics
from idp.web.client_ip import Network, client_ip, is_trusted
from idp.web.middleware import SecurityHeaders

log = logging.getLogger("idp.request")

# What a proxy's id may look like (a UUID, a hex or base64url string, nginx's $request_id);
# anything else, or anything from a peer that is not a trusted proxy, gets a new id.
_REQUEST_ID = re.compile(rb"[A-Za-z0-9._:+/=-]{1,128}")


class RequestContext:
    def __init__(
        self,
        app: ASGIApp,
        *,
        trusted: Sequence[Network],
        metrics: Metrics,
        security: SecurityHeaders,
        https_base: str | None = None,
    ) -> None:
        """`https_base`: IDP_BASE_URL when it is https; a request a trusted proxy received
        over plain http is then sent there (308), as the proxy should have done."""
        self.app = app
        self.metrics = metrics
        self.security = security
        self.trusted = tuple(trusted)
        self.https_base = https_base.rstrip("/") if https_base else None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        given: bytes | None = None
        proto: str | None = None
        if self.trusted and is_trusted(scope.get("client"), self.trusted):
            given, proto = _from_proxy(scope["headers"])
            if proto is not None:
                scope["scheme"] = proto
        request_id = (
            given.decode("ascii")
            if given is not None and _REQUEST_ID.fullmatch(given)
            else secrets.token_hex(8)
        )
        fields = RequestFields(request_id, scope, lambda: client_ip(Request(scope), self.trusted))
        token = CURRENT.set(fields)
        raw_id = request_id.encode("ascii")
        status = 500  # unless a response starts: an error that escapes every handler

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = self.security.add(message.get("headers", ()))
                headers.append((b"x-request-id", raw_id))
                message["headers"] = headers
            await send(message)

        try:
            if self.https_base is not None and proto == "http":
                await self._to_https(scope, receive, send_with_id)
            else:
                await self.app(scope, receive, send_with_id)
        finally:
            seconds = time.perf_counter() - started
            self.metrics.request(fields.route, fields.method, status, seconds)
            if log.isEnabledFor(logging.INFO):
                latency = round(seconds * 1000, 1)
                log.info(
                    "%s %s %s %.1f ms",
                    fields.method,
                    fields.route or "-",
                    status,
                    latency,
                    extra={"status": status, "latency_ms": latency},
                )
            CURRENT.reset(token)

    async def _to_https(self, scope: Scope, receive: Receive, send: Send) -> None:
        query = scope.get("query_string", b"").decode("latin-1")
        # As sent (still percent-encoded): `/a%3Fb` stays a path, not a query.
        path = (scope.get("raw_path") or scope.get("path", "/").encode()).decode("latin-1")
        target = f"{self.https_base}{path}" + (f"?{query}" if query else "")
        await RedirectResponse(target, status_code=308)(scope, receive, send)


def _from_proxy(headers: Sequence[tuple[bytes, bytes]]) -> tuple[bytes | None, str | None]:
    """A trusted proxy's X-Request-ID and X-Forwarded-Proto (the first proxy's, which saw
    the client: `https, http` is what a chain of two proxies sends)."""
    request_id = proto = None
    for name, value in headers:
        if name == b"x-request-id":
            request_id = value.strip()
        elif name == b"x-forwarded-proto":
            first = value.split(b",", 1)[0].strip().lower()
            if first in (b"http", b"https"):
                proto = first.decode("ascii")
    return request_id, proto
