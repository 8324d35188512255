"""`/{code}`: the account page of a signed-in user; `/{code}/logout`: end the session."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from idp.db import in_thread, read
from idp.security.csrf import FIELD, CsrfCheck
from idp.store import clients as client_store
from idp.web import flash
from idp.web.forms import (
    check_csrf,
    client_of,
    cookies,
    csrf_token,
    current_session,
    finish,
    session_token,
)
from idp.web.messages import EXPIRED
from idp.web.navigation import Viewer
from idp.web.pages import resolve_open
from idp.web.rendering import render, url
from idp.web.transactions import db


@dataclass(frozen=True)
class Module:
    """A module of the establishment, as the account page lists it: its name and where it
    lives (the origin of its first web redirect address; a native app has none)."""

    name: str
    address: str | None


def _modules(request: Request, establishment_id: int) -> list[Module]:
    session = db(request)
    row = request.app.state.runtime.directory.row(session, establishment_id)
    found = []
    for client in client_store.all_of(session, row):
        if not client.enabled:
            continue
        web = [urlsplit(u) for u in client.redirect_uris if u.startswith(("https://", "http://"))]
        address = f"{web[0].scheme}://{web[0].netloc}/" if web else None
        found.append(Module(client.name, address))
    return sorted(found, key=lambda m: m.name.casefold())


async def _signed_in_page(request: Request, template: str, *, home: bool = False) -> Response:
    """`home`: the account page itself, which lists the modules and shows the news a
    redirect left (the sign-out page needs neither)."""
    """A page for the signed-in user; without a session, the login page."""
    establishment = await resolve_open(request)
    if isinstance(establishment, Response):
        return establishment
    session = await current_session(request, establishment.id, establishment.code)
    if session is None:
        return RedirectResponse(url(request, "login", code=establishment.code), status_code=303)
    modules = await read(db(request), _modules, request, establishment.id) if home else []
    response = render(
        request,
        template,
        establishment=establishment,
        modules=modules,
        user=session.user,
        viewer=Viewer.of(session.user),
        csrf_field=FIELD,
        csrf_token=csrf_token(request),
        error=None,
        notice=flash.taken(request, establishment.code)[0] if home else None,
    )
    return finish(request, response)


async def home(request: Request) -> Response:
    return await _signed_in_page(request, "account.html", home=True)


async def logout_page(request: Request) -> Response:
    return await _signed_in_page(request, "logout.html")


async def logout(request: Request) -> Response:
    establishment = await resolve_open(request)
    if isinstance(establishment, Response):
        return establishment
    form = await request.form()
    check = await check_csrf(request, str(form.get(FIELD, "")) or None)
    jar = cookies(request)
    token = session_token(request, establishment.code)
    if check is not CsrfCheck.OK:
        session = await current_session(request, establishment.id, establishment.code)
        if session is None:
            return RedirectResponse(url(request, "login", code=establishment.code), status_code=303)
        response = render(
            request,
            "logout.html",
            establishment=establishment,
            user=session.user,
            csrf_field=FIELD,
            csrf_token=csrf_token(request),
            error=EXPIRED,
            status_code=200 if check is CsrfCheck.EXPIRED else 403,
        )
        return finish(request, response)
    await in_thread(
        db(request),
        request.app.state.signin.end_session,
        db(request),
        establishment.id,
        token,
        client_of(request),
    )
    response = RedirectResponse(
        url(request, "login", {"logged_out": "1"}, code=establishment.code), status_code=303
    )
    jar.delete(response, jar.session(establishment.code))
    jar.delete(response, jar.flash)  # nothing of this person's for the next one
    return finish(request, response)
