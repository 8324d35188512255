"""idp/store/throttles.py: what a counted attempt leaves of the scope's block."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

from sqlalchemy import select

from idp.models import Throttle
from idp.store import tenancy, throttles


def _count(session, now, *, delay, honour_block=True):  # type: ignore[no-untyped-def]
    return throttles.reserve(
        session,
        "ip:192.0.2.7",
        now=now,
        forget_before=now - timedelta(hours=1),
        by_window=True,
        delay_for=delay,
        honour_block=honour_block,
    )


def _reserve(rt, now, *, delay, honour_block=True):  # type: ignore[no-untyped-def]
    uow = rt.database.unit_of_work()
    try:
        failures = _count(uow.session, now, delay=delay, honour_block=honour_block)
        uow.commit()
        return failures
    finally:
        uow.close()


def _block(rt):  # type: ignore[no-untyped-def]
    uow = rt.database.unit_of_work()
    try:
        return uow.session.scalar(
            select(Throttle.blocked_until).where(Throttle.scope == "ip:192.0.2.7")
        )
    finally:
        uow.close()


def test_a_count_sets_clears_or_leaves_the_block_as_its_delay_says(rt, clock):  # type: ignore[no-untyped-def]
    """The block is written only when there is one to set or one to clear: a count with
    no delay on a row without a block leaves it without one, a delay sets it, and a count
    with no delay, once the block is over, clears it rather than leave the old date."""
    now = clock.now()
    no_delay = throttles.never

    def after_three(failures: int) -> timedelta | None:
        return timedelta(minutes=5) if failures >= 3 else None

    assert _reserve(rt, now, delay=no_delay) == 1  # the row is inserted
    assert _reserve(rt, now, delay=no_delay) == 2
    assert _block(rt) is None
    assert _reserve(rt, now, delay=after_three) == 3
    assert _block(rt) == now + timedelta(minutes=5)
    # Blocked: an attempt that honours the block is refused, and nothing changes.
    assert _reserve(rt, now + timedelta(minutes=1), delay=after_three) is None
    assert _block(rt) == now + timedelta(minutes=5)
    # Counted anyway (an address's failure), with no delay: the block is cleared.
    later = now + timedelta(minutes=1)
    assert _reserve(rt, later, delay=no_delay, honour_block=False) == 4
    assert _block(rt) is None
    # A block past its end, then a count without delay: cleared too.
    assert _reserve(rt, later, delay=after_three) == 5
    assert _block(rt) == later + timedelta(minutes=5)
    past = later + timedelta(minutes=6)
    assert _reserve(rt, past, delay=no_delay) == 6
    assert _block(rt) is None


def test_two_first_attempts_at_once_both_count(rt, clock):  # type: ignore[no-untyped-def]
    """Two requests count the first failure of a new scope at the same moment (a class
    behind a new address): the one whose INSERT of the row loses counts on the winner's
    row. On PostgreSQL the lost INSERT waits for the winner's commit, then fails inside its
    SAVEPOINT: its transaction must go on, not be aborted (a 500 at sign-in)."""
    now = clock.now()
    first = rt.database.unit_of_work()
    try:
        # Its row inserted, not committed yet.
        assert _count(first.session, now, delay=throttles.never) == 1
        with ThreadPoolExecutor(max_workers=1) as pool:
            second = pool.submit(_reserve, rt, now, delay=throttles.never)
            # The second now waits: on the row's unique key (PostgreSQL), or for the
            # write lock (SQLite, where it then finds the row and counts on it).
            time.sleep(0.5)
            first.commit()
            assert second.result(timeout=30) == 2
    finally:
        first.close()


def test_a_savepoint_gets_the_connection_again(rt):  # type: ignore[no-untyped-def]
    """The statements of `tenancy.core` keep the session's connection for its transaction,
    but a SAVEPOINT begun meanwhile is emitted: a statement inside it runs inside it."""
    uow = rt.database.unit_of_work()
    try:
        session = uow.session
        outer = tenancy._connection(session)
        assert not outer.in_nested_transaction()
        with session.begin_nested():
            assert tenancy._connection(session).in_nested_transaction()
        assert tenancy._connection(session) is outer
        uow.rollback()
    finally:
        uow.close()
