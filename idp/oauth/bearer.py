"""Bearer access tokens at our own protected endpoint, userinfo (OpenID Connect Core §5.3):
RFC 6750, our RFC 9068 JWT access tokens (idp.oauth.access_tokens), then the token table
(a revoked token, a deactivated account or a disabled module stops working at once,
whatever the token's expiry says)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from authlib.oauth2.rfc6749.errors import MissingAuthorizationError, UnsupportedTokenTypeError
from authlib.oauth2.rfc6750.errors import InvalidTokenError

from idp.models import Establishment
from idp.oauth.access_tokens import verify_access_token
from idp.store import tokens

if TYPE_CHECKING:
    from idp.oauth.requests import OAuthRequest
    from idp.oauth.server import EstablishmentServer

UNKNOWN = "The access token is revoked or unknown."


@dataclass(frozen=True)
class Bearer:
    """What a valid access token stands for."""

    claims: dict[str, Any]
    user: tokens.Holder
    scope: str
    establishment: Establishment
    # The `claims` request parameter of the sign-in the token comes from (OIDC Core §5.5).
    requested: dict[str, Any] | None


def bearer_of(server: EstablishmentServer, request: OAuthRequest) -> Bearer:
    """The access token a request presents, checked. Raises MissingAuthorizationError or
    UnsupportedTokenTypeError (no bearer token at all) or InvalidTokenError. Blocking.

    RFC 6750 §2.1 and §2.2 read here rather than through Authlib's ResourceProtector and
    RFC 9068 claims classes: the same checks (`verify_access_token`: signature, `typ`,
    issuer, expiry, `jti`; then the claims every one of our tokens carries) cost a tenth
    of a userinfo request that way."""
    header = request.headers.get("Authorization")
    form_token = request.form.get("access_token") if request.method == "POST" else None
    if not header and form_token:
        # RFC 6750 §2.2: the token in the form body, read as if it came in the header.
        header = f"Bearer {form_token}"
    if not header:
        raise MissingAuthorizationError()
    parts = header.split(None, 1)
    if len(parts) != 2 or parts[0].lower() != "bearer":
        raise UnsupportedTokenTypeError()
    claims = verify_access_token(server, request.db, parts[1])
    if isinstance(claims, str):
        raise InvalidTokenError(claims)
    # Our tokens name the module that asked for them as their audience; userinfo is every
    # module's resource, so any audience of this issuer will do (RFC 9068 §4 otherwise).
    if any(claims.get(name) is None for name in ("aud", "sub", "client_id", "iat")):
        raise InvalidTokenError("The access token is invalid.")
    session = request.db
    establishment = server.establishment(session)
    found = tokens.bearer_by_jti(session, establishment, claims["jti"])
    if found is None:
        raise InvalidTokenError(UNKNOWN)
    user, token_scope, revoked_at, client_enabled, requested = found
    if revoked_at is not None or not user.active or not client_enabled:
        raise InvalidTokenError(UNKNOWN)
    return Bearer(claims, user, token_scope, establishment, requested)
