"""What an operator (the CLI) and, later, an establishment admin do to accounts and clients.

Each function is one unit of work: it validates everything first, writes in one transaction,
and leaves nothing behind when it fails.
"""

from __future__ import annotations

import csv
import io
import logging
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any
from urllib.parse import urlsplit

from joserfc.errors import JoseError
from joserfc.jwk import KeySet
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from idp.accounts import emails, establishment_codes, imports, logins, uai
from idp.accounts.initial_passwords import generate_password
from idp.accounts.password_policy import MAX_LENGTH, PasswordOwner, PasswordPolicy
from idp.accounts.roles import PERSON_ROLES, Role
from idp.db import after_commit
from idp.errors import Conflict, InvalidInput, NotFound
from idp.models import Client, Establishment, SsoSession, User
from idp.oauth import redirect_uris
from idp.oauth.scopes import SCOPES
from idp.runtime import Runtime
from idp.security.tokens import new_secret, secret_hash
from idp.store import audit, clients, establishments, sessions, throttles, users
from idp.store.tenancy import owned

log = logging.getLogger(__name__)

OPERATOR = "operator"
_MAX_NAME = 100


def get_establishment(session: Session, code: str) -> Establishment:
    establishment = establishments.by_code(session, code.strip().lower())
    if establishment is None:
        raise NotFound(f"Établissement inconnu : {code}.", detail=f"unknown establishment {code!r}")
    return establishment


def get_user(session: Session, establishment: Establishment, login: str) -> User:
    user = users.by_login(session, establishment, logins.normalise_typed(login))
    if user is None:
        raise NotFound(
            f"Utilisateur inconnu : {login}.",
            detail=f"unknown login {login!r} at {establishment.code}",
        )
    return user


def _text(value: str, label: str, limit: int = _MAX_NAME) -> str:
    cleaned = " ".join(value.split())
    if not cleaned:
        raise InvalidInput(f"Le champ « {label} » est obligatoire.", detail=f"{label} is empty")
    if len(cleaned) > limit:
        raise InvalidInput(
            f"Le champ « {label} » dépasse {limit} caractères.",
            detail=f"{label} is longer than {limit} characters",
        )
    return cleaned


def check_birth_date(birth_date: date, today: date) -> date:
    if not date(1900, 1, 1) <= birth_date <= today:
        raise InvalidInput(
            f"Date de naissance invalide : {birth_date.isoformat()}.",
            detail=f"birth date {birth_date.isoformat()} is not between 1900-01-01 and today",
        )
    return birth_date


# -- establishments ------------------------------------------------------------------------


@dataclass(frozen=True)
class NewEstablishment:
    establishment: Establishment
    admin_login: str


def create_establishment(
    rt: Runtime,
    session: Session,
    *,
    code: str,
    name: str,
    uai_code: str,
    email: str,
    send_welcome: bool = True,
) -> NewEstablishment:
    """The establishment, its single admin account (login = UAI in lower case, a random
    password to change at first sign-in), and the welcome email to the establishment.

    The email is sent before the transaction commits: if it cannot be sent, nothing is
    created, since nobody would ever learn the admin password.
    """
    code = establishment_codes.validate(code)
    name = _text(name, "Nom", 200)
    uai_code = uai.normalise(uai_code)
    email = emails.normalise(email)
    now = rt.clock.now()
    password = generate_password()
    password_hash = rt.hasher.hash(password)
    if establishments.by_code(session, code):
        raise Conflict(
            f"Le code d'établissement « {code} » existe déjà.",
            detail=f"establishment code {code!r} already exists",
        )
    if existing := establishments.by_uai(session, uai_code):
        raise Conflict(
            f"Le code UAI {uai_code} est déjà celui de l'établissement « {existing.code} ».",
            detail=f"UAI {uai_code} already belongs to {existing.code!r}",
        )
    establishment = establishments.add(
        session, code=code, name=name, uai=uai_code, email=email, now=now
    )
    admin = users.add(
        session,
        establishment,
        login=uai_code.lower(),
        first_name="Administrateur",
        last_name=name,
        role=Role.ADMIN,
        birth_date=None,
        email=email,
        password_hash=password_hash,
        must_change_password=True,
        now=now,
    )
    rt.keys.create_initial(session, establishment)
    audit.record(
        session,
        establishment,
        "establishment.created",
        at=now,
        actor=OPERATOR,
        subject=admin.login,
        details={"uai": uai_code},
    )
    if send_welcome:
        message = rt.messages.render(
            "establishment_created",
            to=email,
            establishment=establishment,
            login_url=f"{rt.settings.issuer(code)}/login",
            admin_login=admin.login,
            password=password,
        )
        rt.mailer.send(message)
    log.info("establishment %s created (admin %s)", code, admin.login)
    return NewEstablishment(establishment, admin.login)


def set_establishment_enabled(
    rt: Runtime, session: Session, code: str, enabled: bool
) -> Establishment:
    establishment = get_establishment(session, code)
    establishments.set_enabled(session, establishment, enabled)
    # Every instance sees it within IDP_CACHE_SECONDS.
    rt.caches.changed(session)
    audit.record(
        session,
        establishment,
        "establishment.enabled" if enabled else "establishment.disabled",
        at=rt.clock.now(),
        actor=OPERATOR,
    )
    return establishment


# -- users ---------------------------------------------------------------------------------


def add_user(
    rt: Runtime,
    session: Session,
    code: str,
    *,
    first_name: str,
    last_name: str,
    birth_date: date,
    role: Role,
    email: str | None = None,
    groups: Sequence[str] = (),
    actor: str = OPERATOR,
) -> User:
    """A student, teacher or staff account on its initial (birth-date) password."""
    if role not in PERSON_ROLES:
        raise InvalidInput(
            "Le compte administrateur est créé avec l'établissement.",
            detail=f"role {role} cannot be given to a new account",
        )
    first_name = _text(first_name, "Prénom")
    last_name = _text(last_name, "Nom")
    now = rt.clock.now()
    check_birth_date(birth_date, now.date())
    email = emails.normalise(email) if email else None
    group_names = [_text(g, "Groupe") for g in groups]
    logins.base_login(first_name, last_name)  # a name with no usable letter fails here
    establishment = get_establishment(session, code)
    login = logins.unique_login(
        first_name, last_name, lambda c: users.login_taken(session, establishment, c)
    )
    try:
        user = users.add(
            session,
            establishment,
            login=login,
            first_name=first_name,
            last_name=last_name,
            role=role,
            birth_date=birth_date,
            email=email,
            groups=group_names,
            now=now,
        )
    except IntegrityError:
        # Another process took the same login between our check and our insert.
        raise Conflict(
            "Cet identifiant vient d'être attribué à un autre compte. Veuillez réessayer.",
            detail=f"login {login!r} taken concurrently at {establishment.code}",
        ) from None
    audit.record(
        session,
        establishment,
        "user.created",
        at=now,
        actor=actor,
        subject=login,
        details={"role": role.value},
    )
    return user


_RULES = {
    "too_short": "shorter than {min_length} characters",
    "too_long": "longer than {max_length} characters",
    "contains_identity": "contains the login, first name or last name",
    "contains_birth_date": "contains the birth date",
    "common": "is a common password",
    "weak": "too easy to guess (zxcvbn score below {min_score})",
    "same_as_current": "same as the current password",
    "mismatch": "the two passwords differ",
}


def set_password(
    rt: Runtime,
    session: Session,
    code: str,
    login: str,
    password: str,
    *,
    temporary: bool,
    actor: str = OPERATOR,
) -> User:
    """A personal password must pass the password policy; a temporary one (changed at the
    next sign-in) only its length rules."""
    if not password:
        raise InvalidInput("Le mot de passe est vide.", detail="empty password")
    user = get_user(session, get_establishment(session, code), login)
    owner = PasswordOwner(user.login, user.first_name, user.last_name, user.birth_date)
    policy = PasswordPolicy(
        min_length=rt.settings.password_min_length, min_score=rt.settings.password_min_score
    )
    refusal = policy.check_length(password) if temporary else policy.check(password, owner)
    if refusal is not None:
        rule = _RULES[refusal.code].format(
            min_length=policy.min_length, max_length=MAX_LENGTH, min_score=policy.min_score
        )
        raise InvalidInput(
            refusal.message.text % refusal.message.params,
            detail=f"password refused ({refusal.code}): {rule}",
        )
    password_hash = rt.hasher.hash(password)
    now = rt.clock.now()
    establishment = get_establishment(session, code)
    user = get_user(session, establishment, login)
    users.set_password_hash(session, user, password_hash, must_change=temporary, now=now)
    # A new password ends the user's sessions and tokens everywhere.
    notices = rt.logout.end_user(session, establishment, user, now)
    audit.record(
        session,
        establishment,
        "password.set",
        at=now,
        actor=actor,
        subject=user.login,
        details={"temporary": temporary},
    )
    after_commit(session, lambda: rt.logout.notify(notices, now))
    return user


@dataclass(frozen=True)
class Reset:
    user: User
    # Where the new password went, for the admin account (no birth date): the establishment.
    mailed_to: str | None = None


def reset_password(
    rt: Runtime, session: Session, code: str, login: str, *, actor: str = OPERATOR
) -> Reset:
    """Back to the initial password: the birth date; for the admin account, a new random
    password mailed to the establishment's address (sent before the change commits). Either
    way the account's sessions and tokens end, and a change is forced at the next sign-in."""
    now = rt.clock.now()
    establishment = get_establishment(session, code)
    user = get_user(session, establishment, login)
    mailed_to = None
    if user.birth_date is not None:
        users.set_password_hash(session, user, None, must_change=False, now=now)
        target = "initial"
    else:
        password = generate_password()
        users.set_password_hash(session, user, rt.hasher.hash(password), must_change=True, now=now)
        target = "generated"
    notices = rt.logout.end_user(session, establishment, user, now)
    audit.record(
        session,
        establishment,
        "password.reset",
        at=now,
        actor=actor,
        subject=user.login,
        details={"to": target},
    )
    if user.birth_date is None:
        rt.mailer.send(
            rt.messages.render(
                "admin_password_reset",
                to=establishment.email,
                establishment=establishment,
                login_url=f"{rt.settings.issuer(establishment.code)}/login",
                admin_login=user.login,
                password=password,
            )
        )
        mailed_to = establishment.email
    after_commit(session, lambda: rt.logout.notify(notices, now))
    return Reset(user, mailed_to=mailed_to)


# -- clients -------------------------------------------------------------------------------


@dataclass(frozen=True)
class NewClient:
    client: Client
    # Shown once: only its hash is stored.
    secret: str | None


AUTH_METHODS = ("client_secret_basic", "client_secret_post", "private_key_jwt", "none")
ID_TOKEN_ALGS = ("RS256", "ES256")


def _dev(rt: Runtime) -> bool:
    """A loopback IDP_BASE_URL: development, where modules run on 127.0.0.1 too."""
    return redirect_uris.is_loopback_host(urlsplit(rt.settings.base_url).hostname)


def _scopes(allowed: Sequence[str] | None) -> list[str] | None:
    """The scopes a module may ask for; None (all of them) when every scope is allowed."""
    if allowed is None:
        return None
    unknown = [s for s in allowed if s not in SCOPES]
    if unknown:
        raise InvalidInput("Portée inconnue.", detail=f"unknown scopes: {unknown}")
    chosen = [s for s in SCOPES if s in allowed]
    return None if chosen == list(SCOPES) else chosen


def check_client_jwks(jwks: object) -> dict[str, Any]:
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


def add_client(
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
    actor: str = OPERATOR,
) -> NewClient:
    name = _text(name, "Nom", 200)
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
        jwks_uri = redirect_uris.validate_outbound(jwks_uri, allow_loopback=_dev(rt))
    if jwks is not None:
        jwks = check_client_jwks(jwks)
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
            backchannel_logout_uri, allow_loopback=_dev(rt)
        )
    secret = new_secret() if method in ("client_secret_basic", "client_secret_post") else None
    now = rt.clock.now()
    establishment = get_establishment(session, code)
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
    audit.record(
        session,
        establishment,
        "client.created",
        at=now,
        actor=actor,
        subject=client.client_id,
        details={"name": name, "auth_method": method},
    )
    return NewClient(client, secret)


# -- bulk import ---------------------------------------------------------------------------


@dataclass
class ImportReport:
    created: list[tuple[str, str, str, str]]  # login, last name, first name, groups
    updated: int
    deactivated: int
    refused: list[imports.Refused]
    applied: bool


def plan_import(
    rt: Runtime, session: Session, code: str, parsed: imports.Parsed
) -> tuple[int, int]:
    """How many rows would create an account, and how many would update one."""
    establishment = get_establishment(session, code)
    known = {_identity(u) for u in users.all_people(session, establishment)}
    updates = sum(1 for row in parsed.rows if row.identity in known)
    return len(parsed.rows) - updates, updates


def _identity(user: User) -> tuple[str, str, date | None]:
    return (imports.fold(user.first_name), imports.fold(user.last_name), user.birth_date)


def import_users(
    rt: Runtime,
    session: Session,
    code: str,
    parsed: imports.Parsed,
    *,
    deactivate_missing_role: Role | None = None,
    skip_invalid: bool = False,
    actor: str = OPERATOR,
    progress: Callable[[int], None] | None = None,
) -> ImportReport:
    """All or nothing, in one transaction. Refused lines stop everything unless
    `skip_invalid`; `deactivate_missing_role` retires the accounts of that role that the
    file does not name (last year's students)."""
    if parsed.refused and not skip_invalid:
        return ImportReport([], 0, 0, parsed.refused, applied=False)
    now = rt.clock.now()
    created: list[tuple[str, str, str, str]] = []
    updated = 0
    notices = []
    establishment = get_establishment(session, code)
    people = list(users.all_people(session, establishment))
    by_identity = {_identity(u): u for u in people}
    taken = users.all_logins(session, establishment)
    matched: set[int] = set()
    for row in parsed.rows:
        existing = by_identity.get(row.identity)
        if existing is not None:
            matched.add(existing.id)
            existing.role = row.role
            existing.active = True
            if row.email:
                if existing.email != row.email:
                    existing.email_verified = False
                existing.email = row.email
            users.set_groups(existing, row.groups)
            existing.updated_at = now
            updated += 1
        else:
            login = logins.unique_login(row.first_name, row.last_name, taken.__contains__)
            taken.add(login)
            user = users.new(
                establishment,
                login=login,
                first_name=row.first_name,
                last_name=row.last_name,
                role=row.role,
                birth_date=row.birth_date,
                email=row.email,
                groups=row.groups,
                now=now,
            )
            session.add(user)
            created.append((login, row.last_name, row.first_name, ", ".join(row.groups)))
        if progress is not None:
            progress(1)
    deactivated = 0
    if deactivate_missing_role is not None:
        for user in people:
            if user.role is deactivate_missing_role and user.active and user.id not in matched:
                user.active = False
                user.updated_at = now
                notices += rt.logout.end_user(session, establishment, user, now)
                deactivated += 1
    session.flush()
    audit.record(
        session,
        establishment,
        "users.imported",
        at=now,
        actor=actor,
        details={
            "created": len(created),
            "updated": updated,
            "deactivated": deactivated,
            "refused": len(parsed.refused),
        },
    )
    after_commit(session, lambda: rt.logout.notify(notices, now))
    return ImportReport(created, updated, deactivated, parsed.refused, applied=True)


def created_csv(created: list[tuple[str, str, str, str]]) -> str:
    """The new accounts, for handing out logins: no passwords (the initial password is the
    birth date). Semicolons, for French spreadsheets."""
    out = io.StringIO()
    writer = csv.writer(out, delimiter=";", lineterminator="\r\n")
    writer.writerow(["Identifiant", "Nom", "Prénom", "Classe"])
    writer.writerows(created)
    return out.getvalue()


# -- the admin console's account actions ---------------------------------------------------


def update_user(
    rt: Runtime,
    session: Session,
    code: str,
    login: str,
    *,
    first_name: str,
    last_name: str,
    birth_date: date,
    role: Role,
    email: str | None,
    groups: Sequence[str],
    actor: str,
) -> User:
    """Names, birth date, role, email and groups; the login stays (modules know it)."""
    if role not in PERSON_ROLES:
        raise InvalidInput("Rôle invalide.", detail=f"role {role} cannot be given")
    first_name, last_name = _text(first_name, "Prénom"), _text(last_name, "Nom")
    now = rt.clock.now()
    check_birth_date(birth_date, now.date())
    email = emails.normalise(email) if email else None
    establishment = get_establishment(session, code)
    user = get_user(session, establishment, login)
    if user.role is Role.ADMIN:
        raise InvalidInput(
            "Le compte administrateur ne se modifie pas ici.",
            detail="the admin account is not edited",
        )
    if user.email != email:
        user.email_verified = False
    user.first_name, user.last_name, user.birth_date = first_name, last_name, birth_date
    user.role, user.email = role, email
    users.set_groups(user, [_text(g, "Groupe") for g in groups])
    user.updated_at = now
    audit.record(session, establishment, "user.updated", at=now, actor=actor, subject=user.login)
    return user


def set_active(
    rt: Runtime, session: Session, code: str, login: str, active: bool, *, actor: str
) -> User:
    """A deactivated account cannot sign in, and its sessions and tokens end."""
    now = rt.clock.now()
    notices = []
    establishment = get_establishment(session, code)
    user = get_user(session, establishment, login)
    if user.role is Role.ADMIN and not active:
        raise InvalidInput(
            "Le compte administrateur ne peut pas être désactivé.",
            detail="the admin account stays active",
        )
    user.active = active
    user.updated_at = now
    if not active:
        notices = rt.logout.end_user(session, establishment, user, now)
    audit.record(
        session,
        establishment,
        "user.reactivated" if active else "user.deactivated",
        at=now,
        actor=actor,
        subject=user.login,
    )
    after_commit(session, lambda: rt.logout.notify(notices, now))
    return user


def delete_user(rt: Runtime, session: Session, code: str, login: str, *, actor: str) -> None:
    now = rt.clock.now()
    establishment = get_establishment(session, code)
    user = get_user(session, establishment, login)
    if user.role is Role.ADMIN:
        raise InvalidInput(
            "Le compte administrateur ne peut pas être supprimé.",
            detail="the admin account stays",
        )
    notices = rt.logout.end_user(session, establishment, user, now)
    session.delete(user)
    audit.record(session, establishment, "user.deleted", at=now, actor=actor, subject=login)
    after_commit(session, lambda: rt.logout.notify(notices, now))


def clear_throttling(rt: Runtime, session: Session, code: str, login: str, *, actor: str) -> None:
    now = rt.clock.now()
    establishment = get_establishment(session, code)
    user = get_user(session, establishment, login)
    throttles.clear(session, throttles.account_scope(user.id))
    audit.record(session, establishment, "user.unblocked", at=now, actor=actor, subject=user.login)


# -- client applications, from the console -------------------------------------------------


def get_client(session: Session, establishment: Establishment, client_id: str) -> Client:
    client = clients.by_client_id(session, establishment, client_id)
    if client is None:
        raise NotFound("Application inconnue.", detail=f"unknown client {client_id!r}")
    return client


def update_client(
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
    name = _text(name, "Nom", 200)
    if id_token_alg not in ID_TOKEN_ALGS:
        raise InvalidInput("Algorithme inconnu.", detail=f"bad id token alg {id_token_alg!r}")
    now = rt.clock.now()
    establishment = get_establishment(session, code)
    client = get_client(session, establishment, client_id)
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
        redirect_uris.validate_outbound(backchannel_logout_uri, allow_loopback=_dev(rt))
        if backchannel_logout_uri
        else None
    )
    client.name, client.third_party = name, third_party
    client.allowed_scopes = _scopes(allowed_scopes)
    client.id_token_signed_response_alg = id_token_alg
    audit.record(session, establishment, "client.updated", at=now, actor=actor, subject=client_id)
    return client


def rotate_client_secret(
    rt: Runtime, session: Session, code: str, client_id: str, *, actor: str
) -> str:
    """A new secret, shown once; the old one stops working at once."""
    secret = new_secret()
    now = rt.clock.now()
    establishment = get_establishment(session, code)
    client = get_client(session, establishment, client_id)
    if client.token_endpoint_auth_method not in ("client_secret_basic", "client_secret_post"):
        raise InvalidInput(
            "Cette application n'utilise pas de secret.", detail="client has no secret"
        )
    client.secret_hash = secret_hash(secret)
    audit.record(
        session, establishment, "client.secret_rotated", at=now, actor=actor, subject=client_id
    )
    return secret


def set_client_enabled(
    rt: Runtime, session: Session, code: str, client_id: str, enabled: bool, *, actor: str
) -> None:
    now = rt.clock.now()
    establishment = get_establishment(session, code)
    client = get_client(session, establishment, client_id)
    client.enabled = enabled
    audit.record(
        session,
        establishment,
        "client.enabled" if enabled else "client.disabled",
        at=now,
        actor=actor,
        subject=client_id,
    )


def delete_client(rt: Runtime, session: Session, code: str, client_id: str, *, actor: str) -> None:
    """The client, and with it (cascade) its codes and tokens."""
    now = rt.clock.now()
    establishment = get_establishment(session, code)
    client = get_client(session, establishment, client_id)
    session.delete(client)
    audit.record(session, establishment, "client.deleted", at=now, actor=actor, subject=client_id)


# -- sessions, from the console -------------------------------------------------------------


def end_sessions(
    rt: Runtime,
    session: Session,
    code: str,
    *,
    actor: str,
    session_id: int | None = None,
    login: str | None = None,
) -> int:
    """End one SSO session, or all of a user's (tokens revoked, modules told)."""
    now = rt.clock.now()
    notices = []
    establishment = get_establishment(session, code)
    rows = []
    if session_id is not None:
        row = session.scalar(
            owned(
                SsoSession,
                establishment,
                SsoSession.id == session_id,
                SsoSession.ended_at.is_(None),
            )
        )
        rows = [row] if row else []
    elif login is not None:
        user = get_user(session, establishment, login)
        rows = list(sessions.live_of_user(session, establishment, user.id, now=now))
    for row in rows:
        notices += rt.logout.end_session(session, establishment, row, now)
        audit.record(
            session, establishment, "session.ended", at=now, actor=actor, subject=row.user.login
        )
    after_commit(session, lambda: rt.logout.notify(notices, now))
    return len(rows)
