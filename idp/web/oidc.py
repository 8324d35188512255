"""The protocol endpoints of `/{code}/oidc/…` and discovery. Handlers parse, call the
establishment's Authlib server in a worker thread, and respond; the sign-in and consent
steps are interactions outside the protocol engine, resumed through a stored request."""

from __future__ import annotations

import json
import logging
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from authlib.common.urls import add_params_to_uri
from authlib.oauth2.rfc6749.errors import AccessDeniedError, InvalidRequestError, OAuth2Error
from authlib.oidc.core.errors import ConsentRequiredError, LoginRequiredError
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response

from idp.i18n import DEFAULT_LOCALE, negotiate
from idp.models import AuthorizationCode, Client, Establishment, SsoSession, Token, User
from idp.oauth.access_tokens import verify_access_token, verify_id_token_hint
from idp.oauth.claims import userinfo_claims
from idp.oauth.metadata import metadata
from idp.oauth.requests import OAuthRequest, from_params, from_starlette
from idp.oauth.server import EstablishmentServer, OAuthResponse
from idp.security.csrf import FIELD, CsrfCheck
from idp.security.tokens import new_secret, secret_hash
from idp.store import audit, authorizations, tokens
from idp.web.directory import EstablishmentView
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
from idp.web.rendering import render

log = logging.getLogger(__name__)
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


def _server(request: Request, establishment: EstablishmentView) -> EstablishmentServer:
    return request.app.state.servers.get(establishment.id, establishment.code)


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
    document = metadata(_server(request, establishment))
    return JSONResponse(document, headers={"Cache-Control": "public, max-age=3600"})


async def oauth_metadata(request: Request) -> Response:
    """RFC 8414 §3: `/.well-known/oauth-authorization-server/{code}`."""
    return await discovery(request)


async def jwks(request: Request) -> Response:
    establishment = await resolve_open(request)
    if isinstance(establishment, Response):
        return establishment
    keys = request.app.state.runtime.keys
    document = await run_in_threadpool(keys.jwks, establishment.id)
    max_age = int(keys.policy.jwks_cache.total_seconds())
    return JSONResponse(document, headers={"Cache-Control": f"public, max-age={max_age}"})


# -- authorization ---------------------------------------------------------------------------


async def authorize(request: Request) -> Response:
    establishment = await resolve_open(request)
    if isinstance(establishment, Response):
        return establishment
    server = _server(request, establishment)
    oauth_request = await from_starlette(request, f"{server.issuer}/oidc/authorize")
    return await _authorize(request, establishment, server, oauth_request, not_before=None)


async def resume(request: Request) -> Response:
    """Back from sign-in (or a password change, or consent) to a stored request."""
    establishment = await resolve_open(request)
    if isinstance(establishment, Response):
        return establishment
    server = _server(request, establishment)
    pending = await run_in_threadpool(
        _load_pending, request, establishment, request.query_params.get("request", "")
    )
    if pending is None:
        return render(
            request,
            "oidc_error.html",
            status_code=400,
            establishment=establishment,
            detail="expired",
            no_store=True,
        )
    params, created_at = pending
    oauth_request = from_params(params, f"{server.issuer}/oidc/authorize", request.headers)
    return await _authorize(
        request,
        establishment,
        server,
        oauth_request,
        not_before=created_at,
        handle=request.query_params.get("request", ""),
    )


def _load_pending(request: Request, establishment: EstablishmentView, handle: str):  # type: ignore[no-untyped-def]
    rt = request.app.state.runtime
    with rt.database.session() as session:
        row = authorizations.pending(
            session,
            session.get(Establishment, establishment.id),
            secret_hash(handle),
            rt.clock.now(),
        )
        return (dict(row.params), row.created_at) if row else None


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
    with rt.database.session() as session:
        authorizations.add_pending(
            session,
            session.get(Establishment, establishment.id),
            handle_hash=secret_hash(handle),
            params=params,
            now=now,
            expires_at=rt.clock.now() + server.lifetimes.pending_request,
        )
    return handle


def _error_redirect(
    request: Request, server: EstablishmentServer, oauth_request: OAuthRequest, error: OAuth2Error
) -> Response:
    error.state = oauth_request.payload.data.get("state")
    response = server.handle_error_response(oauth_request, error)
    if response.location:
        # RFC 9207: the issuer in every authorization response, errors included.
        response.location = add_params_to_uri(response.location, [("iss", server.issuer)])
    return _deliver(request, oauth_request, response)


async def _authorize(
    request: Request,
    establishment: EstablishmentView,
    server: EstablishmentServer,
    oauth_request: OAuthRequest,
    *,
    not_before: Any,
    handle: str | None = None,
) -> Response:
    rt = request.app.state.runtime
    session = await current_session(request, establishment.id, establishment.code)
    user = session.user if session else None
    try:
        grant = await run_in_threadpool(server.get_consent_grant, oauth_request, user)
    except OAuth2Error as error:
        if error.redirect_uri and not oauth_request.payload.data.get("response_type"):
            # A missing parameter is invalid_request (RFC 6749 §4.1.2.1), not an unsupported
            # response type as Authlib says.
            error = InvalidRequestError("Missing 'response_type'.", redirect_uri=error.redirect_uri)
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

    data = oauth_request.payload.data
    redirect_uri = grant.redirect_uri
    prompts = set((data.get("prompt") or "").split())
    try:
        max_age = int(data["max_age"]) if data.get("max_age") not in (None, "") else None
        if max_age is not None and not 0 <= max_age <= 10**9:
            raise ValueError
    except ValueError:
        return _error_redirect(
            request,
            server,
            oauth_request,
            InvalidRequestError("Invalid 'max_age'.", redirect_uri=redirect_uri),
        )
    try:
        if data.get("claims"):
            if len(data["claims"]) > 4096:
                raise ValueError
            claims = json.loads(data["claims"])
            if not isinstance(claims, dict):
                raise ValueError
    except (ValueError, RecursionError):
        error = InvalidRequestError("Invalid 'claims' parameter.", redirect_uri=redirect_uri)
        return _error_redirect(request, server, oauth_request, error)

    now = rt.clock.now()
    hinted = None
    if data.get("id_token_hint"):
        hinted = await run_in_threadpool(verify_id_token_hint, server, data["id_token_hint"])
        if hinted is None:
            error = InvalidRequestError("Invalid 'id_token_hint'.", redirect_uri=redirect_uri)
            return _error_redirect(request, server, oauth_request, error)
    needs_login = (
        session is None
        # The module expects another user than the one signed in here.
        or (hinted is not None and hinted["sub"] != session.user.sub)
        or ("login" in prompts and (not_before is None or session.auth_time < not_before))
        or (max_age is not None and (now - session.auth_time) > timedelta(seconds=max_age))
    )
    if needs_login:
        if "none" in prompts:
            return _error_redirect(
                request, server, oauth_request, LoginRequiredError(redirect_uri=redirect_uri)
            )
        handle = await run_in_threadpool(_store_pending, request, establishment, server, data)
        query = {"next": f"/{establishment.code}/oidc/authorize/resume?request={handle}"}
        if data.get("login_hint"):
            query["login_hint"] = data["login_hint"]
        if negotiate(data.get("ui_locales")) != DEFAULT_LOCALE:
            query["lang"] = negotiate(data.get("ui_locales"))
        return RedirectResponse(
            f"/{establishment.code}/login?{urlencode(query)}", status_code=303, headers=NO_STORE
        )

    client: Client = grant.request.client
    if client.third_party or "consent" in prompts:
        consented = await run_in_threadpool(
            _has_consent,
            request,
            establishment,
            session,
            client,
            not_before,
            grant.request.scope,
        )
        if not consented or ("consent" in prompts and not_before is None):
            if "none" in prompts:
                return _error_redirect(
                    request, server, oauth_request, ConsentRequiredError(redirect_uri=redirect_uri)
                )
            handle = await run_in_threadpool(
                _store_pending, request, establishment, server, data, not_before
            )
            response = render(
                request,
                "consent.html",
                establishment=establishment,
                client=client,
                scopes=grant.request.scope.split(),
                handle=handle,
                csrf_field=FIELD,
                csrf_token=csrf_token(request),
                user=user,
                no_store=True,
            )
            return finish(request, response)

    oauth_request.user = user
    oauth_request.sso_session_id = session.id
    oauth_request.auth_time = session.auth_time
    response = await run_in_threadpool(
        server.create_authorization_response, oauth_request, user, grant
    )
    await run_in_threadpool(_record_sign_in_to, request, establishment, session, client)
    if handle and response.location and "code=" in response.location:
        # Answered: the stored request cannot be replayed for another code.
        await run_in_threadpool(_drop_pending, request, establishment, handle)
    return _deliver(request, oauth_request, response)


def _drop_pending(request: Request, establishment: EstablishmentView, handle: str) -> None:
    rt = request.app.state.runtime
    with rt.database.session() as db:
        row = authorizations.pending(
            db, db.get(Establishment, establishment.id), secret_hash(handle), rt.clock.now()
        )
        if row is not None:
            authorizations.delete_pending(db, row)


def _has_consent(
    request: Request,
    establishment: EstablishmentView,
    session: SsoSession,
    client: Client,
    not_before: Any,
    scope: str = "",
) -> bool:
    rt = request.app.state.runtime
    with rt.database.session() as db:
        row = authorizations.consent(
            db, db.get(Establishment, establishment.id), session.id, client.id
        )
        # After a consent page (not_before set), the approval must be that recent one; and
        # it must cover every scope asked for now.
        return (
            row is not None
            and (not_before is None or row.created_at >= not_before)
            and set(scope.split()) <= set(row.scope.split())
        )


def _record_sign_in_to(
    request: Request, establishment: EstablishmentView, session: SsoSession, client: Client
) -> None:
    rt = request.app.state.runtime
    with rt.database.session() as db:
        audit.record(
            db,
            db.get(Establishment, establishment.id),
            "authorize.code_issued",
            at=rt.clock.now(),
            subject=session.user.login,
            details={"client_id": client.client_id},
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
    handle = str(form.get("request", ""))
    server = _server(request, establishment)
    pending = await run_in_threadpool(_load_pending, request, establishment, handle)
    session = await current_session(request, establishment.id, establishment.code)
    if pending is None or session is None:
        return render(
            request,
            "oidc_error.html",
            status_code=400,
            establishment=establishment,
            detail="expired",
            no_store=True,
        )
    params, _ = pending
    oauth_request = from_params(params, f"{server.issuer}/oidc/authorize", request.headers)
    if await check_csrf(request, str(form.get(FIELD, "")) or None) is not CsrfCheck.OK:
        return RedirectResponse(
            f"/{establishment.code}/oidc/authorize/resume?request={handle}", status_code=303
        )
    try:
        grant = await run_in_threadpool(server.get_consent_grant, oauth_request, session.user)
    except OAuth2Error as error:
        return _error_redirect(request, server, oauth_request, error)
    if form.get("decision") != "approve":
        return _error_redirect(
            request, server, oauth_request, AccessDeniedError(redirect_uri=grant.redirect_uri)
        )
    rt = request.app.state.runtime

    def approve() -> None:
        with rt.database.session() as db:
            authorizations.add_consent(
                db,
                db.get(Establishment, establishment.id),
                sso_session_id=session.id,
                client_pk=grant.request.client.id,
                scope=grant.request.scope,
                now=rt.clock.now(),
            )

    await run_in_threadpool(approve)
    return RedirectResponse(
        f"/{establishment.code}/oidc/authorize/resume?request={handle}", status_code=303
    )


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
    oauth_request = await from_starlette(request, f"{server.issuer}/oidc/token")
    try:
        response = await run_in_threadpool(server.create_token_response, oauth_request)
    except UnicodeDecodeError:
        return _bad_client()
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
    authorization = request.headers.get("authorization", "")
    presented = authorization[7:].strip() if authorization[:7].lower() == "bearer " else None
    if presented is None and request.method == "POST":
        form = await request.form()
        presented = str(form.get("access_token", "")) or None
    if not presented:
        return JSONResponse(
            {"error": "invalid_request"},
            status_code=401,
            headers={**NO_STORE, "WWW-Authenticate": "Bearer"},
        )
    server = _server(request, establishment)
    result = await run_in_threadpool(_userinfo, server, presented)
    if isinstance(result, str):
        return _bearer_error(result)
    return JSONResponse(result, headers=NO_STORE)


def _userinfo(server: EstablishmentServer, presented: str) -> dict[str, Any] | str:
    claims = verify_access_token(server, presented)
    if isinstance(claims, str):
        return claims
    rt = server.rt
    with rt.database.session() as session:
        establishment = session.get(Establishment, server.establishment_id)
        row: Token | None = tokens.by_jti(session, establishment, claims["jti"])
        if row is None or row.revoked_at is not None or row.user_id is None:
            return "The access token is revoked or unknown."
        user = session.get(User, row.user_id)
        client = session.get(Client, row.client_pk)
        if user is None or not user.active or client is None or not client.enabled:
            return "The access token is revoked or unknown."
        code = session.get(AuthorizationCode, row.code_id) if row.code_id else None
        return userinfo_claims(user, establishment, row.scope, code.claims if code else None)


# -- revocation, introspection ---------------------------------------------------------------


async def _endpoint(request: Request, name: str, path: str) -> Response:
    establishment = await _api_establishment(request, "invalid_client")
    if isinstance(establishment, Response):
        return establishment
    server = _server(request, establishment)
    oauth_request = await from_starlette(request, f"{server.issuer}/oidc/{path}")
    try:
        response = await run_in_threadpool(server.create_endpoint_response, name, oauth_request)
    except UnicodeDecodeError:
        return _bad_client()
    return _respond(response)


def _bad_client() -> Response:
    """Credentials that are not even text (Authlib cannot decode them)."""
    return JSONResponse(
        {"error": "invalid_client", "error_description": "Malformed client credentials."},
        status_code=401,
        headers={**NO_STORE, "WWW-Authenticate": 'Basic realm="token"'},
    )


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
    oauth_request = await from_starlette(request, f"{server.issuer}/oidc/logout")
    try:
        validated = await run_in_threadpool(
            server.validate_endpoint_request, "end_session", oauth_request
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
    hint = validated.id_token_claims
    confirmed = False
    if data.get("decision") in ("logout", "cancel"):
        if await check_csrf(request, data.get(FIELD)) is not CsrfCheck.OK:
            return _logout_page(request, establishment, session, data, expired=True)
        if data["decision"] == "cancel":
            return RedirectResponse(f"/{establishment.code}", status_code=303)
        confirmed = True
    elif session is not None and (hint is None or hint.get("sub") != session.user.sub):
        # No proof that the module asking is the user's: ask the user.
        return _logout_page(request, establishment, session, data)

    if session is not None:
        await run_in_threadpool(
            request.app.state.signin.end_session,
            establishment.id,
            session_token(request, establishment.code),
            client_of(request),
        )
    target = validated.redirect_uri
    if target is None and confirmed and validated.client is not None:
        uri = data.get("post_logout_redirect_uri")
        if uri and uri in validated.client.client_metadata["post_logout_redirect_uris"]:
            target = (
                add_params_to_uri(uri, [("state", data["state"])]) if data.get("state") else uri
            )
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
