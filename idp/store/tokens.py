from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Row, and_, bindparam, insert, or_, select, update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from idp.models import (
    AuthorizationCode,
    Client,
    Establishment,
    SsoSession,
    Token,
    User,
    UserGroup,
)
from idp.store.tenancy import core, owned, prepared, scope

# Built once: the values go as parameters, so the statement's cache key is computed once.
_INSERT = insert(Token.__table__)


def add(session: Session, establishment: Establishment, **values: Any) -> None:
    # A Core INSERT: issuing a token is the hottest write, and the ORM's flush would cost
    # more than the statement itself. Nothing reads the row back in the same request.
    core(session, _INSERT, {"establishment_id": establishment.id, **values})


def add_revoked(session: Session, establishment: Establishment, **values: Any) -> None:
    """A token stored only now that it is revoked (a client_credentials token). If a
    concurrent revocation stored it first, nothing happens: it is revoked either way."""
    dialect = session.get_bind().dialect.name
    insert_of = postgresql_insert if dialect == "postgresql" else sqlite_insert
    statement = insert_of(Token.__table__).on_conflict_do_nothing(index_elements=["jti"])
    session.execute(statement, {"establishment_id": establishment.id, **values})


_BY_JTI = prepared(Token, Token.jti == bindparam("jti"))


def by_jti(session: Session, establishment: Establishment, jti: str) -> Token | None:
    return session.scalar(_BY_JTI, scope(establishment, jti=jti))


HOLDER_COLUMNS = (
    User.id,
    User.sub,
    User.login,
    User.first_name,
    User.last_name,
    User.email,
    User.email_verified,
    User.role,
    User.active,
)
_BEARER = (
    select(*HOLDER_COLUMNS, Token.scope, Token.revoked_at, Client.enabled, AuthorizationCode.claims)
    .select_from(Token)
    .join(User, User.id == Token.user_id)
    .join(Client, Client.id == Token.client_pk)
    .outerjoin(AuthorizationCode, AuthorizationCode.id == Token.code_id)
    .where(Token.establishment_id == bindparam("tenant"), Token.jti == bindparam("jti"))
)
_GROUPS = (
    select(UserGroup.name, UserGroup.is_class)
    .where(UserGroup.establishment_id == bindparam("tenant"))
    .where(UserGroup.user_id == bindparam("user_id"))
    .order_by(UserGroup.name)
)


class Holder:
    """The person an access token stands for, as plain columns: what claims read of a User
    (building the ORM object cost a sixth of a userinfo request). The groups are read only
    when a claim asks for them (one query for the class and the groups)."""

    def __init__(self, session: Session, establishment: Establishment, row: Row[Any]) -> None:
        self._session, self._establishment = session, establishment
        (
            self.id,
            self.sub,
            self.login,
            self.first_name,
            self.last_name,
            self.email,
            self.email_verified,
            self.role,
            self.active,
        ) = row[: len(HOLDER_COLUMNS)]

    _memberships: list[tuple[str, bool]] | None = None

    def _read_memberships(self) -> list[tuple[str, bool]]:
        if self._memberships is None:
            params = scope(self._establishment, user_id=self.id)
            self._memberships = [tuple(r) for r in core(self._session, _GROUPS, params)]  # type: ignore[misc]
        return self._memberships

    @property
    def group_names(self) -> list[str]:
        return [name for name, is_class in self._read_memberships() if not is_class]

    @property
    def class_names(self) -> list[str]:
        return [name for name, is_class in self._read_memberships() if is_class]


def bearer_by_jti(
    session: Session, establishment: Establishment, jti: str
) -> tuple[Holder, str, datetime | None, bool, Any] | None:
    """What userinfo needs of an access token, in one query of plain columns: its holder,
    `scope`, `revoked_at`, its client's `enabled`, and the `claims` request of its code."""
    row = core(session, _BEARER, scope(establishment, jti=jti)).one_or_none()
    if row is None:
        return None
    token_scope, revoked_at, enabled, claims = row[len(HOLDER_COLUMNS) :]
    return Holder(session, establishment, row), token_scope, revoked_at, enabled, claims


# Plain columns, no ORM objects: introspection answers with these and nothing else.
_INTROSPECTED = (
    select(
        Token.client_pk,
        Token.user_id,
        Token.jti,
        Token.scope,
        Token.created_at,
        Token.access_expires_at,
        Token.refresh_hash,
        Token.refresh_expires_at,
        Token.rotated_at,
        Token.revoked_at,
        Client.client_id,
        Client.enabled,
        User.sub,
        User.login,
        User.active,
    )
    .select_from(Token)
    .join(Client, Client.id == Token.client_pk)
    .outerjoin(User, User.id == Token.user_id)
    .where(Token.establishment_id == bindparam("tenant"))
)
_INTROSPECTED_BY_JTI = _INTROSPECTED.where(Token.jti == bindparam("jti"))
_INTROSPECTED_BY_REFRESH = _INTROSPECTED.where(Token.refresh_hash == bindparam("refresh_hash"))


def introspected(
    session: Session,
    establishment: Establishment,
    *,
    jti: str | None = None,
    refresh_hash: str | None = None,
) -> Row[Any] | None:
    """A token by its jti or by its refresh token's hash, with its client (`client_id`,
    `enabled`) and its user (`sub`, `login`, `active`, all None for a client's own token):
    introspection's one query."""
    if jti is not None:
        return core(session, _INTROSPECTED_BY_JTI, scope(establishment, jti=jti)).one_or_none()
    return core(
        session, _INTROSPECTED_BY_REFRESH, scope(establishment, refresh_hash=refresh_hash)
    ).one_or_none()


_CLIENT_STATE = select(Client.id, Client.client_id, Client.enabled, Client.tokens_revoked_at).where(
    Client.establishment_id == bindparam("tenant"), Client.client_id == bindparam("client_id")
)
# The same, with the `revoked_at` of the token's row: one exists once it is revoked.
_CLIENT_OWN = _CLIENT_STATE.add_columns(Token.revoked_at).outerjoin(
    Token, and_(Token.client_pk == Client.id, Token.jti == bindparam("jti"))
)


def client_state(
    session: Session, establishment: Establishment, client_id: str, jti: str | None = None
) -> Row[Any] | None:
    """What judges a client_credentials token, which has no row unless revoked: its
    client's `id`, `client_id`, `enabled` and `tokens_revoked_at`, read now (not from a
    cache: a module disabled through another instance is seen at once), and with `jti` the
    token's own `revoked_at` (None without a row)."""
    if jti is None:
        return core(session, _CLIENT_STATE, scope(establishment, client_id=client_id)).one_or_none()
    return core(
        session, _CLIENT_OWN, scope(establishment, client_id=client_id, jti=jti)
    ).one_or_none()


_BY_REFRESH_HASH = prepared(Token, Token.refresh_hash == bindparam("refresh_hash"))

_REFRESHING = (
    select(
        *HOLDER_COLUMNS,
        Token.id,
        Token.client_pk,
        Token.family,
        Token.scope,
        Token.revoked_at,
        Token.rotated_at,
        Token.refresh_expires_at,
        Token.offline,
        Token.sso_session_id,
        Token.code_id,
        Token.auth_time,
        AuthorizationCode.claims,
        SsoSession.sid,
    )
    .select_from(Token)
    .join(User, User.id == Token.user_id)
    .outerjoin(AuthorizationCode, AuthorizationCode.id == Token.code_id)
    .outerjoin(SsoSession, SsoSession.id == Token.sso_session_id)
    .where(
        Token.establishment_id == bindparam("tenant"),
        Token.refresh_hash == bindparam("refresh_hash"),
    )
)


@dataclass(frozen=True)
class Refreshing:
    """A refresh token as its rotation reads it, in one query of plain columns: the token,
    its holder, the `claims` request of its code (asked again for each new ID token) and its
    session's `sid`. Loading the row, the user, the code and the sid one by one as ORM
    objects was a third of a refresh."""

    user: Holder
    id: int
    client_pk: int
    family: str
    scope: str
    revoked_at: datetime | None
    rotated_at: datetime | None
    refresh_expires_at: datetime | None
    offline: bool
    sso_session_id: int | None
    code_id: int | None
    auth_time: datetime | None
    requested: dict[str, Any] | None
    sid: str | None

    def get_scope(self) -> str:  # what Authlib's refresh grant asks of a token
        return self.scope


def refreshing(
    session: Session, establishment: Establishment, refresh_hash: str
) -> Refreshing | None:
    row = core(session, _REFRESHING, scope(establishment, refresh_hash=refresh_hash)).one_or_none()
    if row is None:
        return None
    return Refreshing(Holder(session, establishment, row), *row[len(HOLDER_COLUMNS) :])


def by_refresh_hash(
    session: Session, establishment: Establishment, refresh_hash: str
) -> Token | None:
    return session.scalar(_BY_REFRESH_HASH, scope(establishment, refresh_hash=refresh_hash))


_MARK_ROTATED = (
    update(Token)
    .where(
        Token.id == bindparam("token_id"), Token.rotated_at.is_(None), Token.revoked_at.is_(None)
    )
    .values(rotated_at=bindparam("now"))
)


def mark_rotated(session: Session, token: Token | Refreshing, now: datetime) -> bool:
    """Claim the refresh token for one rotation; False if another request already did."""
    result = core(session, _MARK_ROTATED, {"token_id": token.id, "now": now})
    return result.rowcount == 1


def _revoke(session: Session, establishment: Establishment, now: datetime, *criteria: Any) -> int:
    result = session.execute(
        update(Token)
        .where(Token.establishment_id == establishment.id, Token.revoked_at.is_(None), *criteria)
        .values(revoked_at=now)
    )
    return result.rowcount  # type: ignore[attr-defined,no-any-return]


def revoke_family(
    session: Session, establishment: Establishment, family: str, now: datetime
) -> int:
    return _revoke(session, establishment, now, Token.family == family)


def revoke_from_code(
    session: Session, establishment: Establishment, code_id: int, now: datetime
) -> int:
    """Everything issued from a code, and everything refreshed from that."""
    families = session.scalars(
        owned(Token, establishment, Token.code_id == code_id).with_only_columns(Token.family)
    ).all()
    if not families:
        return 0
    return _revoke(session, establishment, now, Token.family.in_(families))


def revoke_one(session: Session, establishment: Establishment, token: Token, now: datetime) -> int:
    return _revoke(session, establishment, now, Token.id == token.id)


def revoke_of_user(
    session: Session, establishment: Establishment, user_id: int, now: datetime
) -> int:
    """All of the user's tokens, offline_access ones included (password change, reset…)."""
    return _revoke(session, establishment, now, Token.user_id == user_id)


def revoke_of_client(
    session: Session, establishment: Establishment, client_pk: int, now: datetime
) -> int:
    """Every token of a module (disabled: re-enabling it must not revive its grants)."""
    return _revoke(session, establishment, now, Token.client_pk == client_pk)


def revoke_of_session(
    session: Session, establishment: Establishment, sso_session_id: int, now: datetime
) -> int:
    """Tokens that end with the SSO session: all but offline_access refresh families."""
    return _revoke(
        session,
        establishment,
        now,
        Token.sso_session_id == sso_session_id,
        or_(Token.offline.is_(False), Token.refresh_hash.is_(None)),
    )


def live_of_user(
    session: Session, establishment: Establishment, user_id: int, now: datetime
) -> Sequence[Token]:
    return session.scalars(
        owned(
            Token,
            establishment,
            Token.user_id == user_id,
            Token.revoked_at.is_(None),
            or_(Token.access_expires_at > now, Token.refresh_expires_at > now),
        )
    ).all()
