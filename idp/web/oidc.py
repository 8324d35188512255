"""The protocol endpoints of `/{code}/oidc/…` and discovery. Handlers parse, call the
establishment's Authlib server in a worker thread, and respond; the sign-in and consent
steps are interactions outside the protocol engine, resumed through a stored request."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urlsplit, urlunsplit

from authlib.oauth2.rfc6749.errors import (
    AccessDeniedError,
    MissingAuthorizationError,
    OAuth2Error,
    UnsupportedTokenTypeError,
)
from authlib.oauth2.rfc6750.errors import InvalidTokenError
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response

from idp.db import in_thread, quick, read
from idp.directory import EstablishmentView
from idp.i18n import supported
from idp.oauth.authorization import (
    Ask,
    Granted,
    Interaction,
    Outcome,
    Refused,
    decide,
    error_response,
)
from idp.oauth.bearer import bearer_of
from idp.oauth.claims import userinfo_claims
from idp.oauth.endpoints import logout_needs_confirmation, post_logout_redirect
from idp.oauth.requests import OAuthRequest, from_params, from_starlette
from idp.oauth.server import EstablishmentServer, OAuthResponse
from idp.security.csrf import FIELD, CsrfCheck
from idp.security.tokens import new_secret, secret_hash
from idp.store import authorizations
from idp.web.forms import (
    check_csrf,
    client_of,
    cookies,
    csrf_token,
    current_session,
    finish,
    session_token,
)
from idp.web.pages import resolve, resolve_open
from idp.web.rendering import render, url
from idp.web.transactions import db, run_and_commit, work_of

log = logging.getLogger(__name__)
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


def _server(request: Request, establishment: EstablishmentView) -> EstablishmentServer:
    return request.app.state.servers.get(establishment.id, establishment.code)


def _public(request: Request, name: str, establishment: EstablishmentView) -> str:
    """The endpoint's public URL, as Authlib must see it (under IDP_BASE_URL)."""
    return _server(request, establishment).endpoint(name)


def _resume(request: Request, establishment: EstablishmentView, handle: str) -> str:
    """Where a stored authorization request resumes after an interaction."""
    return url(request, "authorize_resume", {"request": handle}, code=establishment.code)


def _respond(response: OAuthResponse, *, no_store: bool = True) -> Response:
    headers = dict(response.headers)
    if no_store:
        headers.update(NO_STORE)
    if isinstance(response.body, dict):
        return JSONResponse(response.body, status_code=response.status, headers=headers)
    return Response(response.body or b"", status_code=response.status, headers=headers)


# -- discovery and keys ----------------------------------------------------------------------


async def discovery(request: Request) -> Response:
    establishment = await resolve_open(request)
    if isinstance(establishment, Response):
        return establishment
    return Response(
        _server(request, establishment).discovery,
        media_type="application/json",
        headers={"Cache-Control": "public, max-age=3600"},
    )


async def oauth_metadata(request: Request) -> Response:
    """RFC 8414 §3: `/.well-known/oauth-authorization-server/{code}`."""
    return await discovery(request)


async def jwks(request: Request) -> Response:
    establishment = await resolve_open(request)
    if isinstance(establishment, Response):
        return establishment
    keys = request.app.state.runtime.keys
    document = keys.cached_jwks(establishment.id) or await in_thread(
        db(request), keys.jwks, db(request), establishment.id
    )
    max_age = int(keys.policy.jwks_cache.total_seconds())
    return Response(
        document,
        media_type="application/json",
        headers={"Cache-Control": f"public, max-age={max_age}"},
    )


# -- authorization ---------------------------------------------------------------------------


async def authorize(request: Request) -> Response:
    establishment = await resolve_open(request)
    if isinstance(establishment, Response):
        return establishment
    server = _server(request, establishment)
    oauth_request = await from_starlette(
        request, _public(request, "authorize", establishment), work_of(request)
    )
    return await _authorize(request, establishment, server, lambda: (oauth_request, None))


async def resume(request: Request) -> Response:
    """Back from sign-in (or a password change, or consent) to a stored request."""
    establishment = await resolve_open(request)
    if isinstance(establishment, Response):
        return establishment
    server = _server(request, establishment)
    handle = request.query_params.get("request", "")
    public = _public(request, "authorize", establishment)

    def load() -> tuple[OAuthRequest, Any] | None:
        pending = _load_pending(request, establishment, handle)
        if pending is None:
            return None
        params, created_at = pending
        return from_params(params, public, request.headers, work_of(request)), created_at

    return await _authorize(request, establishment, server, load, handle=handle)


@dataclass(frozen=True)
class Asking:
    """The module a sign-in page serves, when it was reached from a module's request."""

    name: str
    handle: str  # the stored request's, for the way back (`cancel`)


async def asking_module(
    request: Request, establishment: EstablishmentView, next_url: str
) -> Asking | None:
    """The module waiting behind `next_url`, if it is the resumption of its request."""
    parts = urlsplit(next_url)
    if parts.path != url(request, "authorize_resume", code=establishment.code):
        return None
    handle = dict(parse_qsl(parts.query)).get("request", "")
    if not handle:
        return None

    server = _server(request, establishment)

    def name() -> str | None:
        pending = _load_pending(request, establishment, handle)
        if pending is None or not isinstance(pending[0].get("client_id"), str):
            return None
        # The server's snapshot of its clients: no query on the sign-in flow's way.
        client = server.client_for(work_of(request), pending[0]["client_id"])
        return client.name if client is not None else None

    found = await read(db(request), name)
    return Asking(found, handle) if found else None


async def cancel(request: Request) -> Response:
    """« Revenir à l'application sans me connecter »: the module gets `access_denied`
    (OpenID Connect Core §3.1.2.6), as if the person had refused."""
    establishment = await resolve_open(request)
    if isinstance(establishment, Response):
        return establishment
    form = await request.form()
    server = _server(request, establishment)
    found = await _posted_pending(request, establishment, form)
    if found is None:
        return _expired(request, establishment)
    handle, oauth_request = found
    if await check_csrf(request, str(form.get(FIELD, "")) or None) is not CsrfCheck.OK:
        return RedirectResponse(_resume(request, establishment, handle), status_code=303)
    # Used up: the module is told « refused », so the same request cannot sign in later
    # (a second tap, or another tab, finds it gone).
    if not await run_and_commit(request, _take_pending, request, establishment, handle):
        return _expired(request, establishment)
    try:
        # The stored request was valid when stored; checked again (a module disabled since).
        grant = await in_thread(db(request), server.get_consent_grant, oauth_request, None)
    except OAuth2Error as error:
        return _error_redirect(request, server, oauth_request, error)
    return _error_redirect(
        request, server, oauth_request, AccessDeniedError(redirect_uri=grant.redirect_uri)
    )


async def _posted_pending(
    request: Request, establishment: EstablishmentView, form: Any
) -> tuple[str, OAuthRequest] | None:
    """The stored authorization request a page's form names (`request`), rebuilt as it
    came; None when it is gone (used, or past its lifetime)."""
    handle = str(form.get("request", ""))
    pending = await in_thread(db(request), _load_pending, request, establishment, handle)
    if pending is None:
        return None
    params, _ = pending
    public = _public(request, "authorize", establishment)
    return handle, from_params(params, public, request.headers, work_of(request))


def _expired(request: Request, establishment: EstablishmentView) -> Response:
    """The stored request to resume is gone (used, or past its lifetime)."""
    return render(
        request,
        "oidc_error.html",
        status_code=400,
        establishment=establishment,
        detail="expired",
        no_store=True,
    )


def _load_pending(request: Request, establishment: EstablishmentView, handle: str):  # type: ignore[no-untyped-def]
    rt = request.app.state.runtime
    session = db(request)
    return authorizations.pending(
        session,
        rt.directory.snapshot(session, establishment.id),
        secret_hash(handle),
        rt.clock.now(),
    )


def _store_pending(
    request: Request,
    establishment: EstablishmentView,
    server: EstablishmentServer,
    params: dict[str, Any],
    since: Any = None,
) -> str:
    """Store the request; `since` carries the moment the first step began, so that a
    request resumed after sign-in and then after consent does not ask to sign in again."""
    rt = request.app.state.runtime
    handle = new_secret(24)
    now = since or rt.clock.now()
    session = db(request)
    authorizations.add_pending(
        session,
        rt.directory.snapshot(session, establishment.id),
        handle_hash=secret_hash(handle),
        params=params,
        now=now,
        expires_at=rt.clock.now() + server.lifetimes.pending_request,
    )
    return handle


def _error_redirect(
    request: Request, server: EstablishmentServer, oauth_request: OAuthRequest, error: OAuth2Error
) -> Response:
    return _deliver(request, oauth_request, error_response(server, oauth_request, error))


async def _authorize(
    request: Request,
    establishment: EstablishmentView,
    server: EstablishmentServer,
    load: Callable[[], tuple[OAuthRequest, Any] | None],
    *,
    handle: str | None = None,
) -> Response:
    """`load` gives the request and the moment before which a sign-in is too old (None
    for a new request), or None when the stored request to resume has expired."""
    rt = request.app.state.runtime
    rt_signin = request.app.state.signin
    token = session_token(request, establishment.code)

    def decide_and_settle() -> tuple[OAuthRequest, Ask, Outcome, str | None] | None:
        # One call whatever the outcome (quick: on the event loop where it can): the stored
        # request, the session, the decision, and what it stores (the code of a grant, the
        # request an interaction resumes), committed together, so that on SQLite the write
        # lock is never held across an await.
        work = db(request)
        loaded = load()
        if loaded is None:
            work.commit()
            return None
        oauth_request, not_before = loaded
        data = oauth_request.payload.data
        session = rt_signin.live_session(work, establishment.id, token)
        ask = Ask(server, oauth_request, session, rt.clock.now(), not_before)
        outcome = decide(ask)
        stored = None
        if isinstance(outcome, Granted):
            answered = outcome.response.location and "code=" in outcome.response.location
            # Answered: the stored request cannot be replayed for another code. Taken by
            # another request meanwhile (resumed twice at once): that one has the code,
            # this one issues none.
            if handle and answered and not _take_pending(request, establishment, handle):
                work.rollback()
                return None
        elif isinstance(outcome, Interaction):
            # Sign-in keeps no `not_before`: the request is answered after a fresh one.
            since = not_before if outcome.kind != "login" else None
            stored = _store_pending(request, establishment, server, data, since)
        work.commit()
        return oauth_request, ask, outcome, stored

    settled = await quick(db(request), decide_and_settle)
    if settled is None:
        return _expired(request, establishment)
    oauth_request, ask, outcome, stored = settled
    session = ask.session
    data = oauth_request.payload.data

    if isinstance(outcome, Refused):
        error = outcome.error
        if error.redirect_uri:
            return _error_redirect(request, server, oauth_request, error)
        # Unknown client or unregistered redirect URI: never redirect (RFC 6749 §4.1.2.1).
        log.info("authorize refused at %s: %s", establishment.code, error.error)
        return render(
            request,
            "oidc_error.html",
            status_code=400,
            establishment=establishment,
            detail=error.error,
            description=error.description,
            no_store=True,
        )
    if isinstance(outcome, Interaction) and outcome.kind == "login":
        assert stored is not None
        query = {"next": _resume(request, establishment, stored)}
        if data.get("login_hint"):
            query["login_hint"] = data["login_hint"]
        # The module's choice of language comes first (then the person's switch, then
        # French): the login page remembers it for the pages after it.
        if language := supported(data.get("ui_locales")):
            query["lang"] = language
        return RedirectResponse(
            url(request, "login", query, code=establishment.code), status_code=303, headers=NO_STORE
        )
    if isinstance(outcome, Interaction):
        response = render(
            request,
            "consent.html",
            establishment=establishment,
            client=ask.client,
            scopes=ask.grant.request.scope.split(),  # type: ignore[union-attr]
            handle=stored,
            csrf_field=FIELD,
            csrf_token=csrf_token(request),
            # Its login only: the page is rendered on the event loop, after the commit.
            user=session.user if session else None,
            no_store=True,
        )
        return finish(request, response)

    return _deliver(request, oauth_request, outcome.response)


def _take_pending(request: Request, establishment: EstablishmentView, handle: str) -> bool:
    rt = request.app.state.runtime
    session = db(request)
    return authorizations.take_pending(
        session, rt.directory.snapshot(session, establishment.id), secret_hash(handle)
    )


def _deliver(request: Request, oauth_request: OAuthRequest, response: OAuthResponse) -> Response:
    """Query redirect by default; `response_mode=form_post` as an auto-submitted form
    (OAuth 2.0 Form Post Response Mode), with an external script and a button."""
    location = response.location
    if location and oauth_request.payload.data.get("response_mode") == "form_post":
        parts = urlsplit(location)
        action = urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))
        fields = parse_qsl(parts.query, keep_blank_values=True)
        return render(request, "form_post.html", action=action, fields=fields, no_store=True)
    if location:
        return RedirectResponse(location, status_code=302, headers=NO_STORE)
    return _respond(response)


async def consent_decision(request: Request) -> Response:
    establishment = await resolve_open(request)
    if isinstance(establishment, Response):
        return establishment
    form = await request.form()
    server = _server(request, establishment)
    found = await _posted_pending(request, establishment, form)
    session = await current_session(request, establishment.id, establishment.code)
    if found is None or session is None:
        return _expired(request, establishment)
    handle, oauth_request = found
    if await check_csrf(request, str(form.get(FIELD, "")) or None) is not CsrfCheck.OK:
        return RedirectResponse(_resume(request, establishment, handle), status_code=303)
    try:
        grant = await in_thread(db(request), server.get_consent_grant, oauth_request, session.user)
    except OAuth2Error as error:
        return _error_redirect(request, server, oauth_request, error)
    if form.get("decision") != "approve":
        return _error_redirect(
            request, server, oauth_request, AccessDeniedError(redirect_uri=grant.redirect_uri)
        )
    rt = request.app.state.runtime

    def approve() -> None:
        work = db(request)
        authorizations.add_consent(
            work,
            rt.directory.row(work, establishment.id),
            sso_session_id=session.id,
            client_pk=grant.request.client.id,
            scope=grant.request.scope,
            now=rt.clock.now(),
        )

    await in_thread(db(request), approve)
    return RedirectResponse(_resume(request, establishment, handle), status_code=303)


async def _api_establishment(request: Request, error: str) -> EstablishmentView | Response:
    """For the endpoints modules call: a suspended establishment's tokens and clients stop
    working, said in the protocol's terms rather than with a page."""
    establishment = await resolve(request)
    if isinstance(establishment, Response) or establishment.enabled:
        return establishment
    description = "The establishment's access to CPRO éducation is suspended."
    headers = {**NO_STORE}
    if error == "invalid_token":
        headers["WWW-Authenticate"] = (
            f'Bearer error="invalid_token", error_description="{description}"'
        )
    return JSONResponse(
        {"error": error, "error_description": description}, status_code=401, headers=headers
    )


# -- token and userinfo ----------------------------------------------------------------------


async def token(request: Request) -> Response:
    establishment = await _api_establishment(request, "invalid_client")
    if isinstance(establishment, Response):
        return establishment
    server = _server(request, establishment)
    oauth_request = await from_starlette(
        request, _public(request, "token", establishment), work_of(request)
    )
    response = await run_and_commit(request, server.create_token_response, oauth_request)
    return _respond(response)


def _bearer_error(description: str, status: int = 401) -> Response:
    return JSONResponse(
        {"error": "invalid_token", "error_description": description},
        status_code=status,
        headers={
            **NO_STORE,
            "WWW-Authenticate": f'Bearer error="invalid_token", error_description="{description}"',
        },
    )


async def userinfo(request: Request) -> Response:
    establishment = await _api_establishment(request, "invalid_token")
    if isinstance(establishment, Response):
        return establishment
    server = _server(request, establishment)
    oauth_request = await from_starlette(
        request, _public(request, "userinfo", establishment), work_of(request)
    )
    try:
        claims = await run_and_commit(request, _userinfo, server, oauth_request)
    except (MissingAuthorizationError, UnsupportedTokenTypeError):
        # RFC 6750 §3.1: no credentials at all, so a bare challenge with no error code.
        return JSONResponse(
            {"error": "invalid_request"},
            status_code=401,
            headers={**NO_STORE, "WWW-Authenticate": "Bearer"},
        )
    except InvalidTokenError as error:
        return _bearer_error(error.description)
    return JSONResponse(claims, headers=NO_STORE)


def _userinfo(server: EstablishmentServer, oauth_request: OAuthRequest) -> dict[str, Any]:
    found = bearer_of(server, oauth_request)
    return userinfo_claims(found.user, found.establishment, found.scope, found.requested)


# -- revocation, introspection ---------------------------------------------------------------


async def _endpoint(request: Request, name: str, route: str) -> Response:
    establishment = await _api_establishment(request, "invalid_client")
    if isinstance(establishment, Response):
        return establishment
    server = _server(request, establishment)
    oauth_request = await from_starlette(
        request, _public(request, route, establishment), work_of(request)
    )
    if name == "introspection" and "client_assertion" not in oauth_request.form:
        # Introspection writes only to spend a client assertion's jti (private_key_jwt).
        work_of(request).reads_only()
    response = await run_and_commit(request, server.create_endpoint_response, name, oauth_request)
    return _respond(response)


async def revoke(request: Request) -> Response:
    return await _endpoint(request, "revocation", "revoke")


async def introspect(request: Request) -> Response:
    return await _endpoint(request, "introspection", "introspect")


# -- RP-initiated logout ---------------------------------------------------------------------


async def end_session(request: Request) -> Response:
    """RP-Initiated Logout 1.0: with a valid `id_token_hint` naming the signed-in user the
    session ends at once; otherwise the user confirms (a CSRF-protected form)."""
    establishment = await resolve_open(request)
    if isinstance(establishment, Response):
        return establishment
    server = _server(request, establishment)
    oauth_request = await from_starlette(
        request, _public(request, "end_session", establishment), work_of(request)
    )
    try:
        validated = await in_thread(
            db(request), server.validate_endpoint_request, "end_session", oauth_request
        )
    except OAuth2Error as error:
        return render(
            request,
            "oidc_error.html",
            status_code=400,
            establishment=establishment,
            detail=error.error,
            description=error.description,
            no_store=True,
        )
    data = oauth_request.payload.data
    session = await current_session(request, establishment.id, establishment.code)
    confirmed = False
    if data.get("decision") in ("logout", "cancel"):
        if await check_csrf(request, data.get(FIELD)) is not CsrfCheck.OK:
            return _logout_page(request, establishment, session, data, expired=True)
        if data["decision"] == "cancel":
            return RedirectResponse(
                url(request, "establishment", code=establishment.code), status_code=303
            )
        confirmed = True
    elif session is not None and logout_needs_confirmation(validated, session.user.sub):
        return _logout_page(request, establishment, session, data)

    if session is not None:
        await in_thread(
            db(request),
            request.app.state.signin.end_session,
            db(request),
            establishment.id,
            session_token(request, establishment.code),
            client_of(request),
        )
    target = post_logout_redirect(validated, data, confirmed=confirmed)
    if target:
        response: Response = RedirectResponse(target, status_code=302, headers=NO_STORE)
    else:
        response = render(request, "logged_out.html", establishment=establishment, no_store=True)
    if session is not None:
        jar = cookies(request)
        jar.delete(response, jar.session(establishment.code))
    return response


def _logout_page(
    request: Request,
    establishment: EstablishmentView,
    session: Any,
    data: dict[str, Any],
    *,
    expired: bool = False,
) -> Response:
    keep = {
        k: v
        for k, v in data.items()
        if k
        in (
            "id_token_hint",
            "client_id",
            "post_logout_redirect_uri",
            "state",
            "logout_hint",
            "ui_locales",
        )
    }
    response = render(
        request,
        "oidc_logout.html",
        establishment=establishment,
        user=session.user if session else None,
        params=keep,
        csrf_field=FIELD,
        csrf_token=csrf_token(request),
        expired=expired,
        no_store=True,
    )
    return finish(request, response)
