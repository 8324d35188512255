"""Client applications (the CPRO modules) of an establishment: registered by the operator
or the admin console, edited, their secret rotated, disabled, deleted."""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from joserfc.errors import JoseError
from joserfc.jwk import KeySet
from sqlalchemy.orm import Session

from idp.accounts import names
from idp.errors import InvalidInput, NotFound
from idp.models import Client, Establishment
from idp.oauth import redirect_uris
from idp.oauth.scopes import SCOPES
from idp.runtime import Runtime
from idp.security.tokens import new_secret, secret_hash
from idp.services import establishments
from idp.store import audit, clients, tokens
from idp.store.audit import EventType


@dataclass(frozen=True)
class NewClient:
    client: Client
    # Shown once: only its hash is stored.
    secret: str | None


AUTH_METHODS = ("client_secret_basic", "client_secret_post", "private_key_jwt", "none")
ID_TOKEN_ALGS = ("RS256", "ES256")


def _scopes(allowed: Sequence[str] | None) -> list[str] | None:
    """The scopes a module may ask for; None (all of them) when every scope is allowed."""
    if allowed is None:
        return None
    unknown = [s for s in allowed if s not in SCOPES]
    if unknown:
        raise InvalidInput("Portée inconnue.", detail=f"unknown scopes: {unknown}")
    chosen = [s for s in SCOPES if s in allowed]
    return None if chosen == list(SCOPES) else chosen


def check_jwks(jwks: object) -> dict[str, Any]:
    """A client's public keys for private_key_jwt: a JWK Set, and no private member."""
    if not isinstance(jwks, dict) or not isinstance(jwks.get("keys"), list) or not jwks["keys"]:
        raise InvalidInput(
            "Jeu de clés (JWKS) invalide.",
            detail="the JWKS must be an object with a non-empty 'keys' list",
        )
    for key in jwks["keys"]:
        if not isinstance(key, dict) or "kty" not in key:
            raise InvalidInput("Jeu de clés (JWKS) invalide.", detail="every key needs a 'kty'")
        if {"d", "p", "q", "dp", "dq", "qi", "k"} & set(key):
            raise InvalidInput(
                "Le jeu de clés contient une clé privée.",
                detail="the JWKS holds private key material: register public keys only",
            )
    try:
        KeySet.import_key_set(jwks)
    except (ValueError, TypeError, KeyError, JoseError) as exc:
        raise InvalidInput("Jeu de clés (JWKS) invalide.", detail=f"invalid JWKS: {exc}") from None
    return jwks


def add(
    rt: Runtime,
    session: Session,
    code: str,
    *,
    name: str,
    redirect_uris_: Sequence[str],
    post_logout_redirect_uris: Sequence[str] = (),
    backchannel_logout_uri: str | None = None,
    public: bool = False,
    third_party: bool = False,
    auth_method: str | None = None,
    jwks_uri: str | None = None,
    jwks: dict[str, Any] | None = None,
    id_token_alg: str = "RS256",  # noqa: S107 - an algorithm name
    allowed_scopes: Sequence[str] | None = None,
    actor: str = audit.OPERATOR,
) -> NewClient:
    name = names.clean(name, "Nom", 200)
    method = auth_method or ("none" if public else "client_secret_basic")
    if method not in AUTH_METHODS:
        raise InvalidInput(
            "Méthode d'authentification inconnue.", detail=f"unknown auth method {method!r}"
        )
    if public and method != "none":
        raise InvalidInput(
            "Un client public n'a pas de secret.",
            detail=f"--public goes with --auth-method none, not {method}",
        )
    public = method == "none"
    if id_token_alg not in ID_TOKEN_ALGS:
        raise InvalidInput(
            "Algorithme inconnu.",
            detail=f"--id-token-alg must be RS256 or ES256, not {id_token_alg!r}",
        )
    if method == "private_key_jwt":
        if bool(jwks_uri) == bool(jwks):
            raise InvalidInput(
                "Indiquez l'adresse ou le fichier des clés du client.",
                detail="private_key_jwt needs exactly one of --jwks-uri and --jwks-file",
            )
    elif jwks_uri or jwks:
        raise InvalidInput(
            "Des clés de client ne servent qu'avec private_key_jwt.",
            detail="--jwks-uri/--jwks-file go with --auth-method private_key_jwt",
        )
    if jwks_uri:
        jwks_uri = redirect_uris.validate_outbound(jwks_uri, rt.outbound)
    if jwks is not None:
        jwks = check_jwks(jwks)
    if not redirect_uris_:
        raise InvalidInput(
            "Au moins une adresse de redirection est nécessaire.", detail="no redirect URI"
        )
    checked = [redirect_uris.validate(u, public=public) for u in dict.fromkeys(redirect_uris_)]
    post_logout = [
        redirect_uris.validate(u, public=public) for u in dict.fromkeys(post_logout_redirect_uris)
    ]
    if backchannel_logout_uri is not None:
        # The provider POSTs to it itself: https to a public host (no SSRF).
        backchannel_logout_uri = redirect_uris.validate_outbound(
            backchannel_logout_uri, rt.outbound
        )
    secret = new_secret() if method in ("client_secret_basic", "client_secret_post") else None
    now = rt.clock.now()
    establishment = establishments.get(session, code)
    client = clients.add(
        session,
        establishment,
        client_id=secrets.token_hex(16),
        name=name,
        secret_hash=secret_hash(secret) if secret else None,
        token_endpoint_auth_method=method,
        redirect_uris=checked,
        post_logout_redirect_uris=post_logout,
        backchannel_logout_uri=backchannel_logout_uri,
        third_party=third_party,
        now=now,
    )
    client.id_token_signed_response_alg = id_token_alg
    client.allowed_scopes = _scopes(allowed_scopes)
    client.jwks_uri = jwks_uri
    client.jwks = jwks
    # Instances cache clients, unknown ones too: they see it within IDP_CACHE_SECONDS.
    rt.caches.changed(session)
    audit.record(
        session,
        establishment,
        EventType.CLIENT_CREATED,
        at=now,
        actor=actor,
        subject=client.client_id,
        details={"name": name, "auth_method": method},
    )
    return NewClient(client, secret)


# -- from the console ----------------------------------------------------------------------


def get(session: Session, establishment: Establishment, client_id: str) -> Client:
    client = clients.by_client_id(session, establishment, client_id)
    if client is None:
        raise NotFound("Application inconnue.", detail=f"unknown client {client_id!r}")
    return client


def update(
    rt: Runtime,
    session: Session,
    code: str,
    client_id: str,
    *,
    name: str,
    redirect_uris_: Sequence[str],
    post_logout_redirect_uris: Sequence[str] = (),
    backchannel_logout_uri: str | None = None,
    third_party: bool = False,
    id_token_alg: str = "RS256",  # noqa: S107 - an algorithm name
    allowed_scopes: Sequence[str] | None = None,
    actor: str,
) -> Client:
    name = names.clean(name, "Nom", 200)
    if id_token_alg not in ID_TOKEN_ALGS:
        raise InvalidInput("Algorithme inconnu.", detail=f"bad id token alg {id_token_alg!r}")
    now = rt.clock.now()
    establishment = establishments.get(session, code)
    client = get(session, establishment, client_id)
    if not redirect_uris_:
        raise InvalidInput(
            "Au moins une adresse de redirection est nécessaire.", detail="no redirect URI"
        )
    client.redirect_uris = [
        redirect_uris.validate(u, public=client.public) for u in dict.fromkeys(redirect_uris_)
    ]
    client.post_logout_redirect_uris = [
        redirect_uris.validate(u, public=client.public)
        for u in dict.fromkeys(post_logout_redirect_uris)
    ]
    client.backchannel_logout_uri = (
        redirect_uris.validate_outbound(backchannel_logout_uri, rt.outbound)
        if backchannel_logout_uri
        else None
    )
    client.name, client.third_party = name, third_party
    client.allowed_scopes = _scopes(allowed_scopes)
    client.id_token_signed_response_alg = id_token_alg
    # Instances cache clients: they see the change within IDP_CACHE_SECONDS.
    rt.caches.changed(session)
    audit.record(
        session, establishment, EventType.CLIENT_UPDATED, at=now, actor=actor, subject=client_id
    )
    return client


def rotate_secret(rt: Runtime, session: Session, code: str, client_id: str, *, actor: str) -> str:
    """A new secret, shown once; the old one stops working at once."""
    secret = new_secret()
    now = rt.clock.now()
    establishment = establishments.get(session, code)
    client = get(session, establishment, client_id)
    if client.token_endpoint_auth_method not in ("client_secret_basic", "client_secret_post"):
        raise InvalidInput(
            "Cette application n'utilise pas de secret.", detail="client has no secret"
        )
    client.secret_hash = secret_hash(secret)
    # Instances cache clients: they see the change within IDP_CACHE_SECONDS.
    rt.caches.changed(session)
    audit.record(
        session,
        establishment,
        EventType.CLIENT_SECRET_ROTATED,
        at=now,
        actor=actor,
        subject=client_id,
    )
    return secret


def set_enabled(
    rt: Runtime, session: Session, code: str, client_id: str, enabled: bool, *, actor: str
) -> None:
    now = rt.clock.now()
    establishment = establishments.get(session, code)
    client = get(session, establishment, client_id)
    client.enabled = enabled
    # Disabling ends every grant the module holds: re-enabling it later must not revive
    # month-long refresh tokens, which a module disabled for a leak may have lost.
    # Its client_credentials tokens have no rows: the moment revokes them.
    revoked = 0 if enabled else tokens.revoke_of_client(session, establishment, client.id, now)
    if not enabled:
        client.tokens_revoked_at = now
    # Instances cache clients: they see the change within IDP_CACHE_SECONDS.
    rt.caches.changed(session)
    audit.record(
        session,
        establishment,
        EventType.CLIENT_ENABLED if enabled else EventType.CLIENT_DISABLED,
        at=now,
        actor=actor,
        subject=client_id,
        details=None if enabled else {"tokens_revoked": revoked},
    )


def delete(rt: Runtime, session: Session, code: str, client_id: str, *, actor: str) -> None:
    """The client, and with it (cascade) its codes and tokens."""
    now = rt.clock.now()
    establishment = establishments.get(session, code)
    client = get(session, establishment, client_id)
    session.delete(client)
    # Instances cache clients: they see the change within IDP_CACHE_SECONDS.
    rt.caches.changed(session)
    audit.record(
        session, establishment, EventType.CLIENT_DELETED, at=now, actor=actor, subject=client_id
    )
