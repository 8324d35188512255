"""One Authlib AuthorizationServer per establishment: its issuer, its keys, its clients.

Authlib is synchronous; the web layer calls these objects in worker threads. Storage goes
through idp.store, always scoped to the establishment.
"""

from __future__ import annotations

import base64
import functools
import json
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from authlib.oauth2 import AuthorizationServer
from authlib.oauth2.rfc6749 import OAuth2Request
from authlib.oauth2.rfc6749.authenticate_client import authenticate_client_secret_basic
from authlib.oauth2.rfc6749.errors import InvalidGrantError, InvalidRequestError
from authlib.oauth2.rfc6749.grants import (
    AuthorizationCodeGrant,
    ClientCredentialsGrant,
    RefreshTokenGrant,
)
from authlib.oauth2.rfc6749.util import extract_basic_authorization
from authlib.oauth2.rfc7636 import CodeChallenge
from authlib.oauth2.rfc9068 import JWTBearerTokenGenerator
from authlib.oauth2.rfc9207 import IssuerParameter
from authlib.oidc.core import OpenIDCode
from authlib.oidc.core.grants.util import is_openid_scope
from authlib.oidc.core.util import create_half_hash
from joserfc import jwt
from sqlalchemy.orm import Session

from idp.db import UnitOfWork, detached_copy
from idp.models import Client, Establishment, SsoSession, User
from idp.oauth.claims import id_token_claims
from idp.oauth.client_auth import PrivateKeyJwt
from idp.oauth.endpoints import EndSession, Introspection, Revocation
from idp.oauth.keys import KeyRing
from idp.runtime import Runtime
from idp.security.tokens import new_secret, secret_hash
from idp.store import audit, codes, sessions
from idp.store import clients as client_store
from idp.store import tokens as token_store
from idp.store.audit import EventType

AUTH_METHODS = ["client_secret_basic", "client_secret_post", "private_key_jwt", "none"]


@dataclass(frozen=True)
class Lifetimes:
    code: timedelta = timedelta(seconds=60)
    access_token: timedelta = timedelta(minutes=10)
    id_token: timedelta = timedelta(minutes=10)
    refresh_token: timedelta = timedelta(days=30)
    pending_request: timedelta = timedelta(minutes=30)


@dataclass
class OAuthResponse:
    """What Authlib hands back; the web layer turns it into a Starlette response."""

    status: int
    body: Any
    headers: list[tuple[str, str]] = field(default_factory=list)

    @property
    def location(self) -> str | None:
        return next((v for k, v in self.headers if k.lower() == "location"), None)

    @location.setter
    def location(self, value: str) -> None:
        self.headers = [(k, v) for k, v in self.headers if k.lower() != "location"]
        self.headers.append(("Location", value))


# The unit of work of the request being served. Authlib calls some hooks without the request
# (`query_client`, `validate_jti`, …); the entry points below bind it from the request adapter
# (`OAuthRequest.uow`) for the duration of the call, in the worker thread that runs it.
_bound: ContextVar[UnitOfWork] = ContextVar("oauth_unit_of_work")


_UNKNOWN = object()
# Clients one establishment's server keeps at most (a bound, not an eviction policy).
_MAX_CLIENTS = 1_000


def _own_claims(signed: str) -> dict[str, Any]:
    """The claims of a JWT this server has just signed (read back rather than kept in memory
    between two Authlib hooks; nothing to verify, it never left this process)."""
    payload = signed.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


def _basic(query_client: Any, request: OAuth2Request) -> Client | None:
    """client_secret_basic, where a malformed Authorization header authenticates no one
    (invalid_client) instead of raising: Authlib's parser fails on `Basic ` with nothing
    after it (ValueError) and on credentials that are no UTF-8 (UnicodeDecodeError)."""
    try:
        extract_basic_authorization(request.headers)
    except ValueError:
        return None
    return authenticate_client_secret_basic(query_client, request)  # type: ignore[no-any-return]


def _ts(moment: datetime) -> int:
    return int(moment.timestamp())


class EstablishmentServer(AuthorizationServer):
    def __init__(self, rt: Runtime, establishment_id: int, code: str, lifetimes: Lifetimes) -> None:
        super().__init__(scopes_supported=None)
        self.rt = rt
        self.keys: KeyRing = rt.keys
        self.establishment_id = establishment_id
        self.code = code
        self.issuer = rt.settings.issuer(code)
        self.lifetimes = lifetimes
        self._clients: dict[str, Client | None] = {}
        self._urls: dict[str, str] = {}
        self.register_token_generator("default", AccessTokens(self))
        self.register_grant(CodeGrant, [Pkce(required=True), OpenIDCodeFlow(self)])
        self.register_grant(RefreshGrant, [OpenIDRefresh(self)])
        self.register_grant(BackendGrant)
        self.register_extension(Issuer(self.issuer))
        self.register_client_auth_method("client_secret_basic", _basic)
        self.register_client_auth_method("private_key_jwt", PrivateKeyJwt(self))
        self.register_endpoint(Revocation)
        self.register_endpoint(Introspection)
        self.register_endpoint(EndSession)

    @functools.cached_property
    def discovery(self) -> bytes:
        """The discovery document, serialised once: the server is rebuilt when anything it
        describes changes (idp.caches)."""
        from idp.oauth.metadata import metadata  # it reads this server's registrations

        return json.dumps(metadata(self), separators=(",", ":")).encode()

    def endpoint(self, name: str) -> str:
        """The public URL of one of this establishment's routes (`token`, `jwks`, …)."""
        url = self._urls.get(name)
        if url is None:
            self._urls[name] = url = self.rt.urls.public(name, code=self.code)
        return url

    # -- the unit of work ------------------------------------------------------------------

    @contextmanager
    def _bind(self, request: Any) -> Iterator[None]:
        token = _bound.set(request.uow)
        try:
            yield
        finally:
            _bound.reset(token)

    def client_for(self, uow: UnitOfWork, client_id: str) -> Client | None:
        """An enabled client of this establishment, from the server's snapshot (a query
        only on a miss), outside an entry point: for pages that name the module."""
        token = _bound.set(uow)
        try:
            return self.query_client(client_id)
        finally:
            _bound.reset(token)

    def session(self) -> Session:
        """The request's session, for hooks that may not need one (a cache miss)."""
        return self.db

    @property
    def db(self) -> Session:
        """The session of the request being served (LookupError outside an entry point),
        opened at first use."""
        return _bound.get().session

    def get_consent_grant(self, request=None, end_user=None):  # type: ignore[no-untyped-def]
        with self._bind(request):
            return super().get_consent_grant(request, end_user)

    def create_authorization_response(self, request=None, grant_user=None, grant=None):  # type: ignore[no-untyped-def]
        with self._bind(request):
            return super().create_authorization_response(request, grant_user, grant)

    def create_token_response(self, request=None):  # type: ignore[no-untyped-def]
        with self._bind(request):
            return super().create_token_response(request)

    def create_endpoint_response(self, name, request=None):  # type: ignore[no-untyped-def]
        with self._bind(request):
            return super().create_endpoint_response(name, request)

    def validate_endpoint_request(self, name, request=None):  # type: ignore[no-untyped-def]
        with self._bind(request):
            return super().validate_endpoint_request(name, request)

    # -- Authlib's storage hooks ---------------------------------------------------------

    # This establishment and its clients are read once, then served from a detached snapshot
    # shared by every request (no query, and no merge into the request's session: the
    # protocol only reads their columns); the server is rebuilt whenever an establishment,
    # its keys or its clients change (idp.caches).

    def establishment(self, session: Session) -> Establishment:
        return self.rt.directory.snapshot(session, self.establishment_id)

    def query_client(self, client_id: str) -> Client | None:
        if not isinstance(client_id, str) or "\x00" in client_id:
            return None  # no client id holds one (PostgreSQL would refuse the query)
        snapshot = self._clients.get(client_id, _UNKNOWN)
        if snapshot is None:
            return None
        if isinstance(snapshot, Client):
            return snapshot
        session = self.db
        client = client_store.by_client_id(session, self.establishment(session), client_id)
        found = detached_copy(client) if client is not None and client.enabled else None
        if len(self._clients) >= _MAX_CLIENTS:
            self._clients.clear()
        self._clients[client_id] = found
        return found

    def save_token(self, token: dict[str, Any], request: OAuth2Request) -> None:
        claims = _own_claims(token["access_token"])
        now = self.rt.clock.now()
        previous: token_store.Refreshing | None = request.refresh_token
        code: codes.Redeemed | None = request.authorization_code
        user: User | token_store.Holder | None = request.user
        scope = token.get("scope", "")
        refresh = token.get("refresh_token")
        session = self.db
        token_store.add(
            session,
            self.establishment(session),
            client_pk=request.client.id,
            user_id=user.id if user else None,
            sso_session_id=previous.sso_session_id
            if previous
            else (code.sso_session_id if code else None),
            code_id=previous.code_id if previous else (code.id if code else None),
            family=previous.family if previous else secrets.token_hex(16),
            jti=claims["jti"],
            scope=scope,
            access_expires_at=datetime.fromtimestamp(claims["exp"], now.tzinfo),
            refresh_hash=secret_hash(refresh) if refresh else None,
            refresh_expires_at=now + self.lifetimes.refresh_token if refresh else None,
            offline="offline_access" in scope.split(),
            auth_time=previous.auth_time if previous else (code.auth_time if code else None),
            created_at=now,
        )

    def send_signal(self, name: str, *args: Any, **kwargs: Any) -> None:
        # Authlib's base raises; we have no signal subscribers.
        return None

    def create_oauth2_request(self, request: OAuth2Request) -> OAuth2Request:
        return request

    def handle_response(
        self, status: int, body: Any, headers: list[tuple[str, str]]
    ) -> OAuthResponse:
        return OAuthResponse(status, body, list(headers))

    # -- helpers -------------------------------------------------------------------------

    def sign(self, header: dict[str, Any], claims: dict[str, Any], alg: str) -> str:
        key = self.keys.signing_key(self.session, self.establishment_id, alg)
        return jwt.encode({**header, "alg": alg, "kid": key.kid}, claims, key, algorithms=[alg])


class Issuer(IssuerParameter):
    def __init__(self, issuer: str) -> None:
        self.issuer = issuer

    def get_issuer(self) -> str:
        return self.issuer


class AccessTokens(JWTBearerTokenGenerator):
    """RFC 9068 JWT access tokens, signed with the establishment's key for
    IDP_ACCESS_TOKEN_ALG (ES256 unless set to RS256), by the clock."""

    def __init__(self, server: EstablishmentServer) -> None:
        alg = server.rt.settings.access_token_alg
        super().__init__(issuer=server.issuer, alg=alg, refresh_token_generator=self._refresh)
        self.server = server

    @staticmethod
    def _refresh(**_: Any) -> str:
        return new_secret()

    def _get_expires_in(self, client: Client, grant_type: str) -> int:
        return int(self.server.lifetimes.access_token.total_seconds())

    def generate(
        self, grant_type, client, user=None, scope=None, expires_in=None, include_refresh_token=True
    ):  # type: ignore[no-untyped-def]
        # Refresh tokens only for offline_access (OIDC Core 11); the code grant asks always.
        include = include_refresh_token and "offline_access" in (scope or "").split()
        return super().generate(grant_type, client, user, scope, expires_in, include)

    def access_token_generator(
        self, client: Client, grant_type: str, user: User | None, scope: str
    ) -> str:
        # Every grant issues its access token here: the one place tokens are counted.
        self.server.rt.metrics.tokens.labels(grant_type).inc()
        now = self.server.rt.clock.now()
        claims = {
            "iss": self.issuer,
            "sub": user.sub if user else client.client_id,
            "aud": client.client_id,
            "client_id": client.client_id,
            "iat": _ts(now),
            "exp": _ts(now + self.server.lifetimes.access_token),
            "jti": secrets.token_hex(16),
            "scope": scope,
        }
        return self.server.sign({"typ": "at+jwt"}, claims, self.alg)


class Pkce(CodeChallenge):
    """PKCE with S256 only (RFC 9700 §2.1.1), required of public clients, checked at the
    authorization endpoint so that the error reaches the client there."""

    SUPPORTED_CODE_CHALLENGE_METHOD = ["S256"]

    def validate_code_challenge(self, grant, redirect_uri):  # type: ignore[no-untyped-def]
        data = grant.request.payload.data
        challenge, method = data.get("code_challenge"), data.get("code_challenge_method")
        if challenge and not method:
            # Without a method the challenge would be `plain`, which we refuse.
            raise InvalidRequestError(
                "'code_challenge_method' must be S256.", redirect_uri=redirect_uri
            )
        if not challenge and grant.request.client.public:
            raise InvalidRequestError(
                "PKCE (S256) is required for public clients.", redirect_uri=redirect_uri
            )
        super().validate_code_challenge(grant, redirect_uri)

    def validate_code_verifier(self, grant, result):  # type: ignore[no-untyped-def]
        verifier = grant.request.form.get("code_verifier")
        challenge = self.get_authorization_code_challenge(grant.request.authorization_code)
        # A verifier missing for a code issued with a challenge, or one sent for a code
        # issued without (a PKCE downgrade, RFC 9700 §4.8.2): the grant is what is wrong,
        # as for a wrong verifier (RFC 7636 §4.6), not the request.
        if challenge and not verifier:
            raise InvalidGrantError(description="The code was issued with a code_challenge.")
        if verifier and not challenge:
            raise InvalidGrantError(description="The code was issued without a code_challenge.")
        super().validate_code_verifier(grant, result)

    def get_authorization_code_challenge(self, authorization_code: codes.Redeemed) -> str | None:
        return authorization_code.code_challenge

    def get_authorization_code_challenge_method(
        self, authorization_code: codes.Redeemed
    ) -> str | None:
        return authorization_code.code_challenge_method


class CodeGrant(AuthorizationCodeGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = AUTH_METHODS

    @property
    def oidc_server(self) -> EstablishmentServer:
        return self.server  # type: ignore[return-value]

    def generate_authorization_code(self) -> str:
        # 288 random bits in one call: Authlib draws its 48 characters one system call each.
        return new_secret(36)

    def save_authorization_code(self, code: str, request: OAuth2Request) -> None:
        server = self.oidc_server
        now = server.rt.clock.now()
        data = request.payload.data
        claims = data.get("claims")
        session = server.db
        codes.add(
            session,
            server.establishment(session),
            code_hash=secret_hash(code),
            client_pk=request.client.id,
            user_id=request.user.id,
            sso_session_id=request.sso_session_id,
            redirect_uri=request.payload.redirect_uri,
            scope=request.scope,
            nonce=data.get("nonce"),
            code_challenge=data.get("code_challenge"),
            code_challenge_method=data.get("code_challenge_method"),
            claims=json.loads(claims) if claims else None,
            auth_time=request.auth_time,
            created_at=now,
            expires_at=now + server.lifetimes.code,
        )

    def query_authorization_code(self, code: str, client: Client) -> codes.Redeemed | None:
        server = self.oidc_server
        now = server.rt.clock.now()
        session = server.db
        establishment = server.establishment(session)
        claim = codes.claim(session, establishment, secret_hash(code), client.id, now)
        if claim.replayed and claim.code is not None and claim.code.client_pk == client.id:
            # RFC 6749 §4.1.2: a code used twice revokes what its first use issued. Only its
            # own client's replay does: another client that merely saw the code (a shared
            # log, a leaked URL) must not be able to sign the real module's user out.
            revoked = token_store.revoke_from_code(session, establishment, claim.code.id, now)
            audit.record(
                session,
                establishment,
                EventType.TOKEN_CODE_REPLAYED,
                at=now,
                subject=client.client_id,
                details={"revoked": revoked},
            )
            return None
        if not claim.claimed or claim.code is None or claim.code.client_pk != client.id:
            return None
        return claim.code

    def delete_authorization_code(self, authorization_code: codes.Redeemed) -> None:
        # Already consumed by the conditional UPDATE in query_authorization_code.
        return None

    def authenticate_user(self, authorization_code: codes.Redeemed) -> token_store.Holder | None:
        user = authorization_code.user
        return user if user.active else None


class RefreshGrant(RefreshTokenGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = AUTH_METHODS
    INCLUDE_NEW_REFRESH_TOKEN = True

    @property
    def oidc_server(self) -> EstablishmentServer:
        return self.server  # type: ignore[return-value]

    def _validate_request_token(self, client: Client) -> token_store.Refreshing:
        presented = self.request.form.get("refresh_token")
        if presented is None:
            raise InvalidRequestError("Missing 'refresh_token' in request.")
        server = self.oidc_server
        now = server.rt.clock.now()
        theft = False
        session = server.db
        establishment = server.establishment(session)
        token = token_store.refreshing(session, establishment, secret_hash(presented))
        if token is None or token.client_pk != client.id:
            # Another client's token: refused, and nothing revoked on its owner's behalf.
            raise InvalidGrantError()
        if token.revoked_at is not None:
            raise InvalidGrantError()
        if token.rotated_at is not None:
            theft = True
        elif token.refresh_expires_at is None or token.refresh_expires_at <= now:
            raise InvalidGrantError()
        elif not token.offline and not _session_alive(session, server, token, now):
            raise InvalidGrantError("The session this token belongs to has ended.")
        else:
            # A refused scope must leave the token usable: check it before rotating.
            self._validate_token_scope(token)
            # Two uses at once are the same theft as a late reuse (no grace period).
            theft = not token_store.mark_rotated(session, token, now)
        if theft:
            # RFC 9700 §4.14.2: a rotated refresh token used again was stolen: the whole
            # family goes. The error is an answer, not a failure: the unit of work commits.
            revoked = token_store.revoke_family(session, establishment, token.family, now)
            audit.record(
                session,
                establishment,
                EventType.TOKEN_REFRESH_REUSED,
                at=now,
                subject=client.client_id,
                details={"revoked": revoked},
            )
        if theft:
            raise InvalidGrantError()
        return token

    def authenticate_user(self, refresh_token: token_store.Refreshing) -> token_store.Holder | None:
        return refresh_token.user if refresh_token.user.active else None

    def revoke_old_credential(self, refresh_token: token_store.Refreshing) -> None:
        # Rotation was claimed in _validate_request_token; the old access token may live on
        # until it expires (RFC 6749 §6 leaves it to the server).
        return None


def _session_alive(
    session: Session, server: EstablishmentServer, token: token_store.Refreshing, now: datetime
) -> bool:  # type: ignore[no-untyped-def]
    if token.sso_session_id is None:
        return False
    row = session.get(SsoSession, token.sso_session_id)
    settings = server.rt.settings
    if row is None or row.ended_at is not None or row.expires_at <= now:
        return False
    if row.last_seen_at <= now - settings.session_idle:
        return False
    # A refresh is activity: it keeps the session from going idle, never past its end.
    sessions.touch(session, row, now)
    return True


class BackendGrant(ClientCredentialsGrant):
    """client_credentials, for a module's back end: confidential clients, no user."""

    TOKEN_ENDPOINT_AUTH_METHODS = ["client_secret_basic", "client_secret_post", "private_key_jwt"]

    def save_token(self, token: dict[str, Any]) -> None:
        # Not stored: a module's own token carries everything introspection answers about
        # it (RFC 9068), so issuing one writes nothing. Revoking one stores it then, revoked
        # (idp.oauth.endpoints); disabling the module revokes them all by its
        # `tokens_revoked_at`.
        return None


class OpenIDCodeFlow(OpenIDCode):
    def __init__(self, server: EstablishmentServer) -> None:
        super().__init__(require_nonce=False)
        self.server = server

    def exists_nonce(self, nonce: str, request: OAuth2Request) -> bool:
        return False

    def encode_id_token(self, token: dict[str, Any], request: OAuth2Request) -> str:
        code: codes.Redeemed = request.authorization_code
        return encode_id_token(
            self.server,
            request.client,
            request.user,
            token,
            code.auth_time,
            code.sid,
            nonce=code.nonce,
            requested=code.claims,
        )


class OpenIDRefresh:
    """An ID token at each refresh too, keeping the original auth_time (OIDC Core 12.2)."""

    def __init__(self, server: EstablishmentServer) -> None:
        self.server = server

    def __call__(self, grant: RefreshGrant) -> None:
        grant.register_hook("after_create_token_response", self.process_token)

    def process_token(self, grant: RefreshGrant, response: tuple) -> dict[str, Any]:  # type: ignore[type-arg]
        _, token, _ = response
        if is_openid_scope(token.get("scope")):
            old: token_store.Refreshing = grant.request.refresh_token
            token["id_token"] = encode_id_token(
                self.server,
                grant.request.client,
                grant.request.user,
                token,
                old.auth_time,
                old.sid,
                # Claims asked for the ID token at sign-in are asked for its renewals too.
                requested=old.requested,
            )
        return token


def encode_id_token(
    server: EstablishmentServer,
    client: Client,
    user: User | token_store.Holder,
    token: dict[str, Any],
    auth_time: datetime | None,
    sid: str | None,
    *,
    nonce: str | None = None,
    requested: dict[str, Any] | None = None,
) -> str:
    now = server.rt.clock.now()
    alg = client.id_token_signed_response_alg
    claims: dict[str, Any] = {
        "iss": server.issuer,
        "sub": user.sub,
        "aud": client.client_id,
        "iat": _ts(now),
        "exp": _ts(now + server.lifetimes.id_token),
    }
    if auth_time is not None:
        claims["auth_time"] = _ts(auth_time)
    if nonce:
        claims["nonce"] = nonce
    if sid is not None:
        claims["sid"] = sid
    if access_token := token.get("access_token"):
        claims["at_hash"] = create_half_hash(access_token, alg).decode()
    # Claims for the scopes belong in the ID token only when no access token lets the client
    # ask userinfo; here one always does, so only claims requested for the ID token go in.
    claims.update(
        id_token_claims(
            server, user, token.get("scope", ""), requested, with_access_token=bool(access_token)
        )
    )
    return server.sign({"typ": "JWT"}, claims, alg)
