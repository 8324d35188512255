"""HTML responses from templates, in the request's language."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from starlette.requests import Request
from starlette.responses import HTMLResponse

from idp.i18n import DEFAULT_LOCALE, LOCALES, negotiate, supported
from idp.runtime import Runtime

# The schools' time zone: every date and time a page shows is in it.
PARIS = ZoneInfo("Europe/Paris")


def runtime(request: Request) -> Runtime:
    return request.app.state.runtime


def url(request: Request, name: str, query: dict[str, str] | None = None, **params: Any) -> str:
    """The path of a named route (a relative URL: never built from the Host header)."""
    return runtime(request).urls.path(name, query, **params)


def locale_of(request: Request) -> str:
    """French unless asked otherwise: these are French schools' pages, and a phone set to
    English must not turn the help page's messages into something else. Asked by `lang` in
    the address (the switch on every page, or a module's `ui_locales`, which the
    authorization endpoint turns into it), then by the cookie a switch left."""
    if "lang" in request.query_params:
        return negotiate(request.query_params.get("lang"))
    if asked := supported(request.query_params.get("ui_locales")):
        return asked  # a page the authorization endpoint shows itself (consent, an error)
    kept = request.cookies.get(request.app.state.cookies.language)
    return kept if kept in LOCALES else DEFAULT_LOCALE


def switch_to(request: Request, locale: str, keep: dict[str, str] | None = None) -> str:
    """This page in `locale`: the switch's link. Only a query (`?…`), which the browser
    resolves against this page's own address: a path taken from the request could make it
    a link to another host (`//elsewhere.example`). `keep`: what a page answering a form
    needs in its address (where the sign-in goes next), its query having none of it."""
    query = [(k, v) for k, v in request.query_params.multi_items() if k != "lang"]
    query += [(k, v) for k, v in (keep or {}).items() if v and k not in dict(query)]
    return f"?{urlencode([*query, ('lang', locale)])}"


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
    other = next(language for language in LOCALES if language != locale)
    keep = context.pop("keep", None)
    html = rt.templates.render(
        template,
        locale,
        request=request,
        url=rt.urls.path,
        switch=(other, switch_to(request, other, keep)),
        **context,
    )
    response = HTMLResponse(html, status_code=status_code, headers=headers)
    if no_store:
        response.headers["Cache-Control"] = "no-store"
        response.headers["Pragma"] = "no-cache"
    if "lang" in request.query_params:
        # Remembered: every later page, link, form and redirect is in the chosen language.
        jar = request.app.state.cookies
        jar.set(response, jar.language, locale, max_age=LANGUAGE_DAYS * 86400)
    return response


LANGUAGE_DAYS = 400
