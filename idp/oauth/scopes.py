"""Scopes and the claims they release (README, "OpenID Connect, for module developers")."""

from __future__ import annotations

SCOPE_CLAIMS: dict[str, tuple[str, ...]] = {
    "openid": ("sub",),
    "profile": ("preferred_username", "given_name", "family_name", "name"),
    "email": ("email", "email_verified"),
    "cpro": ("establishment", "role", "profile", "classes", "groups"),
    "offline_access": (),
}
SCOPES = tuple(SCOPE_CLAIMS)
CLAIMS = tuple(dict.fromkeys(c for claims in SCOPE_CLAIMS.values() for c in claims))


def allowed_scope(requested: str | None) -> str:
    """The requested scopes we know, in request order; unknown ones are ignored (OIDC Core
    3.1.2.1: "Scope values used that are not understood by an implementation SHOULD be
    ignored")."""
    seen = dict.fromkeys((requested or "").split())
    return " ".join(s for s in seen if s in SCOPE_CLAIMS)
