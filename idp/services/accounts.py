"""Accounts of an establishment (students, teachers, staff, its admin): what the operator,
the admin console and a teacher may do to them."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from idp.accounts import emails, logins, names
from idp.accounts.initial_passwords import InitialPasswords, generate_password
from idp.accounts.password_policy import MAX_LENGTH, PasswordOwner, PasswordPolicy
from idp.accounts.roles import PERSON_ROLES, Role
from idp.errors import Conflict, Forbidden, InvalidInput, NotFound
from idp.i18n import N_
from idp.models import Establishment, User
from idp.runtime import Runtime
from idp.services import establishments
from idp.slips import Handout
from idp.store import audit, throttles, users
from idp.store.audit import EventType

# Who may put a student back on the birth-date password (help page: « votre établissement …
# pourra réinitialiser votre mot de passe »): a teacher, and the establishment's admin.
MAY_RESET_STUDENTS = (Role.TEACHER, Role.ADMIN)

STUDENTS_ONLY = N_(
    "Vous ne pouvez réinitialiser que le mot de passe d'un élève de votre établissement."
)


def get(session: Session, establishment: Establishment, login: str) -> User:
    user = users.by_login(session, establishment, logins.normalise_typed(login))
    if user is None:
        raise NotFound(
            "Utilisateur inconnu : %(login)s.",
            {"login": login},
            detail=f"unknown login {login!r} at {establishment.code}",
        )
    return user


def check_birth_date(birth_date: date, today: date) -> date:
    if not date(1900, 1, 1) <= birth_date <= today:
        raise InvalidInput(
            "Date de naissance invalide : %(date)s.",
            {"date": birth_date.isoformat()},
            detail=f"birth date {birth_date.isoformat()} is not between 1900-01-01 and today",
        )
    return birth_date


def add(
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
    actor: str = audit.OPERATOR,
) -> NewAccount:
    """A student, teacher or staff account on its initial password, as the establishment
    chose: the birth date, or a random one returned to be printed on its slip."""
    if role not in PERSON_ROLES:
        raise InvalidInput(
            "Le compte administrateur est créé avec l'établissement.",
            detail=f"role {role} cannot be given to a new account",
        )
    first_name = names.clean(first_name, "Prénom")
    last_name = names.clean(last_name, "Nom")
    now = rt.clock.now()
    check_birth_date(birth_date, now.date())
    email = emails.normalise(email) if email else None
    group_names = [names.clean(g, "Groupe") for g in groups]
    logins.base_login(first_name, last_name)  # a name with no usable letter fails here
    establishment = establishments.get(session, code)
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
    password = give_initial_password(rt, session, establishment, user, now)
    audit.record(
        session,
        establishment,
        EventType.USER_CREATED,
        at=now,
        actor=actor,
        subject=login,
        details={"role": role.value},
    )
    return NewAccount(user, password)


@contextmanager
def claiming_logins(establishment: Establishment) -> Iterator[None]:
    """Around an import's writes. Another import or account creation of the establishment
    at the same moment may have taken one of the new logins (or register identifiers) since
    they were chosen: a clear refusal, and the import's transaction is rolled back whole."""
    code = establishment.code  # not read from the row once its flush has failed
    try:
        yield
    except IntegrityError:
        raise Conflict(
            "Un autre import ou une création de compte vient d'attribuer l'un de ces "
            "identifiants : rien n'a été importé. Relancez l'import.",
            detail=f"a login or register identifier of this import was taken meanwhile at "
            f"{code}; nothing imported",
        ) from None


@dataclass(frozen=True)
class NewAccount:
    user: User
    # Its random initial password, to print on its slip now (never kept in clear); None
    # when the establishment gives the birth date.
    password: str | None = field(default=None, repr=False)


def give_initial_password(
    rt: Runtime,
    session: Session,
    establishment: Establishment,
    user: User,
    now: datetime,
    supply: Supply | None = None,
) -> str | None:
    """Put a person's account on its initial password as its establishment chose: the
    birth date (None returned), or a new random one (returned)."""
    if establishment.initial_passwords is InitialPasswords.RANDOM:
        return random_initial_passwords(rt, session, [user], now, supply)[0].password
    users.set_password_hash(session, user, None, must_change=False, now=now)
    return None


class Supply:
    """Random initial passwords hashed before the transaction that stores them: a hash
    takes about 20 ms, which a transaction must not spend holding SQLite's write lock or
    row locks (a class's reset, an import's new accounts). Taken in order; when more are
    wanted than were made ahead (the count changed meanwhile), the rest are made then."""

    def __init__(self, rt: Runtime, pairs: Sequence[tuple[str, str]] = ()) -> None:
        self._rt = rt
        self._pairs = list(pairs)

    @classmethod
    def ahead(cls, rt: Runtime, count: int) -> Supply:
        """`count` passwords and their hashes, made now (blocking: not on the event loop)."""
        passwords = [generate_password() for _ in range(max(0, count))]
        return cls(rt, list(zip(passwords, rt.hasher.hash_many(passwords), strict=True)))

    def take(self, count: int) -> list[tuple[str, str]]:
        ready, self._pairs = self._pairs[:count], self._pairs[count:]
        return ready + Supply.ahead(self._rt, count - len(ready))._pairs


def random_initial_password(rt: Runtime, session: Session, user: User, now: datetime) -> str:
    """A new random « mot de passe initial », returned for its slip and stored hashed: changed
    at the first sign-in, refused after IDP_PROVISIONAL_PASSWORD_DAYS (the sign-in page
    then says to ask a teacher)."""
    return random_initial_passwords(rt, session, [user], now)[0].password


def random_initial_passwords(
    rt: Runtime,
    session: Session,
    people: Sequence[User],
    now: datetime,
    supply: Supply | None = None,
) -> list[Handout]:
    """`random_initial_password` for each of `people`, from `supply` when given; their
    slips, in the same order."""
    pairs = (supply or Supply(rt)).take(len(people))
    expires = now + timedelta(days=rt.settings.provisional_password_days)
    for user, (_, hashed) in zip(people, pairs, strict=True):
        users.set_password_hash(
            session, user, hashed, must_change=True, now=now, expires_at=expires, flush=False
        )
    session.flush()
    return [Handout.of(user, password) for user, (password, _) in zip(people, pairs, strict=True)]


def initial_passwords_for_new(
    rt: Runtime,
    session: Session,
    establishment: Establishment,
    people: Sequence[User],
    now: datetime,
    supply: Supply | None = None,
) -> list[Handout]:
    """New accounts (an import's) as the establishment chose: on the birth date as made
    (nothing to hand out), or with random initial passwords, whose slips are returned."""
    if establishment.initial_passwords is not InitialPasswords.RANDOM or not people:
        return []
    return random_initial_passwords(rt, session, people, now, supply)


# -- passwords -----------------------------------------------------------------------------

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
    actor: str = audit.OPERATOR,
) -> User:
    """A personal password must pass the password policy; a temporary one (changed at the
    next sign-in) only its length rules."""
    if not password:
        raise InvalidInput("Le mot de passe est vide.", detail="empty password")
    user = get(session, establishments.get(session, code), login)
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
            refusal.message.text,
            refusal.message.params,
            detail=f"password refused ({refusal.code}): {rule}",
        )
    password_hash = rt.hasher.hash(password)
    now = rt.clock.now()
    establishment = establishments.get(session, code)
    user = get(session, establishment, login)
    users.set_password_hash(session, user, password_hash, must_change=temporary, now=now)
    # A new password ends the user's sessions and tokens everywhere.
    rt.logout.end_user(session, establishment, user, now)
    audit.record(
        session,
        establishment,
        EventType.PASSWORD_SET,
        at=now,
        actor=actor,
        subject=user.login,
        details={"temporary": temporary},
    )
    return user


@dataclass(frozen=True)
class Reset:
    user: User
    # Where the new password went, for the admin account (no birth date): the establishment.
    mailed_to: str | None = None
    # A random initial password to print on the person's slip now (never kept in clear).
    password: str | None = field(default=None, repr=False)


def reset_password(
    rt: Runtime,
    session: Session,
    code: str,
    login: str,
    *,
    actor: str = audit.OPERATOR,
    supply: Supply | None = None,
) -> Reset:
    """Back to the initial password as the establishment chose: the birth date, or a new
    random one returned for a slip; for the admin account, a new random password mailed to
    the establishment's address (sent before the change commits). Either way the account's
    sessions and tokens end, and a change is forced at the next sign-in."""
    now = rt.clock.now()
    establishment = establishments.get(session, code)
    user = get(session, establishment, login)
    mailed_to = None
    initial = None
    if user.birth_date is not None:
        initial = give_initial_password(rt, session, establishment, user, now, supply)
        target = "initial" if initial is None else "random_initial"
    else:
        password = generate_password()
        users.set_password_hash(session, user, rt.hasher.hash(password), must_change=True, now=now)
        target = "generated"
    rt.logout.end_user(session, establishment, user, now)
    audit.record(
        session,
        establishment,
        EventType.PASSWORD_RESET,
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
                login_url=rt.urls.public("login", code=establishment.code),
                admin_login=user.login,
                password=password,
            )
        )
        mailed_to = establishment.email
    return Reset(user, mailed_to=mailed_to, password=initial)


def reset_student_password(
    rt: Runtime,
    session: Session,
    code: str,
    login: str,
    *,
    teacher_login: str,
    supply: Supply | None = None,
) -> Reset:
    """The teacher's page: a teacher (or the admin) of the establishment puts one of its
    students back on the birth-date password. Another teacher, the admin account, anyone of
    another establishment, or a teacher who is no longer active: refused, nothing changed."""
    establishment = establishments.get(session, code)
    teacher = users.by_login(session, establishment, logins.normalise_typed(teacher_login))
    if teacher is None or not teacher.active or teacher.role not in MAY_RESET_STUDENTS:
        raise Forbidden(
            STUDENTS_ONLY,
            detail=f"{teacher_login!r} may not reset passwords at {establishment.code}",
        )
    student = users.by_login(session, establishment, logins.normalise_typed(login))
    if student is None or student.role is not Role.STUDENT:
        raise Forbidden(STUDENTS_ONLY, detail=f"{login!r} is not a student of {establishment.code}")
    return reset_password(rt, session, code, student.login, actor=teacher.login, supply=supply)


def reset_students(
    rt: Runtime,
    session: Session,
    code: str,
    logins_: Sequence[str],
    *,
    teacher_login: str,
    supply: Supply | None = None,
) -> list[Reset]:
    """A teacher puts several of the establishment's students (a selection, a class) back on
    their initial password, all or none: anyone in the list who is not one of its students
    refuses the whole reset. `supply`: random ones hashed ahead, where they are chosen."""
    return [
        reset_student_password(rt, session, code, login, teacher_login=teacher_login, supply=supply)
        for login in dict.fromkeys(logins_)
    ]


# -- the admin console ---------------------------------------------------------------------


def update(
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
    first_name, last_name = names.clean(first_name, "Prénom"), names.clean(last_name, "Nom")
    now = rt.clock.now()
    check_birth_date(birth_date, now.date())
    email = emails.normalise(email) if email else None
    establishment = establishments.get(session, code)
    user = get(session, establishment, login)
    if user.role is Role.ADMIN:
        raise InvalidInput(
            "Le compte administrateur ne se modifie pas ici.",
            detail="the admin account is not edited",
        )
    if user.email != email:
        user.email_verified = False
    user.first_name, user.last_name, user.birth_date = first_name, last_name, birth_date
    user.role, user.email = role, email
    users.set_groups(user, [names.clean(g, "Groupe") for g in groups])
    user.updated_at = now
    audit.record(
        session, establishment, EventType.USER_UPDATED, at=now, actor=actor, subject=user.login
    )
    return user


def set_active(
    rt: Runtime, session: Session, code: str, login: str, active: bool, *, actor: str
) -> User:
    """A deactivated account cannot sign in, and its sessions and tokens end."""
    now = rt.clock.now()
    establishment = establishments.get(session, code)
    user = get(session, establishment, login)
    if user.role is Role.ADMIN and not active:
        raise InvalidInput(
            "Le compte administrateur ne peut pas être désactivé.",
            detail="the admin account stays active",
        )
    user.active = active
    user.updated_at = now
    if active:
        # Back on purpose: no longer a leaver for the purge to erase.
        user.left_at = None
    else:
        rt.logout.end_user(session, establishment, user, now)
    audit.record(
        session,
        establishment,
        EventType.USER_REACTIVATED if active else EventType.USER_DEACTIVATED,
        at=now,
        actor=actor,
        subject=user.login,
    )
    return user


def delete(rt: Runtime, session: Session, code: str, login: str, *, actor: str) -> None:
    now = rt.clock.now()
    establishment = establishments.get(session, code)
    user = get(session, establishment, login)
    if user.role is Role.ADMIN:
        raise InvalidInput(
            "Le compte administrateur ne peut pas être supprimé.",
            detail="the admin account stays",
        )
    rt.logout.end_user(session, establishment, user, now)
    session.delete(user)
    audit.record(session, establishment, EventType.USER_DELETED, at=now, actor=actor, subject=login)


def clear_throttling(rt: Runtime, session: Session, code: str, login: str, *, actor: str) -> None:
    now = rt.clock.now()
    establishment = establishments.get(session, code)
    user = get(session, establishment, login)
    throttles.clear(session, throttles.account_scope(user.id))
    audit.record(
        session, establishment, EventType.USER_UNBLOCKED, at=now, actor=actor, subject=user.login
    )
