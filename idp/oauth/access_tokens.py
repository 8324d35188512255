"""Checking our own JWT access tokens (RFC 9068 §4): signature against the establishment's
keys, `typ`, issuer, expiry. Whether one is revoked is the token table's to say."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from joserfc import jwt
from joserfc.errors import JoseError
from sqlalchemy.orm import Session

from idp.oauth.keys import ALGORITHMS, SessionSource

if TYPE_CHECKING:
    from idp.oauth.server import EstablishmentServer

# What jwt.decode raises for a token that is not one of ours: joserfc's own errors, and
# TypeError from header fields of the wrong type (a `crit` that is no list of names).
MALFORMED = (JoseError, ValueError, TypeError)

# Both, whichever IDP_ACCESS_TOKEN_ALG says: tokens signed before it changed stay good until
# they expire.
ACCESS_TOKEN_ALGS = list(ALGORITHMS)


def verify_access_token(
    server: EstablishmentServer,
    session: SessionSource,
    presented: str,
    *,
    allow_expired: bool = False,
) -> dict[str, Any] | str:
    """The claims of one of our JWT access tokens (RFC 9068 §4), or why it is refused."""
    try:
        header, claims = server.keys.verified(
            session, server.establishment_id, presented, ACCESS_TOKEN_ALGS
        )
    except MALFORMED:
        return "The access token is invalid."
    typ = header.get("typ", "")
    if not isinstance(typ, str) or typ.lower() not in ("at+jwt", "application/at+jwt"):
        return "The access token is invalid."
    now = int(server.rt.clock.now().timestamp())
    expired = not isinstance(claims.get("exp"), int) or claims["exp"] <= now
    if claims.get("iss") != server.issuer or (expired and not allow_expired):
        return "The access token is expired or invalid."
    if not isinstance(claims.get("jti"), str):
        return "The access token is invalid."
    return claims


def verify_id_token_hint(
    server: EstablishmentServer, session: Session, hint: str
) -> dict[str, Any] | None:
    """The claims of an ID token this issuer signed (expired ones included: OIDC Core
    3.1.2.1 allows a hint past its expiry), or None."""
    keys = server.keys.verification_keys(session, server.establishment_id)
    try:
        decoded = jwt.decode(hint, keys, algorithms=["RS256", "ES256"])
    except MALFORMED:
        return None
    if decoded.header.get("typ", "JWT").lower() in ("at+jwt", "application/at+jwt", "logout+jwt"):
        return None  # an access or logout token is no ID token
    claims = decoded.claims
    if claims.get("iss") != server.issuer or not isinstance(claims.get("sub"), str):
        return None
    return claims
