"""Incident mode: credentials of an establishment have leaked. Every current password of
the establishment (or of one role) stops working, every session ends, every token is
revoked and the modules are told (back-channel logout); and what each person uses next is
not known to whoever stole the old password:

- pupils, and staff without an email address, get a new random « mot de passe initial »
  (whatever the establishment's usual rule: the birth date may be known too), printed on
  slips the admin hands out; it must be changed at the first sign-in;
- teachers and staff with an address get a temporary password by email (their stored
  password becomes one nobody knows); if the mail fails, a slip instead;
- the admin account gets a new password at the establishment's address.

All of it in one transaction: if the admin's mail cannot be sent, nothing is changed."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session, selectinload

from idp.accounts.initial_passwords import generate_password
from idp.accounts.roles import Role
from idp.models import Establishment, User
from idp.runtime import Runtime
from idp.services import accounts, establishments, recovery
from idp.slips import Handout
from idp.store import audit, users
from idp.store.audit import EventType
from idp.store.tenancy import owned


@dataclass
class Incident:
    handouts: list[Handout] = field(default_factory=list)
    emailed: list[str] = field(default_factory=list)
    admin_mailed_to: str | None = None

    def counts(self) -> dict[str, int]:
        return {
            "slips": len(self.handouts),
            "emailed": len(self.emailed),
            "admin": int(self.admin_mailed_to is not None),
        }


def declare(
    rt: Runtime,
    session: Session,
    code: str,
    *,
    role: Role | None = None,
    actor: str = audit.OPERATOR,
) -> Incident:
    """Invalidate the passwords of `code`'s accounts (of `role`, or all), the deactivated
    ones included."""
    establishment = establishments.get(session, code)
    now = rt.clock.now()
    query = _accounts(establishment, role)
    people = session.scalars(
        query.options(selectinload(User.groups)).order_by(User.role, User.last_name, User.login)
    ).all()
    done = Incident()
    admin = next((u for u in people if u.role is Role.ADMIN), None)
    if admin is not None:
        # First: its mail is the one whose failure undoes everything, so no teacher is sent
        # a temporary password for a change that would then be rolled back.
        reset = accounts.reset_password(rt, session, code, admin.login, actor=actor)
        done.admin_mailed_to = reset.mailed_to
    for user in people:
        if user.role is Role.ADMIN:
            continue
        if not user.active:
            # Deactivated (a leaver within the retention, or by an admin): its leaked
            # password must not come back with it. A teacher's reset gives it a usable one
            # if it returns.
            _unknown_password(rt, session, user, now)
            continue
        mailed = False
        if user.role in (Role.TEACHER, Role.STAFF) and user.email:
            # A password nobody knows, then a temporary one to the person's own address.
            _unknown_password(rt, session, user, now)
            temporary = recovery.Temporary(
                password := generate_password(), rt.hasher.hash(password)
            )
            sent = recovery.send_temporary_password(
                rt, session, code, user.login, temporary, ip=None, actor=actor
            )
            mailed = sent.outcome is recovery.Outcome.SENT
            if mailed:
                done.emailed.append(user.login)
        if not mailed:
            # Random whatever the establishment's choice: the birth date may be known.
            password = accounts.random_initial_password(rt, session, user, now)
            done.handouts.append(Handout.of(user, password))
        rt.logout.end_user(session, establishment, user, now)
    audit.record(
        session,
        establishment,
        EventType.ESTABLISHMENT_INCIDENT,
        at=now,
        actor=actor,
        details={"role": role.value if role else "all", **done.counts()},
    )
    return done


def _accounts(establishment: Establishment, role: Role | None) -> Select[tuple[User]]:
    query = owned(User, establishment)
    return query if role is None else query.where(User.role == role)


def _unknown_password(rt: Runtime, session: Session, user: User, now: datetime) -> None:
    """A password nobody knows (none is shown or sent): the old one stops working."""
    hashed = rt.hasher.hash(generate_password())
    users.set_password_hash(session, user, hashed, must_change=True, now=now)


def affected_count(rt: Runtime, session: Session, code: str, role: Role | None) -> int:
    """How many accounts `declare` would change."""
    query = _accounts(establishments.get(session, code), role)
    return session.scalar(select(func.count()).select_from(query.subquery())) or 0
