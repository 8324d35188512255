"""Request bodies have a size limit: 64 KiB, the CSV import's 10 MiB on its upload, the
logo's 200 KiB (and the form) on its own.

A declared `Content-Length` over the limit is answered 413 before a byte of the body is
read; a body without one (chunked) is counted as the handler reads it, and refused as soon
as it passes the limit, so that nothing ever buffers more than the limit. The modules'
endpoints get an RFC 6749-style JSON error; people get a French page."""

from __future__ import annotations

import re
from dataclasses import dataclass

from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from idp.accounts.imports import MAX_BYTES as IMPORT_MAX_BYTES
from idp.services.looks import MAX_LOGO_BYTES
from idp.web.errors import for_modules, module_error
from idp.web.rendering import render

KIB = 1024
FORM_LIMIT = 64 * KIB
# The file may be IMPORT_MAX_BYTES itself: the multipart framing and the form's other
# fields come on top of it.
UPLOAD_LIMIT = IMPORT_MAX_BYTES + FORM_LIMIT

# The admin console's CSV upload and its logo upload, the only forms that carry a file.
UPLOAD_PATH = re.compile(r"^/[^/]+/admin/(import|look)/?$")
# The logo is at most LOGO_MAX_BYTES (idp.services.looks), with the form around it.
LOGO_PATH = re.compile(r"^/[^/]+/admin/look/?$")
LOGO_LIMIT = MAX_LOGO_BYTES + FORM_LIMIT


class BodyTooLarge(Exception):
    """Raised from `receive` once a streamed body passes its limit; caught by BodyLimit."""


@dataclass(frozen=True)
class Limits:
    form: int = FORM_LIMIT
    upload: int = UPLOAD_LIMIT


class BodyLimit:
    def __init__(self, app: ASGIApp, *, limits: Limits | None = None) -> None:
        self.app = app
        self.limits = limits or Limits()

    def limit_of(self, scope: Scope) -> int:
        if scope["method"] == "POST" and LOGO_PATH.match(scope["path"]):
            return min(LOGO_LIMIT, self.limits.upload)
        if scope["method"] == "POST" and UPLOAD_PATH.match(scope["path"]):
            return self.limits.upload
        return self.limits.form

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not _has_body(scope):
            # Without Content-Length or Transfer-Encoding a request has no body (RFC 9112
            # §6.3): a GET for discovery or the JWKS goes straight through.
            await self.app(scope, receive, send)
            return
        if _multipart(scope) and not (
            scope["method"] == "POST" and UPLOAD_PATH.match(scope["path"])
        ):
            # Only the import takes a file. Elsewhere a multipart body is of no use, and
            # Starlette's parser leaves the temporary file of a part cut short open.
            await refused(scope, 415)(scope, receive, send)
            return
        limit = self.limit_of(scope)
        declared = _content_length(scope)
        if declared is not None and declared > limit:
            await too_large(scope, limit)(scope, receive, send)
            return

        received = 0
        started = False

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLarge
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counting_receive, tracking_send)
        except BodyTooLarge:
            if started:  # too late for another answer; the server closes the connection
                raise
            await too_large(scope, limit)(scope, receive, send)


def _has_body(scope: Scope) -> bool:
    return any(name in (b"content-length", b"transfer-encoding") for name, _ in scope["headers"])


def _content_length(scope: Scope) -> int | None:
    for name, value in scope["headers"]:
        if name == b"content-length":
            # A malformed length is the server's to refuse (uvicorn answers 400 itself).
            return int(value) if value.isdigit() else None
    return None


def _multipart(scope: Scope) -> bool:
    for name, value in scope["headers"]:
        if name == b"content-type":
            return value.split(b";", 1)[0].strip().lower() == b"multipart/form-data"
    return False


def refused(scope: Scope, status: int) -> Response:
    """415: a body of a kind the route does not take."""
    headers = {"Cache-Control": "no-store", "Connection": "close"}
    if for_modules(scope["path"]):
        description = "The body must be application/x-www-form-urlencoded."
        return module_error(status, "invalid_request", description, headers)
    return render(
        Request(scope), "errors/error.html", status_code=status, status=status, headers=headers
    )


def too_large(scope: Scope, limit: int) -> Response:
    headers = {"Cache-Control": "no-store", "Connection": "close"}
    if for_modules(scope["path"]):
        description = f"The request body exceeds {limit} bytes."
        return module_error(413, "invalid_request", description, headers)
    upload = limit > FORM_LIMIT
    return render(
        Request(scope),
        "errors/error.html",
        status_code=413,
        status=413,
        too_large="upload" if upload else "form",
        size=limit // (KIB * KIB) if upload else limit // KIB,
        headers=headers,
    )
