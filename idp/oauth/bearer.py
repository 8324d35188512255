"""Bearer access tokens at our own protected endpoint, userinfo (OpenID Connect Core §5.3):
RFC 6750 through Authlib's ResourceProtector, our RFC 9068 JWT access tokens through Authlib's
JWT access token validator, then the token table (a revoked token, a deactivated account or
a disabled module stops working at once, whatever the token's expiry says)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from authlib.oauth2.rfc6749 import ResourceProtector
from authlib.oauth2.rfc6750.errors import InvalidTokenError
from authlib.oauth2.rfc9068 import JWTBearerTokenValidator
from authlib.oauth2.rfc9068.claims import JWTAccessTokenClaims
from joserfc.errors import JoseError
from sqlalchemy.orm import Session

from idp.models import Establishment
from idp.oauth.access_tokens import ACCESS_TOKEN_ALGS, MALFORMED
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


class AccessTokenValidator(JWTBearerTokenValidator):
    """RFC 9068 §4 for the tokens of one establishment, checked by its clock."""

    def __init__(self, server: EstablishmentServer, session: Session) -> None:
        super().__init__(issuer=server.issuer, resource_server=server.issuer)
        self.server = server
        self.session = session

    def get_jwks(self):  # type: ignore[no-untyped-def]
        return self.server.keys.verification_keys(self.session, self.server.establishment_id)

    def authenticate_token(self, token_string: str) -> JWTAccessTokenClaims:
        try:
            header, claims = self.server.keys.verified(
                self.session, self.server.establishment_id, token_string, ACCESS_TOKEN_ALGS
            )
        except MALFORMED as exc:
            raise InvalidTokenError("The access token is invalid.") from exc
        essential = {"essential": True}
        options = {
            "iss": {"essential": True, "validate": self.validate_iss},
            # Our tokens name the module that asked for them as their audience; userinfo is
            # every module's resource, so any audience of this issuer will do.
            "aud": dict(essential),
            "exp": dict(essential),
            "sub": dict(essential),
            "client_id": dict(essential),
            "iat": dict(essential),
            "jti": dict(essential),
        }
        return JWTAccessTokenClaims(claims, header, options)  # type: ignore[arg-type]

    def validate_token(self, token, scopes, request, **_: Any) -> None:  # type: ignore[no-untyped-def,override]
        now = int(self.server.rt.clock.now().timestamp())
        try:
            token.validate(now=now)
        except JoseError as exc:
            raise InvalidTokenError("The access token is expired or invalid.") from exc
        if not isinstance(token.get("jti"), str):
            raise InvalidTokenError("The access token is invalid.")
        request.bearer = self._stored(token)

    def _stored(self, claims: JWTAccessTokenClaims) -> Bearer:
        session = self.session
        establishment = self.server.establishment(session)
        found = tokens.bearer_by_jti(session, establishment, claims["jti"])
        if found is None:
            raise InvalidTokenError(UNKNOWN)
        user, token_scope, revoked_at, client_enabled, requested = found
        if revoked_at is not None or not user.active or not client_enabled:
            raise InvalidTokenError(UNKNOWN)
        return Bearer(dict(claims), user, token_scope, establishment, requested)


def protector(server: EstablishmentServer, session: Session) -> ResourceProtector:
    guard = ResourceProtector()
    guard.register_token_validator(AccessTokenValidator(server, session))
    return guard


def bearer_of(server: EstablishmentServer, request: OAuthRequest) -> Bearer:
    """The access token a request presents, checked. Raises MissingAuthorizationError or
    UnsupportedTokenTypeError (no bearer token at all) or InvalidTokenError. Blocking."""
    form_token = request.form.get("access_token") if request.method == "POST" else None
    if not request.headers.get("Authorization") and form_token:
        # RFC 6750 §2.2: the token in the form body, read as if it came in the header.
        request.headers = {"Authorization": f"Bearer {form_token}"}
    protector(server, request.db).validate_request(None, request)
    return request.bearer  # type: ignore[no-any-return]
