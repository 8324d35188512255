"""The yearly sync of pupils with the school register (SIECLE « Élèves sans adresses »,
read by idp.accounts.siecle): a preview first, then all or nothing.

Each pupil of the export is matched to an account by its ELEVE_ID, else its INE, else (the
first import, for accounts made before) by folded names and birth date among the student
accounts that carry no register identifier yet: an ambiguous match is a refused pupil,
never a guess. Matched accounts get the register's names, class and groups (never a new
login or password); new pupils get accounts; a pupil whose leaving date has passed, and any
active student account the export does not hold (SIECLE's export is the whole school), is
deactivated, ends its sessions (back-channel logout) and loses its tokens. The account and
its personal data are purged IDP_LEAVER_RETENTION_DAYS later (idp.purge)."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date

from sqlalchemy.orm import Session

from idp.accounts import logins
from idp.accounts.imports import fold
from idp.accounts.roles import Role
from idp.accounts.siecle import Export, Pupil
from idp.i18n import N_
from idp.models import User
from idp.runtime import Runtime
from idp.services import accounts, establishments
from idp.slips import Handout
from idp.store import audit, users
from idp.store.audit import EventType

LEFT = N_("date de sortie passée")
ABSENT = N_("absent de l'export")


@dataclass(frozen=True)
class Created:
    login: str
    last_name: str
    first_name: str
    class_code: str | None
    groups: tuple[str, ...]


@dataclass(frozen=True)
class Updated:
    login: str
    name: str
    # (what, before, after), in French for the preview.
    changes: tuple[tuple[str, str, str], ...]


@dataclass(frozen=True)
class Leaver:
    login: str
    name: str
    reason: str


@dataclass(frozen=True)
class RefusedPupil:
    eleve_id: str
    name: str
    reason: str


@dataclass
class Preview:
    """What the import does (or would do, before `applied`)."""

    created: list[Created] = field(default_factory=list)
    updated: list[Updated] = field(default_factory=list)
    leavers: list[Leaver] = field(default_factory=list)
    unchanged: int = 0
    refused: list[RefusedPupil] = field(default_factory=list)
    applied: bool = False
    # The new accounts' random initial passwords, when the establishment gives them: to
    # print now (never kept in clear).
    handouts: list[Handout] = field(default_factory=list)
    # Not written: it would deactivate more pupils than `sync`'s `guard` lets through.
    held: bool = False

    @property
    def to_create(self) -> int:
        """The accounts writing this preview would create: none if it would be refused or
        held (what their random initial passwords are made ahead for)."""
        return 0 if self.refused or self.held else len(self.created)

    def counts(self) -> dict[str, int]:
        return {
            "created": len(self.created),
            "updated": len(self.updated),
            "deactivated": len(self.leavers),
            "unchanged": self.unchanged,
            "refused": len(self.refused),
        }


def _refused(pupil: Pupil, reason: str) -> RefusedPupil:
    return RefusedPupil(pupil.eleve_id, _name(pupil.first_name, pupil.last_name), reason)


def _name(first: str, last: str) -> str:
    return f"{first} {last}"


def _identity(first: str, last: str, born: date | None) -> tuple[str, str, date | None]:
    return (fold(first), fold(last), born)


def sync(
    rt: Runtime,
    session: Session,
    code: str,
    export: Export,
    *,
    write: bool,
    actor: str = audit.OPERATOR,
    guard: bool = False,
    supply: accounts.Supply | None = None,
) -> Preview:
    """The preview of importing `export`; with `write`, and only if nothing is refused, the
    import itself in the caller's transaction. With `guard`, an import that would
    deactivate more than a third of the active pupils (and more than 10) is held, not
    written: a partial export (one class, one level) must not retire the rest of the
    school unless whoever runs it says it is the whole establishment."""
    establishment = establishments.get(session, code)
    today = rt.clock.now().date()
    people = list(users.all_people(session, establishment))
    by_eleve_id = {u.eleve_id: u for u in people if u.eleve_id}
    by_ine = {u.ine: u for u in people if u.ine}
    unkeyed: dict[tuple[str, str, date | None], list[User]] = defaultdict(list)
    for user in people:
        if user.role is Role.STUDENT and not user.eleve_id and not user.ine:
            unkeyed[_identity(user.first_name, user.last_name, user.birth_date)].append(user)

    preview = Preview()
    matches: dict[int, list[Pupil]] = defaultdict(list)
    ines_seen: set[str] = set()
    found: list[tuple[Pupil, User | None]] = []
    for refused in export.refused:
        preview.refused.append(RefusedPupil(refused.eleve_id, "", refused.reason))
    for pupil in export.pupils:
        user = by_eleve_id.get(pupil.eleve_id)
        if user is None and pupil.ine:
            user = by_ine.get(pupil.ine)
            if user is not None and user.eleve_id and user.eleve_id != pupil.eleve_id:
                preview.refused.append(
                    _refused(pupil, f"INE {pupil.ine} déjà rattaché au compte {user.login}")
                )
                continue
        if user is None:
            candidates = {
                u.id: u
                for last in dict.fromkeys((pupil.last_name, pupil.birth_name))
                for u in unkeyed.get(_identity(pupil.first_name, last, pupil.birth_date), [])
            }
            if len(candidates) > 1:
                logins_ = ", ".join(sorted(u.login for u in candidates.values()))
                preview.refused.append(
                    _refused(
                        pupil,
                        f"plusieurs comptes pourraient être le sien ({logins_}) : "
                        "rattachez-le à la main",
                    )
                )
                continue
            user = next(iter(candidates.values()), None)
        # An INE is one pupil's: already another account's, or twice in the export, it
        # would break the unique (establishment, INE); refused rather than guessed.
        holder = by_ine.get(pupil.ine) if pupil.ine else None
        taken_ine = holder is not None and (user is None or holder.id != user.id)
        if pupil.ine and (taken_ine or pupil.ine in ines_seen):
            preview.refused.append(_refused(pupil, f"INE {pupil.ine} déjà celui d'un autre élève"))
            continue
        if pupil.ine:
            ines_seen.add(pupil.ine)
        if user is not None:
            matches[user.id].append(pupil)
        found.append((pupil, user))

    # Two pupils of the export for one account (homonyms born the same day, matched by
    # name): neither is guessed.
    shared = {uid for uid, pupils in matches.items() if len(pupils) > 1}
    for pupil, user in found:
        if user is not None and user.id in shared:
            preview.refused.append(
                _refused(
                    pupil,
                    f"le compte {user.login} correspond à plusieurs élèves de l'export "
                    "(mêmes nom, prénom et date de naissance) : rattachez-le à la main",
                )
            )
    found = [(p, u) for p, u in found if u is None or u.id not in shared]

    now = rt.clock.now()
    taken = users.all_logins(session, establishment)
    seen: set[int] = set(shared)
    writes: list[tuple[Pupil, User | None]] = []
    for pupil, user in found:
        if user is not None:
            seen.add(user.id)
        if pupil.has_left(today):
            if user is not None and user.active:
                preview.leavers.append(
                    Leaver(user.login, _name(user.first_name, user.last_name), LEFT)
                )
                writes.append((pupil, user))
            elif user is not None:
                preview.unchanged += 1
            continue
        if user is None:
            login = logins.unique_login(pupil.first_name, pupil.last_name, taken.__contains__)
            taken.add(login)
            preview.created.append(
                Created(login, pupil.last_name, pupil.first_name, pupil.class_code, pupil.groups)
            )
            writes.append((pupil, None))
            continue
        changes = _changes(user, pupil)
        if changes:
            preview.updated.append(
                Updated(user.login, _name(user.first_name, user.last_name), tuple(changes))
            )
            writes.append((pupil, user))
        else:
            preview.unchanged += 1
    missing = [u for u in people if u.role is Role.STUDENT and u.active and u.id not in seen]
    for user in missing:
        preview.leavers.append(Leaver(user.login, _name(user.first_name, user.last_name), ABSENT))

    if guard:
        active = sum(1 for u in people if u.role is Role.STUDENT and u.active)
        preview.held = len(preview.leavers) > max(10, active // 3)
    if not write or preview.refused or preview.held:
        return preview
    created = iter(preview.created)
    new_accounts: list[User] = []
    # A login taken meanwhile by another import: one clear refusal, nothing written.
    with accounts.claiming_logins(establishment):
        for pupil, user in writes:
            if user is None:
                login = next(created).login
                new_accounts.append(
                    users.new(
                        establishment,
                        login=login,
                        first_name=pupil.first_name,
                        last_name=pupil.last_name,
                        role=Role.STUDENT,
                        birth_date=pupil.birth_date,
                        email=None,
                        groups=[pupil.class_code] if pupil.class_code else [],
                        others=pupil.groups,
                        now=now,
                        eleve_id=pupil.eleve_id,
                        ine=pupil.ine,
                    )
                )
                session.add(new_accounts[-1])
            elif pupil.has_left(today):
                _deactivate(rt, session, establishment, user, now)
            else:
                _update(user, pupil, now)
        for user in missing:
            _deactivate(rt, session, establishment, user, now)
        session.flush()
    preview.handouts = accounts.initial_passwords_for_new(
        rt, session, establishment, new_accounts, now, supply
    )
    audit.record(
        session,
        establishment,
        EventType.USERS_IMPORTED,
        at=now,
        actor=actor,
        details={"source": "siecle", **preview.counts()},
    )
    preview.applied = True
    return preview


def _changes(user: User, pupil: Pupil) -> list[tuple[str, str, str]]:
    """What importing `pupil` changes on `user`, in French (the preview shows it)."""
    changes: list[tuple[str, str, str]] = []

    def differ(label: str, before: object, after: object) -> None:
        if before != after:
            changes.append((label, _shown(before), _shown(after)))

    # A name differs when it is another name, not when SIECLE writes it in capitals or
    # without an accent: the account keeps the spelling it has.
    if fold(user.first_name) != fold(pupil.first_name):
        differ("Prénom", user.first_name, pupil.first_name)
    if fold(user.last_name) != fold(pupil.last_name):
        differ("Nom", user.last_name, pupil.last_name)
    differ("Date de naissance", user.birth_date, pupil.birth_date)
    # Compared in one order: the register lists groups in its own.
    differ("Classe", sorted(user.class_names), [pupil.class_code] if pupil.class_code else [])
    differ("Groupes", sorted(user.group_names), sorted(pupil.groups))
    if user.eleve_id != pupil.eleve_id:
        changes.append(("Identifiant SIECLE", user.eleve_id or "—", "rattaché"))
    if pupil.ine and user.ine != pupil.ine:
        changes.append(("INE", "—" if not user.ine else "ancien", "rattaché"))
    if not user.active and user.left_at is not None:
        changes.append(("Compte", "désactivé (parti)", "réactivé"))
    return changes


def _shown(value: object) -> str:
    if isinstance(value, list):
        return ", ".join(value) or "—"
    if isinstance(value, date):
        return value.strftime("%d/%m/%Y")
    return str(value) if value else "—"


def _update(user: User, pupil: Pupil, now) -> None:  # type: ignore[no-untyped-def]
    # Never the login or the password: the pupil keeps signing in as before.
    if fold(user.first_name) != fold(pupil.first_name):
        user.first_name = pupil.first_name
    if fold(user.last_name) != fold(pupil.last_name):
        user.last_name = pupil.last_name
    user.birth_date = pupil.birth_date
    user.eleve_id = pupil.eleve_id
    if pupil.ine:
        user.ine = pupil.ine
    users.set_groups(user, [pupil.class_code] if pupil.class_code else [], pupil.groups)
    if not user.active and user.left_at is not None:
        user.active = True
    # In the register: not a leaver, whatever an earlier import found.
    user.left_at = None
    user.updated_at = now


def _deactivate(rt: Runtime, session: Session, establishment, user: User, now) -> None:  # type: ignore[no-untyped-def]
    user.active = False
    user.left_at = now
    user.updated_at = now
    # Sessions end (back-channel logout tells the modules) and tokens stop working.
    rt.logout.end_user(session, establishment, user, now)
