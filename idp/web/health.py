"""Probes for the load balancer and the orchestrator, and the metrics for Prometheus."""

from __future__ import annotations

import hmac
import ipaddress
import logging

from sqlalchemy.exc import SQLAlchemyError
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from idp import schema
from idp.metrics import CONTENT_TYPE
from idp.web.client_ip import client_ip
from idp.web.rendering import runtime

log = logging.getLogger(__name__)
_NO_STORE = {"Cache-Control": "no-store"}


async def healthz(request: Request) -> Response:
    """The process is up and serving."""
    return JSONResponse({"status": "ok"}, headers=_NO_STORE)


async def readyz(request: Request) -> Response:
    """The database answers and its schema is the one this code expects."""
    database = runtime(request).database
    try:
        up_to_date = await run_in_threadpool(schema.is_up_to_date, database.engine)
    except SQLAlchemyError as exc:
        log.warning("readyz: database unreachable: %s", type(exc).__name__)
        return JSONResponse(
            {"status": "unavailable", "database": "unreachable"}, 503, headers=_NO_STORE
        )
    if not up_to_date:
        return JSONResponse(
            {"status": "unavailable", "database": "schema not up to date: run `idp db upgrade`"},
            503,
            headers=_NO_STORE,
        )
    if not await run_in_threadpool(_keys_open, request):
        log.error("readyz: the signing keys do not decrypt with this instance's IDP_SECRET_KEY")
        return JSONResponse(
            {
                "status": "unavailable",
                "database": "ok",
                "keys": "the signing keys do not decrypt with this IDP_SECRET_KEY",
            },
            503,
            headers=_NO_STORE,
        )
    return JSONResponse({"status": "ok", "database": "ok", "keys": "ok"}, headers=_NO_STORE)


def _keys_open(request: Request) -> bool:
    rt = runtime(request)
    with rt.database.session(write=False) as session:
        return bool(rt.keys.decrypts(session))


async def metrics(request: Request) -> Response:
    """The Prometheus text format, for this process or, with several workers, all of them.
    Served to loopback; to a scraper elsewhere only with IDP_METRICS_TOKEN as a bearer
    token or from IDP_METRICS_ALLOW (a request through a trusted proxy is judged by the
    address the proxy received it from, not by the proxy's)."""
    if not _may_scrape(request):
        return JSONResponse(
            {"error": "forbidden", "error_description": _REFUSED}, 403, headers=_NO_STORE
        )
    body = await run_in_threadpool(runtime(request).metrics.exposition)
    return Response(body, media_type=CONTENT_TYPE, headers=_NO_STORE)


_REFUSED = "Metrics are served to loopback, IDP_METRICS_ALLOW or an IDP_METRICS_TOKEN bearer."


def _may_scrape(request: Request) -> bool:
    settings = request.app.state.settings
    if settings.metrics_token:
        given = request.headers.get("authorization", "")
        expected = f"Bearer {settings.metrics_token}"
        if hmac.compare_digest(given.encode(), expected.encode()):
            return True
    address = client_ip(request, settings.trusted_proxies)
    try:
        parsed = ipaddress.ip_address(address or "")
    except ValueError:
        return False
    if any(parsed in net for net in settings.metrics_allow):
        return True
    # Loopback, unless it is a proxy on this machine that IDP_TRUSTED_PROXIES does not name,
    # forwarding someone else's request: that someone is not known to be local.
    forwarded = "x-forwarded-for" in request.headers or "forwarded" in request.headers
    return parsed.is_loopback and not (forwarded and address == _peer(request))


def _peer(request: Request) -> str | None:
    return request.client.host if request.client else None
