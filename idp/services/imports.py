"""Bulk import of accounts from a school's file (parsed and checked by idp.accounts.imports):
all or nothing, updating the accounts it already knows, retiring last year's students."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date

from sqlalchemy.orm import Session

from idp import spreadsheets
from idp.accounts import logins
from idp.accounts.imports import Parsed, Refused, fold
from idp.accounts.roles import Role
from idp.errors import InvalidInput
from idp.models import User
from idp.runtime import Runtime
from idp.services import accounts, establishments
from idp.slips import Handout
from idp.store import audit, users
from idp.store.audit import EventType


@dataclass
class Report:
    created: list[tuple[str, str, str, str]]  # login, last name, first name, groups
    updated: int
    deactivated: int
    refused: list[Refused]
    applied: bool
    unchanged: int = 0
    # The new accounts' random initial passwords, when the establishment gives them: to
    # print now (never kept in clear).
    handouts: list[Handout] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        return {
            "created": len(self.created),
            "updated": self.updated,
            "deactivated": self.deactivated,
            "unchanged": self.unchanged,
            "refused": len(self.refused),
        }


@dataclass(frozen=True)
class Plan:
    """What an import would do, before it does it."""

    to_create: int
    to_update: int
    # New accounts whose login is cut to 20 characters: (line, name, login it would get).
    shortened: list[tuple[int, str, str]]


def plan(rt: Runtime, session: Session, code: str, parsed: Parsed) -> Plan:
    """How many rows would create an account, how many would update one, and which new
    logins are cut short."""
    establishment = establishments.get(session, code)
    known = {_identity(u) for u in users.all_people(session, establishment)}
    new = [row for row in parsed.rows if row.identity not in known]
    shortened = [
        (
            row.line,
            f"{row.first_name} {row.last_name}",
            logins.base_login(row.first_name, row.last_name),
        )
        for row in new
        if logins.shortened(row.first_name, row.last_name)
    ]
    return Plan(len(new), len(parsed.rows) - len(new), shortened)


def _identity(user: User) -> tuple[str, str, date | None]:
    return (fold(user.first_name), fold(user.last_name), user.birth_date)


def apply(
    rt: Runtime,
    session: Session,
    code: str,
    parsed: Parsed,
    *,
    deactivate_missing_role: Role | None = None,
    skip_invalid: bool = False,
    actor: str = audit.OPERATOR,
    progress: Callable[[int], None] | None = None,
    supply: accounts.Supply | None = None,
) -> Report:
    """All or nothing, in one transaction. Refused lines stop everything unless
    `skip_invalid`; `deactivate_missing_role` retires the accounts of that role that the
    file does not name (last year's students)."""
    if parsed.refused and not skip_invalid:
        return Report([], 0, 0, parsed.refused, applied=False)
    if parsed.refused and deactivate_missing_role is not None:
        # The people of the refused lines are not "missing": retiring them (or, when every
        # line is refused, the whole school) would be wrong.
        raise InvalidInput(
            "Des lignes sont refusées : corrigez-les avant de désactiver les comptes absents "
            "du fichier, sinon leurs titulaires seraient désactivés. Rien n'a été importé.",
            detail=f"{len(parsed.refused)} refused line(s) with deactivate_missing",
        )
    now = rt.clock.now()
    created: list[tuple[str, str, str, str]] = []
    updated = unchanged = 0
    establishment = establishments.get(session, code)
    people = list(users.all_people(session, establishment))
    by_identity = {_identity(u): u for u in people}
    taken = users.all_logins(session, establishment)
    matched: set[int] = set()
    new_accounts: list[User] = []
    # A login taken meanwhile by another import: one clear refusal, nothing written.
    with accounts.claiming_logins(establishment):
        for row in parsed.rows:
            existing = by_identity.get(row.identity)
            if existing is not None:
                matched.add(existing.id)
                before = _state(existing)
                existing.role = row.role
                existing.active = True
                if existing.left_at is not None:
                    existing.left_at = None  # back: no longer a leaver to purge
                if row.email:
                    if existing.email != row.email:
                        existing.email_verified = False
                    existing.email = row.email
                users.set_groups(existing, row.groups)
                if _state(existing) == before:
                    unchanged += 1
                else:
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
                new_accounts.append(user)
                created.append((login, row.last_name, row.first_name, ", ".join(row.groups)))
            if progress is not None:
                progress(1)
        deactivated = 0
        if deactivate_missing_role is not None:
            for user in people:
                if user.role is deactivate_missing_role and user.active and user.id not in matched:
                    user.active = False
                    user.left_at = now
                    user.updated_at = now
                    rt.logout.end_user(session, establishment, user, now)
                    deactivated += 1
        session.flush()
    handouts = accounts.initial_passwords_for_new(
        rt, session, establishment, new_accounts, now, supply
    )
    audit.record(
        session,
        establishment,
        EventType.USERS_IMPORTED,
        at=now,
        actor=actor,
        details={
            "created": len(created),
            "updated": updated,
            "deactivated": deactivated,
            "unchanged": unchanged,
            "refused": len(parsed.refused),
        },
    )
    return Report(
        created, updated, deactivated, parsed.refused, applied=True, unchanged=unchanged,
        handouts=handouts,
    )  # fmt: skip


def _state(user: User) -> tuple[object, ...]:
    return (user.role, user.active, user.email, tuple(user.class_names))


def created_csv(created: list[tuple[str, str, str, str]]) -> str:
    """The new accounts, for handing out logins: no passwords (the initial password is the
    birth date)."""
    return spreadsheets.write(["Identifiant", "Nom", "Prénom", "Classe"], created)
