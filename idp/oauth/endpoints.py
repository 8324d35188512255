"""Revocation (RFC 7009), introspection (RFC 7662) and RP-initiated logout (OpenID Connect
RP-Initiated Logout 1.0), on Authlib's endpoint classes, for one establishment."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from authlib.common.urls import add_params_to_uri
from authlib.oauth2.rfc6749.errors import InvalidRequestError, UnauthorizedClientError
from authlib.oauth2.rfc7009 import RevocationEndpoint
from authlib.oauth2.rfc7662 import IntrospectionEndpoint
from authlib.oidc.rpinitiated import EndSessionEndpoint
from joserfc.jwk import KeySet
from sqlalchemy import Row

from idp.models import Client, Token
from idp.oauth.access_tokens import verify_access_token, verify_id_token_hint
from idp.oauth.keys import ALGORITHMS
from idp.security.tokens import secret_hash
from idp.store import tokens as token_store

if TYPE_CHECKING:
    from idp.oauth.server import EstablishmentServer

ALL_METHODS = ["client_secret_basic", "client_secret_post", "private_key_jwt", "none"]


@dataclass(frozen=True)
class Key:
    """How to look a presented token up: by `jti` (one of our JWT access tokens, whose
    verified `claims` come with it) or by `refresh_hash` (anything else)."""

    jti: str | None = None
    claims: dict[str, Any] | None = None
    refresh_hash: str | None = None

    @property
    def client_own(self) -> bool:
        """A client_credentials token (its subject is the client, RFC 9068 §2.2): no row
        holds it unless it was revoked. Ours always carry an integer `iat` and `exp`, which
        are all there is to judge it by: without them it is none of ours."""
        claims = self.claims
        return (
            claims is not None
            and isinstance(claims.get("client_id"), str)
            and claims.get("sub") == claims["client_id"]
            and isinstance(claims.get("iat"), int)
            and isinstance(claims.get("exp"), int)
        )


def token_key(server: EstablishmentServer, presented: str) -> Key | None:
    """How to look a presented token up; None for a JWT that is not ours.

    The `token_type_hint` is not consulted: it is only a hint (RFC 7009 §2.1, RFC 7662
    §2.1), and the form tells the two apart: our refresh tokens never hold a dot.
    """
    if presented.count(".") == 2:
        claims = verify_access_token(server, server.session, presented, allow_expired=True)
        return Key(jti=claims["jti"], claims=claims) if isinstance(claims, dict) else None
    return Key(refresh_hash=secret_hash(presented))


def find_token(server: EstablishmentServer, presented: str) -> Token | None:
    """An access token (by its jti) or a refresh token (by its hash). A client_credentials
    token without a row comes back as a Token of its claims, not in the session."""
    key = token_key(server, presented)
    if key is None:
        return None
    session = server.db
    establishment = server.establishment(session)
    if key.jti is None:
        assert key.refresh_hash is not None
        return token_store.by_refresh_hash(session, establishment, key.refresh_hash)
    found = token_store.by_jti(session, establishment, key.jti)
    if found is not None or not key.client_own:
        return found
    claims = key.claims
    assert claims is not None
    client = token_store.client_state(session, establishment, claims["client_id"])
    if client is None:
        return None
    return Token(
        client_pk=client.id,
        user_id=None,
        family=secrets.token_hex(16),
        jti=key.jti,
        scope=claims.get("scope", ""),
        created_at=datetime.fromtimestamp(claims["iat"], UTC),
        access_expires_at=datetime.fromtimestamp(claims["exp"], UTC),
        offline=False,
    )


def check_token_param(request: Any) -> None:
    """Only `token` is required. An unknown `token_type_hint` is ignored (RFC 7662 §2.1
    allows it; RFC 7009's `unsupported_token_type` is for a type the server cannot
    revoke, and Authlib answered it with a 401, as if the client had failed to
    authenticate)."""
    if not request.form.get("token"):
        raise InvalidRequestError("Missing 'token'.")


class Revocation(RevocationEndpoint):
    CLIENT_AUTH_METHODS = ALL_METHODS

    @property
    def oidc(self) -> EstablishmentServer:
        return self.server  # type: ignore[return-value]

    def authenticate_token(self, request: Any, client: Client) -> Token | None:
        check_token_param(request)
        token = find_token(self.oidc, request.form["token"])
        if token is not None and token.client_pk != client.id:
            # RFC 7009 §2.1: the server verifies that the token was issued to the client
            # asking, and refuses the request otherwise; nothing is revoked.
            raise UnauthorizedClientError("The token was not issued to this client.")
        return token

    def revoke_token(self, token: Token, request: Any) -> None:
        now = self.oidc.rt.clock.now()
        presented = request.form["token"]
        session = self.oidc.db
        establishment = self.oidc.establishment(session)
        if token.id is None:
            # A client_credentials token, stored now that it is revoked (until it expires).
            if token.access_expires_at > now:
                token_store.add_revoked(
                    session,
                    establishment,
                    client_pk=token.client_pk,
                    family=token.family,
                    jti=token.jti,
                    scope=token.scope,
                    offline=False,
                    created_at=token.created_at,
                    access_expires_at=token.access_expires_at,
                    revoked_at=now,
                )
        elif token.refresh_hash and token.refresh_hash == secret_hash(presented):
            # A refresh token: the whole grant goes (RFC 7009 §2.1).
            token_store.revoke_family(session, establishment, token.family, now)
        else:
            token_store.revoke_one(session, establishment, token, now)


@dataclass(frozen=True)
class Presented:
    """A token with its client and user (idp.store.tokens.introspected), and which of its
    two tokens was presented; or a client_credentials token: its verified claims and its
    client's state (idp.store.tokens.client_state)."""

    row: Row[Any]
    refresh: bool
    claims: dict[str, Any] | None = None


class Introspection(IntrospectionEndpoint):
    CLIENT_AUTH_METHODS = ["client_secret_basic", "client_secret_post", "private_key_jwt"]

    @property
    def oidc(self) -> EstablishmentServer:
        return self.server  # type: ignore[return-value]

    def check_params(self, request: Any, client: Client) -> None:
        check_token_param(request)

    def query_token(self, token_string: str, token_type_hint: str | None) -> Presented | None:
        # As find_token, but the token, its client and its user in one query.
        key = token_key(self.oidc, token_string)
        if key is None:
            return None
        session = self.oidc.db
        establishment = self.oidc.establishment(session)
        if key.client_own:
            assert key.claims is not None
            client = token_store.client_state(
                session, establishment, key.claims["client_id"], jti=key.jti
            )
            return None if client is None else Presented(client, refresh=False, claims=key.claims)
        row = token_store.introspected(
            session, establishment, jti=key.jti, refresh_hash=key.refresh_hash
        )
        return None if row is None else Presented(row, refresh=key.jti is None)

    def check_permission(self, token: Presented, client: Client, request: Any) -> bool:
        # A module learns about its own tokens only: another module's token is "not active"
        # to it (RFC 7662 §2.2), so that no module can turn a token it saw into a pupil's
        # login. The query is already scoped to the establishment.
        owner = token.row.client_pk if token.claims is None else token.row.id
        return owner == client.id  # type: ignore[no-any-return]

    def create_introspection_payload(self, token: Presented | None) -> dict[str, Any]:
        now = self.oidc.rt.clock.now()
        if token is not None and token.claims is not None:
            return self._client_own_payload(token.row, token.claims, now)
        if token is None or token.row.revoked_at is not None:
            return {"active": False}
        row, is_refresh = token.row, token.refresh
        expires = row.refresh_expires_at if is_refresh else row.access_expires_at
        if is_refresh and row.rotated_at is not None:
            return {"active": False}
        if expires is None or expires <= now:
            return {"active": False}
        if not row.enabled:
            return {"active": False}
        has_user = row.user_id is not None
        if has_user and not row.active:
            return {"active": False}
        payload: dict[str, Any] = {
            "active": True,
            "scope": row.scope,
            "client_id": row.client_id,
            "token_type": "refresh_token" if is_refresh else "access_token",
            "exp": int(expires.timestamp()),
            "iat": int(row.created_at.timestamp()),
            "iss": self.oidc.issuer,
            "sub": row.sub if has_user else row.client_id,
        }
        if has_user:
            payload["username"] = row.login
        if not is_refresh:
            payload["jti"] = row.jti
            payload["aud"] = row.client_id
        return payload

    def _client_own_payload(
        self, client: Row[Any], claims: dict[str, Any], now: datetime
    ) -> dict[str, Any]:
        """A client_credentials token: active while unexpired and unrevoked, and while its
        client is enabled and has not been disabled since it was issued."""
        expires, issued = claims["exp"], claims["iat"]  # integers (Key.client_own)
        if expires <= now.timestamp() or not client.enabled or client.revoked_at is not None:
            return {"active": False}
        revoked = client.tokens_revoked_at
        if revoked is not None and issued <= revoked.timestamp():
            return {"active": False}
        return {
            "active": True,
            "scope": claims.get("scope", ""),
            "client_id": client.client_id,
            "token_type": "access_token",
            "exp": expires,
            "iat": issued,
            "iss": self.oidc.issuer,
            "sub": client.client_id,
            "jti": claims["jti"],
            "aud": client.client_id,
        }


class EndSession(EndSessionEndpoint):
    """Validation of logout requests; ending the session is the web layer's (it holds the
    browser's cookie) through idp.oauth.logout."""

    @property
    def oidc(self) -> EstablishmentServer:
        return self.server  # type: ignore[return-value]

    def get_server_jwks(self) -> KeySet:
        return self.oidc.keys.verification_keys(self.oidc.db, self.oidc.establishment_id)

    def get_algorithms(self) -> list[str]:
        return list(ALGORITHMS)

    def _validate_id_token_hint(self, id_token_hint: str) -> dict[str, Any]:
        # Authlib checks the signature only: an access token of ours would pass.
        claims = verify_id_token_hint(self.oidc, self.oidc.db, id_token_hint)
        if claims is None:
            raise InvalidRequestError("Invalid 'id_token_hint'.")
        return dict(claims)

    def end_session(self, end_session_request: Any) -> None:
        return None


def logout_needs_confirmation(validated: Any, signed_in_sub: str) -> bool:
    """RP-Initiated Logout 1.0 §2: unless a valid `id_token_hint` names the signed-in user,
    nothing proves that the module asking is the user's: the user confirms first."""
    hint = validated.id_token_claims
    return hint is None or hint.get("sub") != signed_in_sub


def post_logout_redirect(validated: Any, params: dict[str, Any], *, confirmed: bool) -> str | None:
    """Where the browser goes once the session has ended (§3): the registered
    `post_logout_redirect_uri` Authlib accepted (with `state`); after a confirmation, a URI
    registered by the client the request names; otherwise nowhere (our own page)."""
    if validated.redirect_uri is not None:
        return validated.redirect_uri  # type: ignore[no-any-return]
    uri = params.get("post_logout_redirect_uri")
    client = validated.client
    if not (confirmed and client is not None and uri):
        return None
    if uri not in client.client_metadata["post_logout_redirect_uris"]:
        return None
    return add_params_to_uri(uri, [("state", params["state"])]) if params.get("state") else uri
