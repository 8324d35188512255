from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import bindparam
from sqlalchemy.orm import Session

from idp.models import Establishment, SsoSession, User
from idp.store.tenancy import owned, prepared, scope


def add(
    session: Session,
    establishment: Establishment,
    user: User,
    *,
    token_hash: str,
    now: datetime,
    expires_at: datetime,
    ip: str | None,
    user_agent: str | None,
) -> SsoSession:
    row = SsoSession(
        establishment_id=establishment.id,
        user_id=user.id,
        token_hash=token_hash,
        created_at=now,
        auth_time=now,
        last_seen_at=now,
        expires_at=expires_at,
        ip=ip,
        user_agent=(user_agent or "")[:300] or None,
    )
    session.add(row)
    session.flush()
    return row


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


_LIVE = prepared(
    SsoSession,
    SsoSession.token_hash == bindparam("token_hash"),
    SsoSession.ended_at.is_(None),
    SsoSession.expires_at > bindparam("now"),
    SsoSession.last_seen_at > bindparam("idle_since"),
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
