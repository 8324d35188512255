"""Tenant isolation, store function by store function: what belongs to establishment A is
unknown through establishment B."""

from __future__ import annotations

from datetime import date

from idp.accounts.roles import Role
from idp.services import accounts, clients
from idp.store import audit, establishments, users
from idp.store import clients as client_store


def _setup(rt, school, other_school):  # type: ignore[no-untyped-def]
    rt.run(
        accounts.add,
        school,
        first_name="Léa",
        last_name="Martin",
        birth_date=date(2009, 3, 14),
        role=Role.STUDENT,
        groups=["CAP1"],
    )
    created = rt.run(
        clients.add, school, name="C Pro STI", redirect_uris_=["https://sti.example/cb"]
    )
    with rt.database.session() as session:
        a = establishments.by_code(session, school)
        b = establishments.by_code(session, other_school)
    return a, b, created.client.client_id


def test_users_are_scoped(rt, school, other_school):
    a, b, _ = _setup(rt, school, other_school)
    with rt.database.session() as session:
        assert users.by_login(session, a, "lea.martin") is not None
        assert users.by_login(session, b, "lea.martin") is None
        assert users.login_taken(session, a, "lea.martin")
        assert not users.login_taken(session, b, "lea.martin")
        # The admin of A is not an account at B either.
        assert users.by_login(session, b, "0750655e") is None


def test_same_login_may_exist_in_two_establishments(rt, school, other_school):
    _setup(rt, school, other_school)
    again = rt.run(
        accounts.add,
        other_school,
        first_name="Léa",
        last_name="Martin",
        birth_date=date(2008, 1, 1),
        role=Role.STUDENT,
    )
    assert again.user.login == "lea.martin"


def test_clients_are_scoped(rt, school, other_school):
    a, b, client_id = _setup(rt, school, other_school)
    with rt.database.session() as session:
        assert client_store.by_client_id(session, a, client_id) is not None
        assert client_store.by_client_id(session, b, client_id) is None
        assert [c.client_id for c in client_store.all_of(session, a)] == [client_id]
        assert client_store.all_of(session, b) == []


def test_audit_is_scoped(rt, school, other_school):
    a, b, _ = _setup(rt, school, other_school)
    with rt.database.session() as session:
        types_a = {e.type for e in audit.recent(session, a)}
        types_b = {e.type for e in audit.recent(session, b)}
    assert {"establishment.created", "user.created", "client.created"} <= types_a
    assert types_b == {"establishment.created"}


def test_groups_carry_the_establishment(rt, school, other_school):
    a, _, _ = _setup(rt, school, other_school)
    with rt.database.session() as session:
        user = users.by_login(session, a, "lea.martin")
        assert [(g.establishment_id, g.name) for g in user.groups] == [(a.id, "CAP1")]
