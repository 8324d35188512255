"""Establishments: created by the platform operator with their admin account, suspended and
re-opened."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from sqlalchemy.orm import Session

from idp.accounts import emails, establishment_codes, names, uai
from idp.accounts.initial_passwords import InitialPasswords, generate_password
from idp.accounts.roles import Role
from idp.errors import Conflict, NotFound
from idp.models import Establishment
from idp.runtime import Runtime
from idp.store import audit, establishments, users
from idp.store.audit import EventType

log = logging.getLogger(__name__)


def get(session: Session, code: str) -> Establishment:
    establishment = establishments.by_code(session, code.strip().lower())
    if establishment is None:
        raise NotFound(
            "Établissement inconnu : %(code)s.",
            {"code": code},
            detail=f"unknown establishment {code!r}",
        )
    return establishment


@dataclass(frozen=True)
class NewEstablishment:
    establishment: Establishment
    admin_login: str


def create(
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
    name = names.clean(name, "Nom", 200)
    uai_code = uai.normalise(uai_code)
    email = emails.normalise(email)
    now = rt.clock.now()
    password = generate_password()
    password_hash = rt.hasher.hash(password)
    if establishments.by_code(session, code):
        raise Conflict(
            "Le code d'établissement « %(code)s » existe déjà.",
            {"code": code},
            detail=f"establishment code {code!r} already exists",
        )
    if existing := establishments.by_uai(session, uai_code):
        raise Conflict(
            "Le code UAI %(uai)s est déjà celui de l'établissement « %(code)s ».",
            {"uai": uai_code, "code": existing.code},
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
        EventType.ESTABLISHMENT_CREATED,
        at=now,
        actor=audit.OPERATOR,
        subject=admin.login,
        details={"uai": uai_code},
    )
    if send_welcome:
        message = rt.messages.render(
            "establishment_created",
            to=email,
            establishment=establishment,
            login_url=rt.urls.public("login", code=code),
            admin_login=admin.login,
            password=password,
        )
        rt.mailer.send(message)
    log.info("establishment %s created (admin %s)", code, admin.login)
    return NewEstablishment(establishment, admin.login)


def set_enabled(rt: Runtime, session: Session, code: str, enabled: bool) -> Establishment:
    establishment = get(session, code)
    establishments.set_enabled(session, establishment, enabled)
    # Every instance sees it within IDP_CACHE_SECONDS.
    rt.caches.changed(session)
    audit.record(
        session,
        establishment,
        EventType.ESTABLISHMENT_ENABLED if enabled else EventType.ESTABLISHMENT_DISABLED,
        at=rt.clock.now(),
        actor=audit.OPERATOR,
    )
    return establishment


def set_initial_passwords(
    rt: Runtime, session: Session, code: str, choice: InitialPasswords, *, actor: str
) -> Establishment:
    """What new accounts and resets get from now on; accounts already made keep theirs."""
    establishment = get(session, code)
    if establishment.initial_passwords is choice:
        return establishment
    establishment.initial_passwords = choice
    session.flush()
    # The sign-in page's hint follows: every instance sees it within IDP_CACHE_SECONDS.
    rt.caches.changed(session)
    audit.record(
        session,
        establishment,
        EventType.ESTABLISHMENT_INITIAL_PASSWORDS,
        at=rt.clock.now(),
        actor=actor,
        details={"to": choice.value},
    )
    return establishment
