"""Error pages: French, for people; the detail goes to the log only."""

from __future__ import annotations

import logging
import re

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from idp import db
from idp.errors import IdpError, Unavailable
from idp.i18n import Message
from idp.web.rendering import render

log = logging.getLogger(__name__)

# The addresses modules call from their back ends, which answer errors in JSON (RFC 6749
# §5.2; §4.1.2.1's temporarily_unavailable for a 503); the others are people's pages. By
# path, not by route: BodyLimit answers before the request is routed.
MODULE_PATH = re.compile(
    r"^(?:/[^/]+/oidc/(?:token|userinfo|revoke|introspect|jwks)"
    r"|/[^/]+/\.well-known/openid-configuration"
    r"|/\.well-known/oauth-authorization-server/[^/]+)/?$"
)
# Seconds after which a client may try again: about how long an outage we ride out takes
# to be noticed (the database timeout), not a promise.
RETRY_AFTER = "5"


def for_modules(path: str) -> bool:
    return MODULE_PATH.match(path) is not None


def module_error(
    status: int, error: str, description: str | None = None, headers: dict[str, str] | None = None
) -> JSONResponse:
    body = (
        {"error": error}
        if description is None
        else {"error": error, "error_description": description}
    )
    return JSONResponse(body, status, headers={"Cache-Control": "no-store", **(headers or {})})


def _unavailable(request: Request, message: Message | None = None) -> Response:
    headers = {"Retry-After": RETRY_AFTER, "Cache-Control": "no-store"}
    if for_modules(request.url.path):
        return module_error(503, "temporarily_unavailable", headers=headers)
    return render(
        request,
        "errors/error.html",
        status_code=503,
        status=503,
        message=message,
        headers=headers,
    )


async def http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    if exc.status_code == 404:
        return render(request, "errors/not_found.html", status_code=404)
    return render(
        request,
        "errors/error.html",
        status_code=exc.status_code,
        status=exc.status_code,
        headers=getattr(exc, "headers", None),
    )


async def idp_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, IdpError)
    log.warning("%s on %s: %s", type(exc).__name__, request.url.path, exc.detail)
    if isinstance(exc, Unavailable):
        return _unavailable(request, exc.public)
    return render(
        request,
        "errors/error.html",
        status_code=exc.status_code,
        status=exc.status_code,
        message=exc.public,
    )


async def server_error(request: Request, exc: Exception) -> Response:
    log.exception("unhandled error on %s", request.url.path, exc_info=exc)
    return render(request, "errors/error.html", status_code=500, status=500)


async def database_error(request: Request, exc: Exception) -> Response:
    """The database away, silent or saturated: a 503 and one line in the log, not a stack
    trace per request while it lasts. Any other database error is a fault of ours: raised
    again, for server_error's 500 and its stack trace."""
    if db.holds_nul(exc):
        # PostgreSQL stores no NUL in text; SQLite would simply have found nothing. Bad
        # input, not a fault of ours.
        log.warning("NUL in a value on %s: 400", request.url.path)
        if for_modules(request.url.path):
            return module_error(400, "invalid_request", "A value holds a NUL character.")
        return render(request, "errors/error.html", status_code=400, status=400)
    if not db.unavailable(exc):
        raise exc
    orig = getattr(exc, "orig", None)
    # The classes only: a driver's message may quote a statement.
    cause = type(orig).__name__ if orig is not None else type(exc).__name__
    log.warning("database unavailable on %s (%s): 503", request.url.path, cause)
    return _unavailable(request)
