"""What every form page shares: the pre-session cookie and its CSRF token, safe `next`
targets, and the signed-in session."""

from __future__ import annotations

import re
from urllib.parse import unquote

from starlette.requests import Request
from starlette.responses import Response

from idp.db import in_thread
from idp.security.cookies import Cookies
from idp.security.csrf import Csrf, CsrfCheck
from idp.security.signing import Expired, Invalid
from idp.services.signin import Client
from idp.web.client_ip import client_ip
from idp.web.transactions import db


def cookies(request: Request) -> Cookies:
    return request.app.state.cookies


def csrf(request: Request) -> Csrf:
    return request.app.state.csrf


def presession_id(request: Request) -> str:
    """The browser's pre-session id; a new one (set by `finish`) if it has none."""
    existing = request.cookies.get(cookies(request).presession)
    if existing:
        return existing
    if not hasattr(request.state, "new_presession"):
        request.state.new_presession = Csrf.new_presession_id()
    return request.state.new_presession


def csrf_token(request: Request) -> str:
    return csrf(request).token(presession_id(request))


async def check_csrf(request: Request, token: str | None) -> CsrfCheck:
    return csrf(request).check(token, request.cookies.get(cookies(request).presession))


def finish(request: Request, response: Response) -> Response:
    """Set the pre-session cookie if this response created one; forms are never cached."""
    new = getattr(request.state, "new_presession", None)
    if new:
        cookies(request).set(response, cookies(request).presession, new, max_age=None)
    if getattr(request.state, "flash_taken", False):
        cookies(request).delete(response, cookies(request).flash)  # shown once (idp.web.flash)
    response.headers["Cache-Control"] = "no-store"
    response.headers["Pragma"] = "no-cache"
    return response


_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def safe_next(code: str, target: str | None) -> str:
    """Only a path of this establishment: never another host, never another school."""
    home = f"/{code}"
    if not target or not isinstance(target, str):
        return home
    path = unquote(target.split("?", 1)[0])
    if (
        not target.startswith(f"/{code}/")
        or target.startswith("//")
        or "\\" in path
        or _CONTROL.search(target)
        # `/lp-a/../lp-b/…` would land at another establishment once the browser resolves it.
        or any(segment in (".", "..") for segment in path.split("/"))
    ):
        return home
    return target


def client_of(request: Request) -> Client:
    settings = request.app.state.settings
    return Client(
        ip=client_ip(request, settings.trusted_proxies),
        user_agent=request.headers.get("user-agent"),
    )


def session_token(request: Request, code: str) -> str | None:
    """The SSO session token of this establishment's cookie, if its signature holds."""
    raw = request.cookies.get(cookies(request).session(code))
    settings = request.app.state.settings
    try:
        token = request.app.state.session_signer.unsign(
            raw, max_age=settings.session_absolute.total_seconds()
        )
    except (Expired, Invalid):
        return None
    return token if isinstance(token, str) else None


def set_session_cookie(request: Request, response: Response, code: str, token: str) -> None:
    settings = request.app.state.settings
    jar = cookies(request)
    jar.set(
        response,
        jar.session(code),
        request.app.state.session_signer.sign(token),
        max_age=int(settings.session_absolute.total_seconds()),
    )


async def current_session(request: Request, establishment_id: int, code: str):  # type: ignore[no-untyped-def]
    """The signed-in SSO session at this establishment, or None."""
    return await in_thread(
        db(request),
        request.app.state.signin.current_session,
        db(request),
        establishment_id,
        session_token(request, code),
    )
