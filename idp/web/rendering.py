"""HTML responses from templates, in the request's language."""

from __future__ import annotations

from typing import Any
from zoneinfo import ZoneInfo

from starlette.requests import Request
from starlette.responses import HTMLResponse

from idp.i18n import DEFAULT_LOCALE, negotiate
from idp.runtime import Runtime

# The schools' time zone: every date and time a page shows is in it.
PARIS = ZoneInfo("Europe/Paris")


def runtime(request: Request) -> Runtime:
    return request.app.state.runtime


def url(request: Request, name: str, query: dict[str, str] | None = None, **params: Any) -> str:
    """The path of a named route (a relative URL: never built from the Host header)."""
    return runtime(request).urls.path(name, query, **params)


def locale_of(request: Request) -> str:
    # French unless explicitly asked otherwise: these are French schools' pages, and a
    # phone set to English must not turn the help page's messages into something else.
    return (
        negotiate(request.query_params.get("lang"))
        if "lang" in request.query_params
        else DEFAULT_LOCALE
    )


def render(
    request: Request,
    template: str,
    *,
    status_code: int = 200,
    no_store: bool = False,
    headers: dict[str, str] | None = None,
    **context: Any,
) -> HTMLResponse:
    locale = locale_of(request)
    rt = runtime(request)
    html = rt.templates.render(template, locale, request=request, url=rt.urls.path, **context)
    response = HTMLResponse(html, status_code=status_code, headers=headers)
    if no_store:
        response.headers["Cache-Control"] = "no-store"
        response.headers["Pragma"] = "no-cache"
    return response
