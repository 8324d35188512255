"""The demo module: sign-in (code flow + PKCE, state, nonce), who is signed in (ID token and
userinfo claims), an API that accepts the provider's JWT access tokens as a resource server,
refresh before expiry, « Se déconnecter » through RP-initiated logout, and back-channel
logout ending the local session.

Settings from the environment:
    DEMO_NAME            « C Pro STI »
    DEMO_BASE_URL        this module's own address, e.g. http://127.0.0.1:8001
    DEMO_ISSUER          the establishment's issuer, e.g. http://127.0.0.1:8000/demo
    DEMO_CLIENT_ID / DEMO_CLIENT_SECRET
    DEMO_SECRET_KEY      signs the module's own session cookie
"""

from __future__ import annotations

import html
import os
import secrets
import time
from dataclasses import dataclass, field
from typing import Any

import httpx
from authlib.integrations.starlette_client import OAuth, OAuthError
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.sessions import SessionMiddleware
from starlette.requests import Request
from starlette.responses import (
    HTMLResponse,
    JSONResponse,
    PlainTextResponse,
    RedirectResponse,
    Response,
)
from starlette.routing import Route

BACKCHANNEL_EVENT = "http://schemas.openid.net/event/backchannel-logout"
SCOPE = "openid profile email cpro offline_access"


@dataclass(frozen=True)
class DemoSettings:
    name: str
    base_url: str
    issuer: str
    client_id: str
    client_secret: str
    secret_key: str

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> DemoSettings:
        env = os.environ if environ is None else environ
        try:
            return cls(
                name=env.get("DEMO_NAME", "Module de démonstration"),
                base_url=env["DEMO_BASE_URL"].rstrip("/"),
                issuer=env["DEMO_ISSUER"].rstrip("/"),
                client_id=env["DEMO_CLIENT_ID"],
                client_secret=env["DEMO_CLIENT_SECRET"],
                secret_key=env.get("DEMO_SECRET_KEY") or secrets.token_urlsafe(32),
            )
        except KeyError as missing:
            raise SystemExit(f"demo module: {missing.args[0]} is not set") from None


@dataclass
class LocalSession:
    """What the module keeps about a signed-in user (server side; the cookie holds its id)."""

    token: dict[str, Any]
    claims: dict[str, Any]
    userinfo: dict[str, Any] = field(default_factory=dict)


class Sessions:
    """In memory: enough for a demo, and it lets back-channel logout find the sessions of a
    provider session (`sid`)."""

    def __init__(self) -> None:
        self.by_id: dict[str, LocalSession] = {}

    def add(self, session: LocalSession) -> str:
        key = secrets.token_urlsafe(24)
        self.by_id[key] = session
        return key

    def end_sid(self, sid: str | None, sub: str | None) -> int:
        doomed = [
            k
            for k, s in self.by_id.items()
            if (sid and s.claims.get("sid") == sid)
            or (not sid and sub and s.claims.get("sub") == sub)
        ]
        for key in doomed:
            del self.by_id[key]
        return len(doomed)


def create_app(settings: DemoSettings) -> Starlette:
    oauth = OAuth()
    oauth.register(
        "cpro",
        client_id=settings.client_id,
        client_secret=settings.client_secret,
        server_metadata_url=f"{settings.issuer}/.well-known/openid-configuration",
        client_kwargs={"scope": SCOPE, "code_challenge_method": "S256"},
    )
    sessions = Sessions()
    jwks_cache: dict[str, Any] = {}

    async def keys() -> KeySet:
        if "keys" not in jwks_cache or jwks_cache["until"] < time.time():
            metadata = await oauth.cpro.load_server_metadata()
            async with httpx.AsyncClient(timeout=5) as http:
                jwks_cache["keys"] = KeySet.import_key_set(
                    (await http.get(metadata["jwks_uri"])).json()
                )
            jwks_cache["until"] = time.time() + 300
        return jwks_cache["keys"]

    def current(request: Request) -> LocalSession | None:
        return sessions.by_id.get(request.session.get("local", ""))

    async def fresh(request: Request, local: LocalSession) -> LocalSession | None:
        """Refresh the tokens a minute before the access token expires (the refresh token
        rotates: keep the new one)."""
        if (
            local.token.get("expires_at", 0) - time.time() > 60
            or "refresh_token" not in local.token
        ):
            return local
        metadata = await oauth.cpro.load_server_metadata()
        async with httpx.AsyncClient(timeout=10) as http:
            response = await http.post(
                metadata["token_endpoint"],
                data={"grant_type": "refresh_token", "refresh_token": local.token["refresh_token"]},
                auth=(settings.client_id, settings.client_secret),
            )
        if response.status_code != 200:
            sessions.by_id.pop(request.session.pop("local", ""), None)
            return None
        token = response.json()
        token["expires_at"] = int(time.time()) + int(token.get("expires_in", 0))
        local.token = token
        return local

    async def home(request: Request) -> Response:
        local = current(request)
        if local is not None:
            local = await fresh(request, local)
        if local is None:
            return page(
                settings,
                '<p>Vous n\'êtes pas connecté.</p><p><a class="button" id="login" href="/login">Se connecter avec CPRO éducation</a></p>',
            )
        rows = "".join(
            f'<tr><th>{html.escape(k)}</th><td id="claim-{html.escape(k)}">{html.escape(str(v))}</td></tr>'
            for k, v in sorted(local.userinfo.items())
        )
        return page(
            settings,
            f"""
<p id="signed-in">Connecté : <strong id="who">{html.escape(local.userinfo.get("preferred_username", ""))}</strong>
({html.escape(local.userinfo.get("name", ""))}, {html.escape(str(local.userinfo.get("role", "")))})</p>
<table>{rows}</table>
<p><a href="/api/me" id="api">API du module</a> · <a class="button" id="logout" href="/logout">Se déconnecter</a></p>""",
        )

    async def login(request: Request) -> Response:
        return await oauth.cpro.authorize_redirect(request, f"{settings.base_url}/callback")

    async def callback(request: Request) -> Response:
        try:
            token = await oauth.cpro.authorize_access_token(request)
        except OAuthError as exc:
            return page(
                settings,
                f"<p>Connexion refusée : {html.escape(exc.error or '')} {html.escape(exc.description or '')}</p><p><a href='/'>Retour</a></p>",
                400,
            )
        userinfo = await oauth.cpro.userinfo(token=token)
        local = LocalSession(
            token=dict(token), claims=dict(token["userinfo"]), userinfo=dict(userinfo)
        )
        request.session["local"] = sessions.add(local)
        return RedirectResponse("/", status_code=303)

    async def logout(request: Request) -> Response:
        local = current(request)
        sessions.by_id.pop(request.session.pop("local", ""), None)
        if local is None:
            return RedirectResponse("/", status_code=303)
        return await oauth.cpro.logout_redirect(
            request,
            post_logout_redirect_uri=f"{settings.base_url}/",
            id_token_hint=local.token.get("id_token"),
        )

    async def backchannel(request: Request) -> Response:
        """Back-Channel Logout 1.0 §2.6: validate the logout token, end the local sessions."""
        form = await request.form()
        token = str(form.get("logout_token", ""))
        try:
            decoded = jwt.decode(token, await keys())
        except (JoseError, ValueError):
            return PlainTextResponse(
                "invalid logout token", 400, headers={"Cache-Control": "no-store"}
            )
        claims = decoded.claims
        now = time.time()
        valid = (
            decoded.header.get("typ") == "logout+jwt"
            and claims.get("iss") == settings.issuer
            and (
                claims.get("aud") == settings.client_id
                or settings.client_id in (claims.get("aud") or [])
            )
            and isinstance(claims.get("iat"), int)
            and abs(now - claims["iat"]) < 300
            and BACKCHANNEL_EVENT in (claims.get("events") or {})
            and "nonce" not in claims
            and (claims.get("sid") or claims.get("sub"))
            and claims.get("jti")
        )
        if not valid:
            return PlainTextResponse(
                "invalid logout token", 400, headers={"Cache-Control": "no-store"}
            )
        sessions.end_sid(claims.get("sid"), claims.get("sub"))
        return PlainTextResponse("", headers={"Cache-Control": "no-store"})

    async def api_me(request: Request) -> Response:
        """The module's API, as a resource server: a JWT access token (RFC 9068) from the
        provider, checked against its JWKS: signature, typ, iss, aud, exp."""
        authorization = request.headers.get("authorization", "")
        if not authorization.lower().startswith("bearer "):
            local = current(request)
            if local is None:
                # No credentials at all: a bare challenge, no error code (RFC 6750 §3.1).
                return JSONResponse(
                    {"error": "unauthorized"},
                    status_code=401,
                    headers={"WWW-Authenticate": "Bearer"},
                )
            authorization = "Bearer " + local.token["access_token"]
        try:
            decoded = jwt.decode(
                authorization[7:].strip(), await keys(), algorithms=["RS256", "ES256"]
            )
        except (JoseError, ValueError):
            return _unauthorized("invalid token")
        claims = decoded.claims
        if (
            decoded.header.get("typ") != "at+jwt"
            or claims.get("iss") != settings.issuer
            or claims.get("aud") != settings.client_id
            or not isinstance(claims.get("exp"), int)
            or claims["exp"] <= time.time()
        ):
            return _unauthorized("invalid token")
        return JSONResponse(
            {"module": settings.name, "sub": claims["sub"], "scope": claims.get("scope")}
        )

    return Starlette(
        routes=[
            Route("/", home),
            Route("/login", login),
            Route("/callback", callback),
            Route("/logout", logout),
            Route("/backchannel-logout", backchannel, methods=["POST"]),
            Route("/api/me", api_me),
        ],
        middleware=[
            Middleware(
                SessionMiddleware,
                secret_key=settings.secret_key,
                session_cookie=f"demo-{settings.client_id[:8]}",
                same_site="lax",
            )
        ],
    )


def _unauthorized(why: str) -> Response:
    return JSONResponse(
        {"error": "invalid_token", "error_description": why},
        status_code=401,
        headers={"WWW-Authenticate": f'Bearer error="invalid_token", error_description="{why}"'},
    )


def page(settings: DemoSettings, body: str, status: int = 200) -> HTMLResponse:
    return HTMLResponse(
        f"""<!doctype html><html lang="fr"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1"><title>{html.escape(settings.name)}</title></head>
<body style="font-family: system-ui, sans-serif; max-width: 40rem; margin: 2rem auto; padding: 0 1rem">
<h1>{html.escape(settings.name)}</h1>{body}</body></html>""",
        status_code=status,
    )
