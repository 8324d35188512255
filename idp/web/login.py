"""`/{code}/login`: the establishment's sign-in page (help page, « Comment me connecter »)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from idp.directory import EstablishmentView
from idp.i18n import Message
from idp.security.csrf import FIELD, CsrfCheck
from idp.security.signing import Expired, Invalid
from idp.services.signin import Client, Result, SignIn
from idp.web.forms import (
    check_csrf,
    client_of,
    cookies,
    csrf_token,
    finish,
    safe_next,
    session_token,
    set_session_cookie,
)
from idp.web.messages import (
    BAD_PASSWORD,
    CHANGED,
    EXPIRED,
    INACTIVE,
    INITIAL_EXPIRED,
    LOGGED_OUT,
    MISSING_LOGIN,
    MISSING_PASSWORD,
    UNKNOWN_LOGIN,
    too_many,
)
from idp.web.oidc import asking_module
from idp.web.pages import resolve_open
from idp.web.password import start_forced_change
from idp.web.rendering import render
from idp.web.transactions import db

KNOWN_DEVICES_MAX = 10
KNOWN_DEVICE_DAYS = 400


def signin(request: Request) -> SignIn:
    return request.app.state.signin


async def login_page(
    request: Request,
    establishment: EstablishmentView,
    *,
    login: str = "",
    next_url: str = "",
    error: Message | None = None,
    missing: dict[str, Message] | None = None,
    temporary_pending: bool = False,
    notice: Message | None = None,
    status_code: int = 200,
    headers: dict[str, str] | None = None,
) -> Response:
    # Which module is waiting, and a way back to it that tells it so.
    module = await asking_module(request, establishment, next_url) if next_url else None
    response = render(
        request,
        "login.html",
        module=module,
        # After a POST, the switch keeps where the sign-in goes next (its form had it).
        keep={"next": next_url, "login_hint": login} if request.method == "POST" else None,
        status_code=status_code,
        headers=headers,
        establishment=establishment,
        login=login,
        next_url=next_url,
        error=error,
        missing=missing or {},
        temporary_pending=temporary_pending,
        notice=notice,
        # A changed password is good news, not a warning.
        notice_style="success" if notice is CHANGED else "notice",
        csrf_field=FIELD,
        csrf_token=csrf_token(request),
        # Worked out here, not with `{% set %}` in the template: a block's own variables
        # make Jinja copy the whole context at each later call of `_()` or `url()`.
        login_invalid="login" in (missing or {}) or _is(error, UNKNOWN_LOGIN),
        password_invalid="password" in (missing or {}) or _is(error, BAD_PASSWORD),
    )
    return finish(request, response)


def _is(error: Message | None, message: Message) -> bool:
    return error is not None and error.text == message.text


async def show(request: Request) -> Response:
    establishment = await resolve_open(request)
    if isinstance(establishment, Response):
        return establishment
    next_url = safe_next(establishment.code, request.query_params.get("next"))
    notice: Message | None = None
    if request.query_params.get("changed") == "1":
        notice = CHANGED
    elif request.query_params.get("logged_out") == "1":
        notice = LOGGED_OUT
    return await login_page(
        request,
        establishment,
        login=request.query_params.get("login_hint", "")[:100],
        next_url=next_url,
        notice=notice,
    )


async def submit(request: Request) -> Response:
    establishment = await resolve_open(request)
    if isinstance(establishment, Response):
        return establishment
    form = await request.form()
    typed_login = str(form.get("login", ""))[:200]
    password = str(form.get("password", ""))[:1024]
    next_url = safe_next(establishment.code, str(form.get("next", "")) or None)
    check = await check_csrf(request, str(form.get(FIELD, "")) or None)
    if check is not CsrfCheck.OK:
        return await login_page(
            request,
            establishment,
            login=typed_login,
            next_url=next_url,
            error=EXPIRED,
            status_code=200 if check is CsrfCheck.EXPIRED else 403,
        )

    missing = {}
    if not typed_login.strip():
        missing["login"] = MISSING_LOGIN
    if not password:
        missing["password"] = MISSING_PASSWORD
    if missing:
        return await login_page(
            request, establishment, login=typed_login.strip(), next_url=next_url, missing=missing
        )

    jar = cookies(request)
    client = client_of(request)
    # The failures this exemption allows are counted in the database (SignIn), not here.
    known = _known_devices(request, establishment.code)
    client = Client(client.ip, client.user_agent, frozenset(known))
    old = session_token(request, establishment.code)
    attempt = await signin(request).authenticate(
        db(request),
        establishment.id,
        typed_login,
        password,
        client,
        open_session=True,
        replacing=old,
    )

    if attempt.result is Result.THROTTLED:
        return await login_page(
            request,
            establishment,
            login=typed_login,
            next_url=next_url,
            error=too_many(attempt.retry_after),
            status_code=429,
            headers={"Retry-After": str(attempt.retry_after)},
        )
    if attempt.result is Result.UNKNOWN_LOGIN:
        return await login_page(
            request, establishment, login=typed_login, next_url=next_url, error=UNKNOWN_LOGIN
        )
    if attempt.result is Result.BAD_PASSWORD:
        return await login_page(
            request,
            establishment,
            login=typed_login,
            next_url=next_url,
            error=INITIAL_EXPIRED if attempt.initial_expired else BAD_PASSWORD,
            temporary_pending=attempt.temporary_pending,
        )
    if attempt.result is Result.INACTIVE:
        return await login_page(
            request,
            establishment,
            login=typed_login,
            next_url=next_url,
            error=INACTIVE,
        )
    assert attempt.user_id is not None
    if attempt.result is Result.MUST_CHANGE:
        return await start_forced_change(
            request, establishment, attempt.user_id, next_url, temporary=attempt.temporary
        )

    # Signed in: a new session id (the old one, if any, ended), and this browser is now a
    # known device for the account.
    assert attempt.opened is not None
    token, entry = attempt.opened
    response = RedirectResponse(next_url, status_code=303)
    set_session_cookie(request, response, establishment.code, token)
    sub = entry.split(":", 1)[0]
    others = [e for e in known if not e.startswith(f"{sub}:")]
    _set_devices(request, response, establishment.code, [entry, *others][:KNOWN_DEVICES_MAX])
    jar.delete(response, jar.password_change(establishment.code))
    jar.delete(response, jar.flash)  # a message left for someone else on this browser
    return finish(request, response)


def _known_devices(request: Request, code: str) -> list[str]:
    """This browser's known-device entries, `sub:password stamp` (an entry of an older
    cookie is a pair whose second item, a failure count, is ignored now)."""
    raw = request.cookies.get(cookies(request).known_device(code))
    try:
        value = request.app.state.device_signer.unsign(raw, max_age=KNOWN_DEVICE_DAYS * 86400)
    except (Expired, Invalid):
        return []
    if not isinstance(value, list):
        return []
    entries = [item[0] if isinstance(item, list) and item else item for item in value]
    return [entry for entry in entries if isinstance(entry, str)]


def _set_devices(request: Request, response: Response, code: str, entries: list[str]) -> None:
    jar = cookies(request)
    jar.set(
        response,
        jar.known_device(code),
        request.app.state.device_signer.sign(entries),
        max_age=KNOWN_DEVICE_DAYS * 86400,
    )
