"""Revocation (RFC 7009), introspection (RFC 7662) and RP-initiated logout (OpenID Connect
RP-Initiated Logout 1.0), on Authlib's endpoint classes, for one establishment."""

from __future__ import annotations

from dataclasses import dataclass
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


def token_key(server: EstablishmentServer, presented: str) -> dict[str, str] | None:
    """How to look a presented token up: `{"jti": …}` for one of our access tokens (a JWT,
    verified), `{"refresh_hash": …}` for anything else; None for a JWT that is not ours.

    The `token_type_hint` is not consulted: it is only a hint (RFC 7009 §2.1, RFC 7662
    §2.1), and the form tells the two apart: our refresh tokens never hold a dot.
    """
    if presented.count(".") == 2:
        claims = verify_access_token(server, server.db, presented, allow_expired=True)
        return {"jti": claims["jti"]} if isinstance(claims, dict) else None
    return {"refresh_hash": secret_hash(presented)}


def find_token(server: EstablishmentServer, presented: str) -> Token | None:
    """An access token (by its jti) or a refresh token (by its hash)."""
    key = token_key(server, presented)
    if key is None:
        return None
    session = server.db
    establishment = server.establishment(session)
    if "jti" in key:
        return token_store.by_jti(session, establishment, key["jti"])
    return token_store.by_refresh_hash(session, establishment, key["refresh_hash"])


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
        if token.refresh_hash and token.refresh_hash == secret_hash(presented):
            # A refresh token: the whole grant goes (RFC 7009 §2.1).
            token_store.revoke_family(session, establishment, token.family, now)
        else:
            token_store.revoke_one(session, establishment, token, now)


@dataclass(frozen=True)
class Presented:
    """A token with its client and user (idp.store.tokens.introspected), and which of its
    two tokens was presented."""

    row: Row[Any]
    refresh: bool


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
        row = token_store.introspected(session, self.oidc.establishment(session), **key)
        return None if row is None else Presented(row, refresh="refresh_hash" in key)

    def check_permission(self, token: Presented, client: Client, request: Any) -> bool:
        # A module learns about its own tokens only: another module's token is "not active"
        # to it (RFC 7662 §2.2), so that no module can turn a token it saw into a pupil's
        # login. The query is already scoped to the establishment.
        return token.row.client_pk == client.id

    def create_introspection_payload(self, token: Presented | None) -> dict[str, Any]:
        now = self.oidc.rt.clock.now()
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
