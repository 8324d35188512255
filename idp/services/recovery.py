"""Forgotten passwords (help page, « Je n'arrive pas à me connecter ») and resets.

- Teacher or staff with an email (and the admin account, at the establishment's address): a
  temporary password by email. Only the latest one is valid, for 24 h; it is stored hashed;
  the personal password keeps working until the temporary one is used, so that nobody can
  lock a teacher out by asking for resets.
- Student: no email; the establishment (a teacher, the admin) resets the password to the
  birth date.
- No email on the account: the establishment's admin.

The message is sent before the temporary password is committed (within a savepoint): if the
mail server is down or refuses it, no temporary password is left active that nobody received.
The password is made and hashed beforehand (`new_temporary`), outside any transaction.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import timedelta
from enum import Enum

from sqlalchemy.orm import Session

from idp.accounts import logins
from idp.accounts.initial_passwords import generate_password
from idp.accounts.roles import Role
from idp.errors import InvalidInput, MailError
from idp.i18n import DEFAULT_LOCALE, N_
from idp.models import Establishment, User
from idp.runtime import Runtime
from idp.security.passwords import PasswordHasher
from idp.services import establishments
from idp.services.signin import recordable_login
from idp.store import audit, throttles, users
from idp.store.audit import EventType

log = logging.getLogger(__name__)

ACCOUNT_SPACING = timedelta(seconds=60)
ACCOUNT_HOURLY = 5
IP_HOURLY = 20
HOUR = timedelta(hours=1)


class Outcome(Enum):
    SENT = "sent"
    STUDENT = "student"
    NO_EMAIL = "no_email"
    UNKNOWN_LOGIN = "unknown_login"
    TOO_SOON = "too_soon"  # one email a minute per account
    ACCOUNT_LIMIT = "account_limit"  # five an hour per account
    IP_LIMIT = "ip_limit"  # twenty an hour per address
    MAIL_FAILED = "mail_failed"
    INACTIVE = "inactive"


@dataclass(frozen=True)
class Recovery:
    outcome: Outcome
    masked_email: str | None = None
    retry_after: int = 0


def mask_email(address: str) -> str:
    """`jean.dupont@exemple.fr` → `j***@exemple.fr`: recognisable by its owner, useless to a
    stranger who knows only the login."""
    local, _, domain = address.partition("@")
    return f"{local[:1]}***@{domain}"


@dataclass(frozen=True)
class Temporary:
    password: str
    password_hash: str = field(repr=False)


async def new_temporary(hasher: PasswordHasher) -> Temporary:
    """A temporary password and its hash: made before the unit of work needs it, so that no
    transaction stays open while it is hashed."""
    password = generate_password()
    return Temporary(password, await hasher.hash_async(password))


def forgot(
    rt: Runtime,
    session: Session,
    establishment_id: int,
    typed_login: str,
    ip: str | None,
    temporary: Temporary,
    *,
    locale: str = DEFAULT_LOCALE,
) -> Recovery:
    """The « Mot de passe oublié ? » form. Blocking: call from a worker thread. The email is
    in `locale`, the language of the page that asked."""
    login = logins.normalise_typed(typed_login)
    now = rt.clock.now()
    establishment = session.get(Establishment, establishment_id)
    assert establishment is not None
    if ip and (
        wait := throttles.rate(
            session,
            f"forgot-ip:{throttles.ip_scope(ip)}",
            now=now,
            window=HOUR,
            limit=IP_HOURLY,
        )
    ):
        return Recovery(Outcome.IP_LIMIT, retry_after=wait)
    user = users.by_login(session, establishment, login) if login else None
    if user is None:
        audit.record(
            session,
            establishment,
            EventType.PASSWORD_FORGOT,
            at=now,
            subject=recordable_login(login),
            ip=ip,
            details={"outcome": "unknown_login"},
        )
        return Recovery(Outcome.UNKNOWN_LOGIN)
    outcome = None
    if not user.active:
        outcome = Outcome.INACTIVE
    elif user.role is Role.STUDENT:
        outcome = Outcome.STUDENT
    elif destination(user, establishment) is None:
        outcome = Outcome.NO_EMAIL
    if outcome is not None:
        audit.record(
            session,
            establishment,
            EventType.PASSWORD_FORGOT,
            at=now,
            subject=user.login,
            ip=ip,
            details={"outcome": outcome.value},
        )
        return Recovery(outcome)
    return _send(
        rt, session, establishment_id, user.id, temporary, ip=ip, actor=None, locale=locale
    )


def destination(user: User, establishment: Establishment) -> str | None:
    """Where a temporary password goes: the account's email; the establishment's address
    for the admin account."""
    if user.role is Role.ADMIN:
        return establishment.email
    return user.email


def send_temporary_password(
    rt: Runtime,
    session: Session,
    code: str,
    login: str,
    temporary: Temporary,
    *,
    ip: str | None,
    actor: str,
) -> Recovery:
    """The admin console: a temporary password by email to a teacher or staff member who
    has an address (a student's goes back to the birth date; the admin account's is reset)."""
    establishment = establishments.get(session, code)
    user = users.by_login(session, establishment, logins.normalise_typed(login))
    if user is None or user.role not in (Role.TEACHER, Role.STAFF) or not user.email:
        raise InvalidInput(
            N_(
                "Un mot de passe temporaire par courriel n'est possible que pour un "
                "enseignant ou un personnel ayant une adresse électronique."
            ),
            detail=f"{login!r} at {establishment.code} is not a teacher or staff with an email",
        )
    return _send(rt, session, establishment.id, user.id, temporary, ip=ip, actor=actor)


def _send(
    rt: Runtime,
    session: Session,
    establishment_id: int,
    user_id: int,
    temporary: Temporary,
    *,
    ip: str | None,
    actor: str | None,
    locale: str = DEFAULT_LOCALE,
) -> Recovery:
    """A new temporary password by email (the forgot form, or an admin for a teacher)."""
    now = rt.clock.now()
    password, password_hash = temporary.password, temporary.password_hash
    try:
        with session.begin_nested():
            establishment = session.get(Establishment, establishment_id)
            user = session.get(User, user_id)
            assert establishment is not None and user is not None
            address = destination(user, establishment)
            assert address is not None
            scope = f"forgot-account:{user.id}"
            if wait := throttles.rate(
                session,
                scope,
                now=now,
                window=HOUR,
                limit=ACCOUNT_HOURLY,
                spacing=ACCOUNT_SPACING,
                establishment_id=establishment.id,
            ):
                row = throttles.get(session, scope)
                too_soon = row is not None and row.last_failure_at > now - ACCOUNT_SPACING
                return Recovery(
                    Outcome.TOO_SOON if too_soon else Outcome.ACCOUNT_LIMIT, retry_after=wait
                )
            # Only the latest temporary password is valid: this one replaces any other.
            user.temp_password_hash = password_hash
            user.temp_password_expires_at = now + rt.settings.temporary_password_lifetime
            audit.record(
                session,
                establishment,
                EventType.PASSWORD_TEMPORARY_SENT,
                at=now,
                actor=actor or user.login,
                subject=user.login,
                ip=ip,
            )
            session.flush()
            rt.mailer.send(
                rt.messages.render(
                    "temporary_password",
                    to=address,
                    locale=locale,
                    establishment=establishment,
                    login_url=rt.urls.public(
                        "login",
                        None if locale == DEFAULT_LOCALE else {"lang": locale},
                        code=establishment.code,
                    ),
                    login=user.login,
                    password=password,
                    hours=int(rt.settings.temporary_password_lifetime.total_seconds() // 3600),
                )
            )
            masked = mask_email(address)
    except MailError as exc:
        # Rolled back to the savepoint: no temporary password is active that nobody received.
        log.error("temporary password for user %s not sent: %s", user_id, exc.detail)
        establishment = session.get(Establishment, establishment_id)
        user = session.get(User, user_id)
        audit.record(
            session,
            establishment,
            EventType.PASSWORD_TEMPORARY_FAILED,
            at=now,
            actor=actor,
            subject=user.login if user else None,
            ip=ip,
            details={"error": exc.detail[:200]},
        )
        return Recovery(Outcome.MAIL_FAILED)
    return Recovery(Outcome.SENT, masked_email=masked)
