"""The back-channel logout outbox (OpenID Connect Back-Channel Logout 1.0, idp.oauth.logout
and idp.oauth.backchannel): rows written with the session end, claimed by one sender at a
time under a lease, then marked delivered, rescheduled or abandoned.

The sender works for every establishment at once (it is not a request of one of them), so
its queries are not scoped with idp.store.tenancy; each row carries its establishment, and
the token it becomes is signed with that establishment's key and names its issuer.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import Row, or_, select, update
from sqlalchemy.orm import Session

from idp.models import BackchannelNotice, Client, Establishment


def add(
    session: Session,
    establishment: Establishment,
    client: Client,
    *,
    sub: str,
    sid: str,
    jti: str,
    now: datetime,
) -> BackchannelNotice:
    """Queue one notice, due at once. Within the caller's transaction: a session end that
    rolls back queues nothing."""
    assert client.establishment_id == establishment.id and client.backchannel_logout_uri
    row = BackchannelNotice(
        establishment_id=establishment.id,
        client_pk=client.id,
        client_id=client.client_id,
        uri=client.backchannel_logout_uri,
        alg=client.id_token_signed_response_alg,
        sub=sub,
        sid=sid,
        jti=jti,
        attempts=0,
        next_attempt_at=now,
        created_at=now,
    )
    session.add(row)
    session.flush()
    return row


def _due(now: datetime) -> tuple[object, ...]:
    return (
        BackchannelNotice.next_attempt_at <= now,
        or_(BackchannelNotice.claimed_until.is_(None), BackchannelNotice.claimed_until < now),
    )


def claim_due(
    session: Session, *, now: datetime, until: datetime, limit: int
) -> Sequence[Row[tuple[BackchannelNotice, str]]]:
    """Claim up to `limit` due notices until `until`, counting the attempt; returns them with
    their establishment's code. Commit at once: the claim is what other senders see.

    On PostgreSQL the candidates are locked with SKIP LOCKED, so that concurrent senders
    neither wait for each other nor pick the same rows; the UPDATE repeats the condition, so
    that a row is claimed once whatever the database (SQLite takes its write lock up front).
    """
    candidates = session.scalars(
        select(BackchannelNotice.id)
        .where(*_due(now))
        .order_by(BackchannelNotice.next_attempt_at)
        .limit(limit)
        .with_for_update(skip_locked=True)
    ).all()
    if not candidates:
        return []
    claimed = session.scalars(
        update(BackchannelNotice)
        .where(BackchannelNotice.id.in_(candidates), *_due(now))
        .values(claimed_until=until, attempts=BackchannelNotice.attempts + 1)
        .returning(BackchannelNotice.id)
        .execution_options(synchronize_session=False)
    ).all()
    if not claimed:
        return []
    return session.execute(
        select(BackchannelNotice, Establishment.code)
        .join(Establishment, Establishment.id == BackchannelNotice.establishment_id)
        .where(BackchannelNotice.id.in_(claimed))
        .order_by(BackchannelNotice.next_attempt_at, BackchannelNotice.id)
    ).all()


def delivered(session: Session, notice_id: int, now: datetime) -> None:
    """Whoever holds the claim now: the module has it, no one needs to send it again."""
    session.execute(
        update(BackchannelNotice)
        .where(BackchannelNotice.id == notice_id, BackchannelNotice.next_attempt_at.is_not(None))
        .values(delivered_at=now, next_attempt_at=None, claimed_until=None, last_error=None)
        .execution_options(synchronize_session=False)
    )


def reschedule(
    session: Session, notice_id: int, *, claimed_until: datetime, at: datetime, error: str
) -> bool:
    """Try again at `at`; only while our claim holds (past the lease, the row is another
    sender's, and its outcome is the one that counts)."""
    result = session.execute(
        update(BackchannelNotice)
        .where(BackchannelNotice.id == notice_id, BackchannelNotice.claimed_until == claimed_until)
        .values(next_attempt_at=at, claimed_until=None, last_error=error[:100])
        .execution_options(synchronize_session=False)
    )
    return result.rowcount == 1  # type: ignore[attr-defined]


def release(session: Session, notice_ids: Sequence[int], *, claimed_until: datetime) -> int:
    """Hand back claimed notices that were not attempted (the sender is stopping): due at
    once for any other sender, the attempt their claim counted taken back. Same claim rule."""
    if not notice_ids:
        return 0
    result = session.execute(
        update(BackchannelNotice)
        .where(
            BackchannelNotice.id.in_(notice_ids),
            BackchannelNotice.claimed_until == claimed_until,
        )
        .values(claimed_until=None, attempts=BackchannelNotice.attempts - 1)
        .execution_options(synchronize_session=False)
    )
    return result.rowcount  # type: ignore[attr-defined,no-any-return]


def abandon(
    session: Session, notice_id: int, *, claimed_until: datetime, now: datetime, error: str
) -> bool:
    """Stop trying: refused by the module, or out of attempts. Same claim rule."""
    result = session.execute(
        update(BackchannelNotice)
        .where(BackchannelNotice.id == notice_id, BackchannelNotice.claimed_until == claimed_until)
        .values(abandoned_at=now, next_attempt_at=None, claimed_until=None, last_error=error[:100])
        .execution_options(synchronize_session=False)
    )
    return result.rowcount == 1  # type: ignore[attr-defined]
