"""A password replaced while a sign-in with it is being hashed (a teacher's reset, incident
mode: what whoever holds the leaked password would race) opens nothing: no session, no
forced-change page that would let them choose the next password. On SQLite and PostgreSQL,
the replacement committed by another unit of work between the check and its outcome."""

from __future__ import annotations

import threading
from datetime import date
from html import unescape

import anyio.to_thread
import pytest
from sqlalchemy import func, select

from helpers import sign_in
from idp.accounts.roles import Role
from idp.models import SsoSession, User
from idp.services import accounts, incident

LEAKED = "la mer est calme ce matin"


def reset(rt, school) -> None:  # type: ignore[no-untyped-def]
    rt.run(accounts.reset_password, school, "lea.martin", actor="paul.durand")


def declare(rt, school) -> None:  # type: ignore[no-untyped-def]
    rt.run(incident.declare, school, role=Role.STUDENT)


@pytest.mark.parametrize("replace", [reset, declare], ids=["reset", "incident"])
def test_a_password_replaced_during_its_check_signs_nobody_in(client, rt, school, replace):  # type: ignore[no-untyped-def]
    rt.run(accounts.add, school, first_name="Léa", last_name="Martin",
           birth_date=date(2009, 3, 14), role=Role.STUDENT)  # fmt: skip
    rt.run(accounts.set_password, school, "lea.martin", LEAKED, temporary=False)
    verify = rt.hasher.verify_async
    raced = []

    async def verify_while_replaced(stored_hash: str, password: str):  # type: ignore[no-untyped-def]
        if not raced:
            raced.append(True)
            # Committed by another unit of work (a thread of its own, as another request
            # would be) while this sign-in is between its check and its outcome.
            other = threading.Thread(target=replace, args=(rt, school))
            other.start()
            await anyio.to_thread.run_sync(other.join)
        return await verify(stored_hash, password)

    rt.hasher.verify_async = verify_while_replaced  # type: ignore[method-assign]
    try:
        response = sign_in(client, school, "lea.martin", LEAKED)
    finally:
        rt.hasher.verify_async = verify  # type: ignore[method-assign]
    assert raced
    assert response.status_code == 200, response.headers.get("location")
    assert "mot de passe non valide" in unescape(response.text)
    with rt.database.session() as session:
        lea = session.scalar(select(User).where(User.login == "lea.martin"))
        opened = session.scalar(select(func.count()).where(SsoSession.user_id == lea.id))
    assert opened == 0
