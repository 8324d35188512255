"""Claims about a user (README, "OpenID Connect, for module developers"), by scope and by
the `claims` request parameter (OIDC Core 5.5). Birth dates never leave the provider."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from idp.models import Establishment, User
from idp.oauth.scopes import SCOPE_CLAIMS
from idp.store.tokens import Holder

if TYPE_CHECKING:
    from idp.oauth.server import EstablishmentServer


def claim_values(
    user: User | Holder, establishment: Establishment, names: list[str]
) -> dict[str, Any]:
    """The values of `names` (and of the cheap claims beside them): the class and groups take
    a query of their own, made only when they are asked for."""
    values = {
        "sub": user.sub,
        "preferred_username": user.login,
        "given_name": user.first_name,
        "family_name": user.last_name,
        "name": f"{user.first_name} {user.last_name}",
        "email": user.email,
        "email_verified": bool(user.email and user.email_verified),
        "establishment": {
            "code": establishment.code,
            "name": establishment.name,
            "uai": establishment.uai,
        },
        "role": user.role.value,
        "profile": user.role.profile,
    }
    if "groups" in names:
        values["groups"] = user.group_names
    if "classes" in names:
        values["classes"] = user.class_names
    return values


def names_for(scope: str) -> list[str]:
    return list(dict.fromkeys(c for s in scope.split() for c in SCOPE_CLAIMS.get(s, ())))


def select(values: dict[str, Any], names: list[str]) -> dict[str, Any]:
    # A claim the user does not have (no email) is omitted, not null (OIDC Core 5.3.2).
    return {n: values[n] for n in names if n in values and values[n] is not None}


def requested(claims_parameter: dict[str, Any] | None, member: str) -> list[str]:
    """Claim names asked for in the `claims` parameter's `userinfo` or `id_token` member."""
    if not isinstance(claims_parameter, dict):
        return []
    section = claims_parameter.get(member)
    return [name for name in section if isinstance(name, str)] if isinstance(section, dict) else []


def userinfo_claims(
    user: User | Holder,
    establishment: Establishment,
    scope: str,
    claims_parameter: dict[str, Any] | None,
) -> dict[str, Any]:
    granted = names_for(scope)
    # The claims parameter chooses among what the granted scopes allow, never beyond: the
    # module's allowed scopes and the user's consent are about scopes.
    asked = [n for n in requested(claims_parameter, "userinfo") if n in granted]
    names = list(dict.fromkeys(["sub", *granted, *asked]))
    values = claim_values(user, establishment, names)
    return select(values, [n for n in names if n in values])


def id_token_claims(
    server: EstablishmentServer,
    user: User | Holder,
    scope: str,
    claims_parameter: dict[str, Any] | None,
    *,
    with_access_token: bool,
) -> dict[str, Any]:
    names = [n for n in requested(claims_parameter, "id_token") if n in names_for(scope)]
    if not with_access_token:
        names = [*names_for(scope), *names]
    if not names:
        return {}
    session = server.db
    establishment = server.establishment(session)
    fresh = session.get(User, user.id)
    assert fresh is not None
    values = claim_values(fresh, establishment, names)
    return select(values, [n for n in dict.fromkeys(names) if n in values and n != "sub"])
