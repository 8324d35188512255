"""Counters of failed sign-ins, updated atomically in SQL so that instances sharing the
database never lose a failure to a race."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy import case, delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from idp.models import Throttle


def account_scope(user_id: int) -> str:
    return f"account:{user_id}"


def ip_scope(ip: str) -> str:
    return f"ip:{ip}"


def blocked_until(session: Session, scope: str, now: datetime) -> datetime | None:
    until = session.scalar(select(Throttle.blocked_until).where(Throttle.scope == scope))
    return until if until is not None and until > now else None


def get(session: Session, scope: str) -> Throttle | None:
    return session.get(Throttle, scope)


def record_failure(
    session: Session,
    scope: str,
    *,
    now: datetime,
    forget_before: datetime,
    by_window: bool,
    delay_for: Callable[[int], timedelta | None],
    establishment_id: int | None = None,
) -> int:
    """Count one failure; returns the count. The count starts again from 1 when the last
    failure (`by_window=False`) or the window's start (`by_window=True`) is older than
    `forget_before`. Sets `blocked_until` from `delay_for(count)`."""
    reference = Throttle.window_started_at if by_window else Throttle.last_failure_at
    stale = reference < forget_before
    statement = (
        update(Throttle)
        .where(Throttle.scope == scope)
        .values(
            failures=case((stale, 1), else_=Throttle.failures + 1),
            window_started_at=case((stale, now), else_=Throttle.window_started_at),
            last_failure_at=now,
        )
        .returning(Throttle.failures)
    )
    failures = session.scalar(statement)
    if failures is None:
        try:
            with session.begin_nested():
                session.add(
                    Throttle(
                        scope=scope,
                        establishment_id=establishment_id,
                        failures=1,
                        window_started_at=now,
                        last_failure_at=now,
                        blocked_until=None,
                    )
                )
            failures = 1
        except IntegrityError:
            # Another instance inserted it first: count on its row.
            failures = session.scalar(statement) or 1
    delay: timedelta | None = delay_for(failures)
    session.execute(
        update(Throttle)
        .where(Throttle.scope == scope)
        .values(blocked_until=now + delay if delay else None)
    )
    return failures


def clear(session: Session, scope: str) -> None:
    session.execute(delete(Throttle).where(Throttle.scope == scope))
