"""Establishment codes: the `{code}` of `{base}/{code}`, a lower-case slug that is not one of
the provider's own top-level paths.
"""

from __future__ import annotations

import re

from idp.errors import InvalidInput

_SLUG = re.compile(r"[a-z0-9][a-z0-9-]{1,39}")

# Top-level paths of the provider, and names that would mislead if they were a school.
RESERVED = frozenset(
    {
        "admin",
        "static",
        "healthz",
        "readyz",
        "metrics",
        ".well-known",
        "well-known",
        "oidc",
        "oauth",
        "oauth2",
        "api",
        "login",
        "logout",
        "password",
        "account",
        "auth",
        "authorize",
        "token",
        "userinfo",
        "jwks",
        "favicon.ico",
        "robots.txt",
        "assets",
        "docs",
        "help",
        "aide",
        "www",
        "demo-admin",
        "cpro",
        "root",
        "system",
        "status",
    }
)


def validate(code: str) -> str:
    """The code as stored, or InvalidInput saying what is wrong with it."""
    candidate = code.strip()
    if not _SLUG.fullmatch(candidate):
        raise InvalidInput(
            "Code d'établissement invalide : 2 à 40 caractères parmi a-z, 0-9 et -, "
            "commençant par une lettre ou un chiffre.",
            detail=f"invalid establishment code {code!r}: expected [a-z0-9][a-z0-9-]{{1,39}}",
        )
    if candidate in RESERVED:
        raise InvalidInput(
            "Ce code d'établissement est réservé.",
            detail=f"establishment code {code!r} is reserved",
        )
    return candidate
