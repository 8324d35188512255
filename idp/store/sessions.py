from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.orm import Session

from idp.models import Establishment, SsoSession, User, new_opaque_id
from idp.store.tenancy import core, owned, prepared, scope
from idp.store.tokens import HOLDER_COLUMNS, Holder


def add(
    session: Session,
    establishment: Establishment,
    user_id: int,
    *,
    token_hash: str,
    now: datetime,
    expires_at: datetime,
    ip: str | None,
    user_agent: str | None,
) -> int:
    """A new session, its id: a Core INSERT (one per sign-in; nothing reads the row back
    in the transaction that makes it). Its `sid` is given, not left to the column's
    default: a default computed in Python keeps the statement off its plan."""
    values = dict(
        establishment_id=establishment.id,
        user_id=user_id,
        sid=new_opaque_id(),
        token_hash=token_hash,
        created_at=now,
        auth_time=now,
        last_seen_at=now,
        expires_at=expires_at,
        ip=ip,
        user_agent=(user_agent or "")[:300] or None,
    )
    return core(session, _ADD, values).inserted_primary_key[0]


_ADD = insert(SsoSession)


def live_by_token(
    session: Session,
    establishment: Establishment,
    token_hash: str,
    *,
    now: datetime,
    idle_since: datetime,
) -> SsoSession | None:
    """The session if it is not ended, not past its absolute end and not idle too long."""
    return session.scalar(
        _LIVE, scope(establishment, token_hash=token_hash, now=now, idle_since=idle_since)
    )


# What makes a session live, for both reads below: the cookie's token, not ended, not past
# its absolute end, not idle too long.
_LIVE_CRITERIA = (
    SsoSession.token_hash == bindparam("token_hash"),
    SsoSession.ended_at.is_(None),
    SsoSession.expires_at > bindparam("now"),
    SsoSession.last_seen_at > bindparam("idle_since"),
)
_LIVE = prepared(SsoSession, *_LIVE_CRITERIA)


@dataclass(frozen=True)
class Live:
    """A live session as plain columns, with its user as a `Holder`: what an authorization
    request reads of it (the ORM's session and user objects, joined, cost a sixth of a
    single sign-on)."""

    id: int
    auth_time: datetime
    last_seen_at: datetime
    user: Holder


def live_view_by_token(
    session: Session,
    establishment: Establishment,
    token_hash: str,
    *,
    now: datetime,
    idle_since: datetime,
) -> Live | None:
    """As `live_by_token`, for a live session whose user is active, in one query of plain
    columns."""
    params = scope(establishment, token_hash=token_hash, now=now, idle_since=idle_since)
    row = core(session, _LIVE_VIEW, params).one_or_none()
    if row is None:
        return None
    session_id, auth_time, last_seen_at = row[len(HOLDER_COLUMNS) :]
    return Live(session_id, auth_time, last_seen_at, Holder(session, establishment, row))


_LIVE_VIEW = (
    select(*HOLDER_COLUMNS, SsoSession.id, SsoSession.auth_time, SsoSession.last_seen_at)
    .select_from(SsoSession)
    .join(User, User.id == SsoSession.user_id)
    .where(
        SsoSession.establishment_id == bindparam("tenant"),
        *_LIVE_CRITERIA,
        # The session's own tenant already implies the user's; said again, by construction.
        User.establishment_id == bindparam("tenant"),
        User.active.is_(True),
    )
)


def touch_by_id(
    session: Session, establishment: Establishment, session_id: int, now: datetime
) -> None:
    """`touch` for a session read as `Live`."""
    core(session, _TOUCH, scope(establishment, session_id=session_id, now=now))


_TOUCH = (
    update(SsoSession)
    .where(
        SsoSession.establishment_id == bindparam("tenant"), SsoSession.id == bindparam("session_id")
    )
    .values(last_seen_at=bindparam("now"))
)


def touch(session: Session, row: SsoSession, now: datetime) -> None:
    row.last_seen_at = now
    session.flush()


def rekey(session: Session, row: SsoSession, token_hash: str, now: datetime) -> None:
    """The same session under a new cookie token: whoever held the old one is out."""
    row.token_hash = token_hash
    row.last_seen_at = now
    session.flush()


def end(session: Session, row: SsoSession, now: datetime) -> None:
    row.ended_at = now
    session.flush()


def live_of_user(
    session: Session, establishment: Establishment, user_id: int, *, now: datetime
) -> Sequence[SsoSession]:
    return session.scalars(
        owned(
            SsoSession,
            establishment,
            SsoSession.user_id == user_id,
            SsoSession.ended_at.is_(None),
            SsoSession.expires_at > now,
        )
    ).all()
