"""idp/store/throttles.py: what a counted attempt leaves of the scope's block."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from idp.models import Throttle
from idp.store import throttles


def _reserve(rt, now, *, delay, honour_block=True):  # type: ignore[no-untyped-def]
    uow = rt.database.unit_of_work()
    try:
        failures = throttles.reserve(
            uow.session,
            "ip:192.0.2.7",
            now=now,
            forget_before=now - timedelta(hours=1),
            by_window=True,
            delay_for=delay,
            honour_block=honour_block,
        )
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
