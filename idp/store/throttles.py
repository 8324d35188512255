"""Counters of failed sign-ins, updated atomically in SQL so that instances sharing the
database, and parallel requests, never slip a guess past the delay.

An attempt on an account is *reserved*: counted as a failure, and its delay set, in the same
statement that checks the account is not blocked, before the password is checked at all; a
success then clears the count. An address's failures are counted once they have happened.
"""

from __future__ import annotations

import functools
import ipaddress
from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy import Update, bindparam, case, delete, insert, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from idp.db import metrics_of
from idp.models import Throttle
from idp.store.tenancy import core

Delay = Callable[[int], timedelta | None]


def account_scope(user_id: int) -> str:
    return f"account:{user_id}"


def known_browser_scope(user_id: int) -> str:
    """Failures on an account from browsers that have signed in to it before."""
    return f"known:{user_id}"


def never(failures: int) -> timedelta | None:
    """A scope that counts and never blocks."""
    return None


def ip_scope(ip: str) -> str:
    """IPv6 addresses count per /64: one subscriber line holds a whole /64."""
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        return f"ip:{ip[:64]}"
    if address.version == 6:
        return f"ip:{ipaddress.ip_network(f'{address}/64', strict=False)}"
    return f"ip:{address}"


def blocked_until(session: Session, scope: str, now: datetime) -> datetime | None:
    row = core(session, _BLOCKED_UNTIL, {"key": scope}).first()
    until = row.blocked_until if row is not None else None
    return until if until is not None and until > now else None


def blocked_accounts(session: Session, user_ids: list[int], now: datetime) -> set[int]:
    """Which of these accounts are refused sign-in now (too many failures): one query."""
    if not user_ids:
        return set()
    scopes = {account_scope(i): i for i in user_ids}
    rows = session.scalars(
        select(Throttle.scope).where(Throttle.scope.in_(list(scopes)), Throttle.blocked_until > now)
    )
    return {scopes[scope] for scope in rows}


def get(session: Session, scope: str) -> Throttle | None:
    return session.get(Throttle, scope)


def reserve(
    session: Session,
    scope: str,
    *,
    now: datetime,
    forget_before: datetime,
    by_window: bool,
    delay_for: Delay,
    establishment_id: int | None = None,
    honour_block: bool = True,
) -> int | None:
    """Count one attempt as a failure unless the scope is blocked (then None). The count
    starts again from 1 when the last failure (`by_window=False`) or the window's start
    (`by_window=True`) is older than `forget_before`."""
    statement = _counting(by_window=by_window, honour_block=honour_block)
    values = {"key": scope, "at": now, "forget": forget_before}
    failures, was_blocked = _count(session, statement, values)
    # No row was counted: either the scope is blocked, or it has no row yet. Another
    # request may insert that row at this very moment (a class behind one address, each
    # pupil's first attempt): then count on its row, never take it for a block.
    for _ in range(3):
        if failures is not None:
            break
        row = core(session, _BLOCKED_UNTIL, {"key": scope}).one_or_none()
        if row is not None:
            if honour_block and row.blocked_until is not None and row.blocked_until > now:
                return None  # blocked
            failures, was_blocked = _count(session, statement, values)
            continue
        try:
            with session.begin_nested():
                core(
                    session,
                    _INSERT,
                    {
                        "scope": scope,
                        "establishment_id": establishment_id,
                        "failures": 1,
                        "window_started_at": now,
                        "last_failure_at": now,
                        "blocked_until": None,
                    },
                )
            failures, was_blocked = 1, None
        except IntegrityError:
            failures, was_blocked = _count(session, statement, values)  # inserted meanwhile
    if failures is None:
        return None
    delay = delay_for(failures)
    if delay or was_blocked is not None:
        # No delay on a row that holds none (most attempts) leaves nothing to write. The
        # row is locked by the count since (its transaction's write on SQLite).
        core(session, _SET_BLOCK, {"key": scope, "until": now + delay if delay else None})
    return failures


def _count(session: Session, statement: Update, values: dict) -> tuple[int | None, datetime | None]:  # type: ignore[type-arg]
    """(failures, the block as it stands) of the row counted, or (None, None): none was."""
    row = core(session, statement, values).one_or_none()
    return (None, None) if row is None else (row.failures, row.blocked_until)


# Built once per kind (every sign-in runs several of them), and run on the session's
# connection (`tenancy.core`): the values are bound parameters, named apart from the
# columns, which an UPDATE reserves for its SET clause.
_INSERT = insert(Throttle.__table__)
_BLOCKED_UNTIL = select(Throttle.blocked_until).where(Throttle.scope == bindparam("key"))
_SET_BLOCK = (
    update(Throttle)
    .where(Throttle.scope == bindparam("key"))
    .values(blocked_until=bindparam("until"))
    # Bound values: the session cannot match loaded rows against them (none is read after).
    .execution_options(synchronize_session=False)
)


@functools.cache
def _counting(*, by_window: bool, honour_block: bool) -> Update:
    reference = Throttle.window_started_at if by_window else Throttle.last_failure_at
    moment = Throttle.__table__.c.last_failure_at.type  # typed: `now` also stands in a CASE
    stale = reference < bindparam("forget", type_=moment)
    now = bindparam("at", type_=moment)
    conditions = [Throttle.scope == bindparam("key")]
    if honour_block:
        conditions.append(or_(Throttle.blocked_until.is_(None), Throttle.blocked_until <= now))
    return (
        update(Throttle)
        .where(*conditions)
        .values(
            failures=case((stale, 1), else_=Throttle.failures + 1),
            window_started_at=case((stale, now), else_=Throttle.window_started_at),
            last_failure_at=now,
        )
        # The block as it stands (the count does not change it): none to clear, none set.
        .returning(Throttle.failures, Throttle.blocked_until)
        .execution_options(synchronize_session=False)
    )


def clear(session: Session, scope: str) -> None:
    session.execute(delete(Throttle).where(Throttle.scope == scope))


def reset(session: Session, scope: str) -> None:
    """Forget the failures (a successful sign-in) but keep the row at zero: the next
    attempt then counts with one UPDATE rather than racing to insert the row again."""
    core(session, _RESET, {"key": scope})


_RESET = (
    update(Throttle)
    .where(Throttle.scope == bindparam("key"))
    .values(failures=0, blocked_until=None)
    .execution_options(synchronize_session=False)
)


def rate(
    session: Session,
    scope: str,
    *,
    now: datetime,
    window: timedelta,
    limit: int,
    spacing: timedelta | None = None,
    establishment_id: int | None = None,
) -> int | None:
    """Record one use of a rate-limited action (at most `limit` per `window`, and not twice
    within `spacing`), or return the whole seconds to wait before it is allowed."""
    row = session.get(Throttle, scope, with_for_update=True)
    if row is None:
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
            return None
        except IntegrityError:
            row = session.get(Throttle, scope, with_for_update=True, populate_existing=True)
            assert row is not None
    if row.window_started_at <= now - window:
        row.failures, row.window_started_at = 0, now
    waits = []
    if spacing is not None and row.last_failure_at > now - spacing:
        waits.append(row.last_failure_at + spacing - now)
    if row.failures >= limit:
        waits.append(row.window_started_at + window - now)
    if waits:
        if (metrics := metrics_of(session)) is not None:
            metrics.throttle(scope)
        return max(1, int(max(waits).total_seconds() + 0.999))
    row.failures += 1
    row.last_failure_at = now
    session.flush()
    return None
