from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date, datetime
from typing import Any

from sqlalchemy import and_, bindparam, case, exists, func, or_, select, update
from sqlalchemy.orm import Session, selectinload

from idp.accounts.roles import Role
from idp.models import Establishment, User, UserGroup
from idp.store.tenancy import core, owned, scope


def by_login(session: Session, establishment: Establishment, login: str) -> User | None:
    if "\x00" in login:
        return None  # no stored text holds NUL, and PostgreSQL's driver refuses to send one
    return session.scalar(owned(User, establishment, User.login == login))


# What a sign-in reads of an account, as plain columns (a row, read by the same names as
# the model's attributes): every sign-in reads the account twice, and building and
# tracking an ORM object cost more than the query.
_SIGN_IN = (
    User.id,
    User.sub,
    User.login,
    User.active,
    User.role,
    User.birth_date,
    User.password_hash,
    User.must_change_password,
    User.password_expires_at,
    User.temp_password_hash,
    User.temp_password_expires_at,
    User.password_changed_at,
)
_SIGN_IN_BY_LOGIN = select(*_SIGN_IN).where(
    User.establishment_id == bindparam("tenant"), User.login == bindparam("login")
)
_SIGN_IN_BY_ID = (
    select(*_SIGN_IN)
    .where(User.establishment_id == bindparam("tenant"), User.id == bindparam("user_id"))
    .with_for_update()
)


def sign_in_view(session: Session, establishment: Establishment, login: str) -> Any:
    """The account a sign-in is for, as the columns a sign-in reads, or None."""
    if "\x00" in login:
        return None  # as in by_login
    return core(session, _SIGN_IN_BY_LOGIN, scope(establishment, login=login)).one_or_none()


def sign_in_view_locked(session: Session, establishment: Establishment, user_id: int) -> Any:
    """The same columns by id, the row locked (FOR UPDATE; on SQLite the transaction
    holds the write lock already): read again once the password has been checked."""
    params = scope(establishment, user_id=user_id)
    return core(session, _SIGN_IN_BY_ID, params).one_or_none()


def signed_in(
    session: Session, establishment: Establishment, user_id: int, now: datetime
) -> None:
    """Record a sign-in's moment on the account."""
    core(session, _SIGNED_IN, scope(establishment, user_id=user_id, now=now))


def rehashed(
    session: Session, establishment: Establishment, user_id: int, new: str, old: str
) -> bool:
    """Store a password's hash made with new parameters, unless the hash it replaces has
    been replaced meanwhile (the password changed): whether it was stored."""
    params = scope(establishment, user_id=user_id, new=new, old=old)
    return core(session, _REHASHED, params).rowcount == 1


_SIGNED_IN = (
    update(User)
    .where(User.establishment_id == bindparam("tenant"), User.id == bindparam("user_id"))
    .values(last_login_at=bindparam("now"))
    .execution_options(synchronize_session=False)
)
_REHASHED = (
    update(User)
    .where(
        User.establishment_id == bindparam("tenant"),
        User.id == bindparam("user_id"),
        User.password_hash == bindparam("old"),
    )
    .values(password_hash=bindparam("new"))
    .execution_options(synchronize_session=False)
)


def login_taken(session: Session, establishment: Establishment, login: str) -> bool:
    query = select(exists().where(User.establishment_id == establishment.id, User.login == login))
    return bool(session.scalar(query))


def add(
    session: Session,
    establishment: Establishment,
    *,
    login: str,
    first_name: str,
    last_name: str,
    role: Role,
    birth_date: date | None,
    now: datetime,
    email: str | None = None,
    groups: Iterable[str] = (),
    password_hash: str | None = None,
    must_change_password: bool = False,
) -> User:
    user = new(
        establishment,
        login=login,
        first_name=first_name,
        last_name=last_name,
        role=role,
        birth_date=birth_date,
        email=email,
        groups=groups,
        now=now,
    )
    user.password_hash = password_hash
    user.must_change_password = must_change_password
    session.add(user)
    session.flush()
    return user


def set_password_hash(
    session: Session,
    user: User,
    password_hash: str | None,
    *,
    must_change: bool,
    now: datetime,
    expires_at: datetime | None = None,
    flush: bool = True,
) -> None:
    """`None` puts the account back on its initial (birth-date) password. Any new password
    voids a temporary one sent by email. `expires_at`: a handed-out initial password's end.
    `flush=False` for many accounts at once, flushed by the caller."""
    user.password_hash = password_hash
    user.password_expires_at = expires_at
    user.temp_password_hash = None
    user.temp_password_expires_at = None
    user.must_change_password = must_change
    user.password_changed_at = now
    user.updated_at = now
    if flush:
        session.flush()


def search(
    session: Session,
    establishment: Establishment,
    *,
    roles: Iterable[Role],
    query: str = "",
    active: bool | None = None,
    state: str | None = None,
    offset: int = 0,
    limit: int = 50,
) -> tuple[list[User], int]:
    """Accounts of these roles whose login, name or group contains `query`, by name;
    optionally only (in)active ones, or those in one password `state`."""
    criteria: list[Any] = [User.role.in_(list(roles))]
    if active is not None:
        criteria.append(User.active.is_(active))
    if state == "initial":
        criteria.append(User.password_hash.is_(None))
    elif state == "initial_slip":
        criteria += [
            User.password_hash.is_not(None),
            User.must_change_password.is_(True),
            User.password_expires_at.is_not(None),
        ]
    elif state == "temporary":
        criteria += [
            User.password_hash.is_not(None),
            User.must_change_password.is_(True),
            User.password_expires_at.is_(None),
        ]
    elif state == "personal":
        criteria += [User.password_hash.is_not(None), User.must_change_password.is_(False)]
    query = query.replace("\x00", "")  # PostgreSQL's driver refuses to send NUL
    if query.strip():
        needle = f"%{query.strip().lower()}%"
        in_group = exists().where(
            UserGroup.user_id == User.id, func.lower(UserGroup.name).like(needle)
        )
        criteria.append(
            or_(
                func.lower(User.login).like(needle),
                func.lower(User.first_name).like(needle),
                func.lower(User.last_name).like(needle),
                in_group,
            )
        )
    base = owned(User, establishment, *criteria)
    total = session.scalar(select(func.count()).select_from(base.subquery())) or 0
    rows = session.scalars(
        base.options(selectinload(User.groups))
        .order_by(User.last_name, User.first_name, User.login)
        .offset(offset)
        .limit(limit)
    ).all()
    return list(rows), total


def all_people(session: Session, establishment: Establishment) -> Sequence[User]:
    """Every account but the admin's."""
    return session.scalars(
        owned(User, establishment, User.role != Role.ADMIN).options(selectinload(User.groups))
    ).all()


def all_logins(session: Session, establishment: Establishment) -> set[str]:
    return set(session.scalars(owned(User, establishment).with_only_columns(User.login)))


def new(
    establishment: Establishment,
    *,
    login: str,
    first_name: str,
    last_name: str,
    role: Role,
    birth_date: date | None,
    email: str | None,
    groups: Iterable[str],
    now: datetime,
    others: Iterable[str] = (),
    eleve_id: str | None = None,
    ine: str | None = None,
) -> User:
    """A User not yet added to the session (bulk imports add many at once)."""
    user = User(
        establishment_id=establishment.id,
        login=login,
        first_name=first_name,
        last_name=last_name,
        role=role,
        birth_date=birth_date,
        email=email,
        email_verified=False,
        password_hash=None,
        must_change_password=False,
        active=True,
        created_at=now,
        updated_at=now,
        eleve_id=eleve_id,
        ine=ine,
    )
    set_groups(user, groups, others)
    return user


def set_groups(user: User, classes: Iterable[str], others: Iterable[str] | None = None) -> None:
    """The user's classes and, unless `others` is None (kept as they are), other groups.
    A membership that stays is kept as it is (a new row for the same name would be
    inserted before the old one is deleted, against the unique (user, name))."""
    wanted_classes = list(dict.fromkeys(classes))
    wanted_others = user.group_names if others is None else list(dict.fromkeys(others))
    wanted = {name: True for name in wanted_classes}
    wanted.update({name: False for name in wanted_others if name not in wanted})
    if sorted(user.class_names) == sorted(wanted_classes) and sorted(user.group_names) == sorted(
        n for n in wanted if not wanted[n]
    ):
        return
    kept = {g.name: g for g in user.groups if g.name in wanted}
    for name, is_class in wanted.items():
        if name in kept:
            kept[name].is_class = is_class
    user.groups = [
        kept.get(name)
        or UserGroup(establishment_id=user.establishment_id, name=name, is_class=is_class)
        for name, is_class in wanted.items()
    ]


def counts(session: Session, establishment: Establishment) -> dict[tuple[str, str], int]:
    """Active accounts by (role, password state)."""
    state = case(
        (User.password_hash.is_(None), "initial"),
        # A random initial password on a slip: still initial, to the dashboard.
        (
            and_(User.must_change_password.is_(True), User.password_expires_at.is_not(None)),
            "initial",
        ),
        (User.must_change_password.is_(True), "temporary"),
        else_="personal",
    )
    rows = session.execute(
        owned(User, establishment, User.active.is_(True))
        .with_only_columns(User.role, state, func.count())
        .group_by(User.role, state)
    )
    return {(role.value, st): n for role, st, n in rows}


def classes(session: Session, establishment: Establishment) -> list[tuple[str, int]]:
    """The establishment's classes, by name, with how many active pupils each has."""
    rows = session.execute(
        select(UserGroup.name, func.count())
        .join(User, User.id == UserGroup.user_id)
        .where(
            UserGroup.establishment_id == establishment.id,
            UserGroup.is_class.is_(True),
            User.role == Role.STUDENT,
            User.active.is_(True),
        )
        .group_by(UserGroup.name)
        .order_by(UserGroup.name)
    )
    return [(name, count) for name, count in rows]


def students(
    session: Session,
    establishment: Establishment,
    *,
    class_name: str | None = None,
    logins: Iterable[str] | None = None,
) -> list[User]:
    """Active pupils of one class, or of these logins, by name."""
    criteria: list[Any] = [User.role == Role.STUDENT, User.active.is_(True)]
    if class_name is not None:
        criteria.append(
            exists().where(
                UserGroup.user_id == User.id,
                UserGroup.is_class.is_(True),
                UserGroup.name == class_name,
            )
        )
    if logins is not None:
        criteria.append(User.login.in_(list(logins)))
    return list(
        session.scalars(
            owned(User, establishment, *criteria)
            .options(selectinload(User.groups))
            .order_by(User.last_name, User.first_name, User.login)
        )
    )
