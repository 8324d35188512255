"""`/{code}/password/change`: the forced change at first sign-in (initial, generated or
temporary password) and the voluntary change of a signed-in user.

A forced change opens no session: the login step leaves a signed, short-lived ticket bound
to the password being replaced; after the change the user signs in again with the new
password (help page: « vous devrez vous reconnecter »), and a pending `next` survives.
"""

from __future__ import annotations

import functools

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from idp.accounts.password_policy import PasswordOwner
from idp.accounts.roles import Role
from idp.db import read
from idp.directory import EstablishmentView
from idp.security.csrf import FIELD, CsrfCheck
from idp.security.signing import Expired, Invalid
from idp.services.signin import Result
from idp.web import flash
from idp.web.forms import (
    check_csrf,
    client_of,
    cookies,
    csrf_token,
    current_session,
    finish,
    safe_next,
    session_token,
    set_session_cookie,
)
from idp.web.messages import CHANGED_HERE, EXPIRED, WRONG_CURRENT, too_many
from idp.web.navigation import Viewer
from idp.web.pages import resolve_open
from idp.web.rendering import render, url
from idp.web.transactions import db

TICKET_SECONDS = 15 * 60


async def start_forced_change(
    request: Request,
    establishment: EstablishmentView,
    user_id: int,
    next_url: str,
    *,
    temporary: bool = False,
) -> Response:
    service = request.app.state.signin
    found = await read(db(request), service.owner, db(request), user_id)
    assert found is not None
    _, fingerprint = found
    ticket = request.app.state.ticket_signer.sign(
        {"e": establishment.id, "u": user_id, "f": fingerprint, "n": next_url, "t": temporary}
    )
    response = RedirectResponse(
        url(request, "password_change", code=establishment.code), status_code=303
    )
    jar = cookies(request)
    jar.set(response, jar.password_change(establishment.code), ticket, max_age=TICKET_SECONDS)
    return finish(request, response)


def _ticket(request: Request, establishment: EstablishmentView) -> dict | None:  # type: ignore[type-arg]
    raw = request.cookies.get(cookies(request).password_change(establishment.code))
    try:
        value = request.app.state.ticket_signer.unsign(raw, max_age=TICKET_SECONDS)
    except (Expired, Invalid):
        return None
    if not isinstance(value, dict) or value.get("e") != establishment.id:
        return None
    return value


def _greeted(user: PasswordOwner) -> str:
    """The name a page greets: the first name; the admin account has none (its login)."""
    return user.login if user.role is Role.ADMIN else user.first_name


def _page(
    request: Request,
    establishment: EstablishmentView,
    *,
    forced: bool,
    login: str,
    first_name: str = "",
    error: str | None = None,
    viewer: Viewer | None = None,
    status_code: int = 200,
) -> Response:
    response = render(
        request,
        "password_change.html",
        status_code=status_code,
        establishment=establishment,
        forced=forced,
        login=login,
        first_name=first_name,
        error=error,
        viewer=viewer,
        csrf_field=FIELD,
        csrf_token=csrf_token(request),
        min_length=request.app.state.signin.policy.min_length,
    )
    return finish(request, response)


async def show(request: Request) -> Response:
    establishment = await resolve_open(request)
    if isinstance(establishment, Response):
        return establishment
    ticket = _ticket(request, establishment)
    if ticket is not None:
        found = await read(db(request), request.app.state.signin.owner, db(request), ticket["u"])
        if found is not None:
            return _page(
                request,
                establishment,
                forced=True,
                login=found[0].login,
                first_name=_greeted(found[0]),
            )
    session = await current_session(request, establishment.id, establishment.code)
    if session is None:
        return RedirectResponse(url(request, "login", code=establishment.code), status_code=303)
    return _page(
        request,
        establishment,
        forced=False,
        login=session.user.login,
        viewer=Viewer.of(session.user),
    )


async def submit(request: Request) -> Response:
    establishment = await resolve_open(request)
    if isinstance(establishment, Response):
        return establishment
    form = await request.form()
    new = str(form.get("new_password", ""))[:1024]
    confirmation = str(form.get("new_password_confirmation", ""))[:1024]
    current = str(form.get("current_password", ""))[:1024]
    service = request.app.state.signin
    client = client_of(request)
    jar = cookies(request)

    ticket = _ticket(request, establishment)
    session = (
        None if ticket else await current_session(request, establishment.id, establishment.code)
    )
    if ticket is None and session is None:
        return RedirectResponse(url(request, "login", code=establishment.code), status_code=303)
    user_id: int = ticket["u"] if ticket else session.user_id  # type: ignore[union-attr]
    found = await read(db(request), service.owner, db(request), user_id)
    if found is None:
        return RedirectResponse(url(request, "login", code=establishment.code), status_code=303)
    login, first_name = found[0].login, _greeted(found[0])
    forced = ticket is not None
    viewer = None if session is None else Viewer.of(session.user)
    # The page again, with what was typed refused and why.
    again = functools.partial(
        _page,
        request,
        establishment,
        viewer=viewer,
        forced=forced,
        login=login,
        first_name=first_name,
    )

    check = await check_csrf(request, str(form.get(FIELD, "")) or None)
    if check is not CsrfCheck.OK:
        return again(error=EXPIRED, status_code=200 if check is CsrfCheck.EXPIRED else 403)
    if not forced:
        attempt = await service.verify_current(
            db(request), establishment.id, user_id, current, client
        )
        if attempt.result is Result.THROTTLED:
            return again(error=too_many(attempt.retry_after), status_code=429)
        if attempt.result is not Result.OK:
            return again(error=WRONG_CURRENT)

    refusal = await service.check_new_password(
        db(request), user_id, new, confirmation, None if forced else current
    )
    if refusal is not None:
        return again(error=refusal.message)

    if forced:
        assert ticket is not None
        changed = await service.change_password(
            db(request),
            establishment.id,
            user_id,
            new,
            client,
            expected_fingerprint=ticket["f"],
            via_temporary=bool(ticket.get("t")),
        )
        if not changed.done:
            # The password changed meanwhile (another tab, a reset): start over.
            response = RedirectResponse(
                url(request, "login", code=establishment.code), status_code=303
            )
            jar.delete(response, jar.password_change(establishment.code))
            return finish(request, response)
        query = {"changed": "1", "login_hint": login}
        target = safe_next(establishment.code, ticket.get("n"))
        if target != url(request, "establishment", code=establishment.code):
            query["next"] = target
        response = RedirectResponse(
            url(request, "login", query, code=establishment.code), status_code=303
        )
        jar.delete(response, jar.password_change(establishment.code))
        return finish(request, response)

    token = session_token(request, establishment.code)
    changed = await service.change_password(
        db(request), establishment.id, user_id, new, client, keep_session=token
    )
    # Then the account page says so: reloading it sends nothing again.
    response = flash.redirect(
        request,
        url(request, "establishment", code=establishment.code),
        establishment.code,
        notice=CHANGED_HERE,
    )
    if changed.session_token is not None:
        set_session_cookie(request, response, establishment.code, changed.session_token)
    return response
