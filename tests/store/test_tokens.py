"""idp/store/tokens.py: what concurrent requests may do to the same token."""

from __future__ import annotations

import threading
import time
from datetime import timedelta

from sqlalchemy import func, select

from idp.models import Token
from idp.services import clients
from idp.store import establishments
from idp.store import tokens as token_store


def test_two_revocations_of_one_unstored_token_at_once_store_it_once(rt, school, clock):  # type: ignore[no-untyped-def]
    """Two transactions insert the same revoked client_credentials token: the second waits
    for the first (PostgreSQL: on the unique index; SQLite: for the write lock), then
    inserts nothing and fails nothing."""
    client_pk = rt.run(
        clients.add, school, name="C Pro STI", redirect_uris_=["https://sti.example/cb"]
    ).client.id
    now = clock.now()
    values = {
        "client_pk": client_pk,
        "family": "f" * 32,
        "jti": "j" * 32,
        "scope": "",
        "offline": False,
        "created_at": now,
        "access_expires_at": now + timedelta(minutes=10),
        "revoked_at": now,
    }

    def revoke() -> None:
        uow = rt.database.unit_of_work()
        try:
            session = uow.session
            token_store.add_revoked(session, establishments.by_code(session, school), **values)
            uow.commit()
        finally:
            uow.close()

    first = rt.database.unit_of_work()
    failures: list[BaseException] = []

    def second() -> None:
        try:
            revoke()
        except BaseException as exc:  # reported below
            failures.append(exc)

    try:
        session = first.session
        token_store.add_revoked(session, establishments.by_code(session, school), **values)
        other = threading.Thread(target=second)
        other.start()
        time.sleep(0.3)  # the second is now waiting for the first
        assert other.is_alive()
        first.commit()
    finally:
        first.close()
    other.join(timeout=10)
    assert not other.is_alive()
    assert failures == []
    with rt.database.session() as check:
        assert check.scalar(select(func.count()).where(Token.jti == values["jti"])) == 1
