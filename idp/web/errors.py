"""Error pages: French, for people; the detail goes to the log only."""

from __future__ import annotations

import logging

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from idp.errors import IdpError
from idp.web.rendering import render

log = logging.getLogger(__name__)


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
