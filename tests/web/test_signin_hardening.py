"""Attacks on sign-in found in review: races, spoofed addresses, cookie confusion, oracles."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import date
from ipaddress import ip_network

import pytest
from sqlalchemy import select
from starlette.testclient import TestClient

from helpers import change_password, csrf_from, sign_in
from idp.accounts.roles import Role
from idp.app import create_app
from idp.models import AuditEvent, Throttle
from idp.services import accounts, establishments
from idp.services.signin import Client, Result, SignIn
from idp.web.forms import safe_next

NEW = "ma tortue verte lit le journal"


@pytest.fixture
def lea(rt, school) -> str:
    rt.run(
        accounts.add,
        school,
        first_name="Léa",
        last_name="Martin",
        birth_date=date(2009, 3, 14),
        role=Role.STUDENT,
    )
    rt.run(accounts.set_password, school, "lea.martin", NEW, temporary=False)
    return "lea.martin"


async def attempt(rt, service, *args):  # type: ignore[no-untyped-def]
    """One sign-in attempt in a unit of work of its own, as a request would make it."""
    uow = rt.database.unit_of_work()
    try:
        result = await service.authenticate(uow.session, *args)
        uow.commit()
        return result
    finally:
        uow.close()


def establishment_id(rt, code):  # type: ignore[no-untyped-def]
    with rt.database.session() as session:
        return establishments.get(session, code).id


def add_pupils(rt, school, count: int, first_name: str, last_name: str) -> None:  # type: ignore[no-untyped-def]
    """`count` students born on 1 January 2009 (initial password 01012009), logins
    `{first_name}{i}.{last_name}` in lower case."""
    for i in range(count):
        rt.run(
            accounts.add,
            school,
            first_name=f"{first_name}{i}",
            last_name=last_name,
            birth_date=date(2009, 1, 1),
            role=Role.STUDENT,
        )


def test_parallel_sign_ins_do_not_fail(rt, school):
    """SQLite in WAL mode: 25 students mistyping at the same moment all get an answer."""
    add_pupils(rt, school, 25, "Eleve", "Simultane")
    service = SignIn(rt)
    eid = establishment_id(rt, school)

    async def everyone():  # type: ignore[no-untyped-def]
        return await asyncio.gather(
            *(
                attempt(
                    rt, service, eid, f"eleve{i}.simultane", "31121999", Client(f"198.51.100.{i}")
                )
                for i in range(25)
            )
        )

    attempts = asyncio.run(everyone())
    assert [a.result for a in attempts] == [Result.BAD_PASSWORD] * 25
    with rt.database.session() as session:
        assert (
            session.scalar(select(Throttle.failures).where(Throttle.scope == "ip:198.51.100.0"))
            == 1
        )


def test_a_class_signing_in_at_once_from_one_address_is_let_in(rt, school):
    """A class behind the school's router: thirty pupils with the right password post the
    form in the same instant, round after round, and none is told to wait (the first
    attempts from an address without a counter used to race on PostgreSQL)."""
    pupils = 30
    add_pupils(rt, school, pupils, "Classe", "Entiere")
    service = SignIn(rt)
    eid = establishment_id(rt, school)
    router = Client("192.0.2.10")

    async def everyone():  # type: ignore[no-untyped-def]
        return await asyncio.gather(
            *(
                attempt(rt, service, eid, f"classe{i}.entiere", "01012009", router)
                for i in range(pupils)
            )
        )

    for _ in range(3):
        results = [a.result for a in asyncio.run(everyone())]
        assert results == [Result.MUST_CHANGE] * pupils, results


def test_parallel_guesses_cannot_slip_past_the_delay(rt, school, lea, clock):
    service = SignIn(rt)
    eid = establishment_id(rt, school)
    attacker = Client("203.0.113.66")

    async def guess(password: str):  # type: ignore[no-untyped-def]
        return await attempt(rt, service, eid, "lea.martin", password, attacker)

    for i in range(6):
        assert asyncio.run(guess(f"0{i}012009")).result is Result.BAD_PASSWORD
    clock.advance(seconds=1)  # the delay after the 6th failure is over
    checked = []
    original = rt.hasher.verify_async

    async def counting(*args):  # type: ignore[no-untyped-def]
        checked.append(1)
        return await original(*args)

    rt.hasher.verify_async = counting

    async def burst():  # type: ignore[no-untyped-def]
        return await asyncio.gather(*(guess(f"{i:02d}022009") for i in range(40)))

    results = [a.result for a in asyncio.run(burst())]
    assert len(checked) == 1
    assert results.count(Result.BAD_PASSWORD) == 1
    assert results.count(Result.THROTTLED) == 39


def test_every_forwarded_for_line_counts(settings, rt, school, lea):
    app = create_app(replace(settings, trusted_proxies=(ip_network("10.0.0.0/8"),)), runtime=rt)
    with TestClient(
        app, base_url="http://127.0.0.1:8000", follow_redirects=False, client=("10.1.2.3", 5000)
    ) as via_proxy:
        page = via_proxy.get(f"/{school}/login")
        via_proxy.post(
            f"/{school}/login",
            data={"csrf_token": csrf_from(page.text), "login": "nobody", "password": "x"},
            headers=[("x-forwarded-for", "192.0.2.1"), ("x-forwarded-for", "203.0.113.5:4711")],
        )
        page = via_proxy.get(f"/{school}/login")
        via_proxy.post(
            f"/{school}/login",
            data={"csrf_token": csrf_from(page.text), "login": "nobody", "password": "x"},
            headers={"x-forwarded-for": "fe80::1%" + "a" * 80},
        )
    with rt.database.session() as session:
        ips = [
            e.ip
            for e in session.scalars(select(AuditEvent).where(AuditEvent.type == "login.failure"))
        ]
    assert ips == ["203.0.113.5", "fe80::1"]


def test_ipv6_addresses_count_per_64(rt, school, lea):
    service = SignIn(rt)
    eid = establishment_id(rt, school)
    for i in range(3):
        asyncio.run(attempt(rt, service, eid, "nobody", "x", Client(f"2001:db8:1:2::{i + 1}")))
    with rt.database.session() as session:
        row = session.get(Throttle, "ip:2001:db8:1:2::/64")
    assert row is not None and row.failures == 3


def test_cookie_names_cannot_collide_across_establishments(client, rt, lea, school):
    rt.run(
        establishments.create,
        code="pre",
        name="Lycée Pré",
        uai_code="0999999F",
        email="a@pre.example",
        send_welcome=False,
    )
    sign_in(client, school, "lea.martin", NEW)
    names = set(client.cookies.keys())
    assert names == {"cpro-lp-a", "cpro_pre", "cpro_device.lp-a"}
    # The establishment "pre"'s session cookie would be cpro-pre: not the pre-session one.
    assert "cpro-pre" not in names


def test_a_known_browser_gets_three_failures_then_is_throttled(app, school, lea):
    with (
        TestClient(
            app,
            base_url="http://127.0.0.1:8000",
            follow_redirects=False,
            client=("198.51.100.20", 1),
        ) as shared_pc,
        TestClient(
            app,
            base_url="http://127.0.0.1:8000",
            follow_redirects=False,
            client=("203.0.113.66", 1),
        ) as attacker,
    ):
        assert sign_in(shared_pc, school, "lea.martin", NEW).status_code == 303
        for _ in range(8):
            sign_in(attacker, school, "lea.martin", "01012000")
        # Someone at the shared computer: three tries past the account's delay, no more.
        for _ in range(3):
            assert "non valide" in sign_in(shared_pc, school, "lea.martin", "01012000").text
        assert "Trop de tentatives" in sign_in(shared_pc, school, "lea.martin", NEW).text


def test_a_password_change_voids_known_browsers(app, client, school, lea, rt):
    with TestClient(
        app, base_url="http://127.0.0.1:8000", follow_redirects=False, client=("198.51.100.20", 1)
    ) as old_pc:
        sign_in(old_pc, school, "lea.martin", NEW)
        rt.run(
            accounts.set_password,
            school,
            "lea.martin",
            "une autre phrase assez longue",
            temporary=False,
        )
        for _ in range(8):
            sign_in(client, school, "lea.martin", "01012000")
        assert (
            "Trop de tentatives"
            in sign_in(old_pc, school, "lea.martin", "une autre phrase assez longue").text
        )


def test_current_password_guesses_are_throttled(client, school, lea, rt):
    sign_in(client, school, "lea.martin", NEW)
    for _ in range(6):
        page = change_password(
            client, school, "une autre phrase bien longue", current="wrong guess"
        )
        assert "n&#39;est pas le bon" in page.text or "n'est pas le bon" in page.text
    page = change_password(client, school, "une autre phrase bien longue", current=NEW)
    assert page.status_code == 429
    assert "Trop de tentatives" in page.text


def test_control_characters_in_the_login_are_an_unknown_login(client, school, lea):
    page = sign_in(client, school, "lea.martin\x00", NEW)
    assert page.status_code == 200
    assert "login inconnu" in page.text


def test_a_password_typed_as_login_is_not_recorded(client, school, rt):
    sign_in(client, school, "Mon Secret 2024!", "x")
    sign_in(client, school, "jean.dupont", "x")
    with rt.database.session() as session:
        subjects = [
            e.subject
            for e in session.scalars(select(AuditEvent).where(AuditEvent.type == "login.failure"))
        ]
    assert subjects == [None, "jean.dupont"]


@pytest.mark.parametrize(
    "target",
    ["/lp-a/../lp-b/login", "/lp-a/%2e%2e/lp-b/login", "/lp-a/./x", "/lp-a/%2E%2E%2Flp-b"],
)
def test_next_cannot_climb_to_another_establishment(target):
    assert safe_next("lp-a", target) == "/lp-a"


def test_a_deactivated_account_confirms_no_guess(client, school, lea, rt):
    with rt.database.session() as session:
        establishment = establishments.get(session, school)
        accounts.get(session, establishment, "lea.martin").active = False
    checked = []
    original = rt.hasher.verify_async

    async def counting(*args):  # type: ignore[no-untyped-def]
        checked.append(1)
        return await original(*args)

    rt.hasher.verify_async = counting
    right = sign_in(client, school, "lea.martin", NEW).text
    wrong = sign_in(client, school, "lea.martin", "01012000").text
    assert "Ce compte est désactivé" in right and "Ce compte est désactivé" in wrong
    assert checked == []
