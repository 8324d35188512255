"""Who may reset whose password, decided by the use case with the change: a teacher resets
students of the establishment, nobody else, whatever the page in front of it lets through."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import select

from idp.accounts.roles import Role
from idp.errors import Forbidden
from idp.models import AuditEvent
from idp.services import accounts, establishments
from idp.store import users

PERSONAL = "des nuages blancs dans le ciel"
REFUSED = "Vous ne pouvez réinitialiser que le mot de passe d'un élève de votre établissement."


def person(rt, school, first, last, role, born=date(2009, 3, 14)) -> str:  # type: ignore[no-untyped-def]
    login = rt.run(
        accounts.add, school, first_name=first, last_name=last, birth_date=born, role=role
    ).user.login
    rt.run(accounts.set_password, school, login, PERSONAL, temporary=False)
    return login


@pytest.fixture
def people(rt, school, other_school):  # type: ignore[no-untyped-def]
    return {
        "teacher": person(rt, school, "Paul", "Durand", Role.TEACHER, date(1985, 9, 2)),
        "colleague": person(rt, school, "Anne", "Autre", Role.TEACHER, date(1980, 1, 1)),
        "staff": person(rt, school, "Nadia", "Petit", Role.STAFF, date(1979, 5, 23)),
        "student": person(rt, school, "Léa", "Martin", Role.STUDENT),
        "other_student": person(rt, other_school, "Hugo", "Bernard", Role.STUDENT),
        # Same login as A's teacher, but a student at B: a login means nothing elsewhere.
        "namesake": person(rt, other_school, "Paul", "Durand", Role.STUDENT),
    }


def password_hash(rt, school, login) -> str | None:  # type: ignore[no-untyped-def]
    def read(_rt, session):  # type: ignore[no-untyped-def]
        user = users.by_login(session, establishments.get(session, school), login)
        return user.password_hash if user else None

    return rt.run(read)


def resets(rt) -> list[tuple[str | None, str | None]]:  # type: ignore[no-untyped-def]
    def read(_rt, session):  # type: ignore[no-untyped-def]
        events = session.scalars(select(AuditEvent).where(AuditEvent.type == "password.reset"))
        return [(e.actor, e.subject) for e in events]

    return rt.run(read)


def test_a_teacher_resets_a_student_of_the_establishment(rt, school, people):
    reset = rt.run(
        accounts.reset_student_password, school, "Léa.Martin ", teacher_login="paul.durand"
    )
    assert reset.user.login == "lea.martin" and reset.mailed_to is None
    assert password_hash(rt, school, "lea.martin") is None  # back to the birth date
    assert resets(rt) == [("paul.durand", "lea.martin")]


def test_the_admin_may_reset_a_student(rt, school, people):
    rt.run(accounts.reset_student_password, school, "lea.martin", teacher_login="0750655e")
    assert resets(rt) == [("0750655e", "lea.martin")]


@pytest.mark.parametrize("target", ["anne.autre", "nadia.petit", "0750655e", "nobody.here"])
def test_a_teacher_cannot_reset_anyone_but_a_student(rt, school, people, target):
    before = password_hash(rt, school, target)
    with pytest.raises(Forbidden) as refused:
        rt.run(accounts.reset_student_password, school, target, teacher_login="paul.durand")
    assert refused.value.status_code == 403 and refused.value.message == REFUSED
    assert password_hash(rt, school, target) == before
    assert resets(rt) == []


def test_a_teacher_cannot_reset_a_student_of_another_establishment(
    rt, school, other_school, people
):
    before = password_hash(rt, other_school, "hugo.bernard")
    # Through the other establishment: the teacher is unknown there, or is someone else.
    for acting in ("paul.durand", "anne.autre"):
        with pytest.raises(Forbidden):
            rt.run(
                accounts.reset_student_password,
                other_school,
                "hugo.bernard",
                teacher_login=acting,
            )
    # Through the teacher's own establishment: that student is not one of its own.
    with pytest.raises(Forbidden):
        rt.run(accounts.reset_student_password, school, "hugo.bernard", teacher_login="paul.durand")
    assert password_hash(rt, other_school, "hugo.bernard") == before
    assert resets(rt) == []


@pytest.mark.parametrize("acting", ["nadia.petit", "lea.martin", "nobody.here"])
def test_only_a_teacher_or_the_admin_may_reset(rt, school, people, acting):
    with pytest.raises(Forbidden):
        rt.run(accounts.reset_student_password, school, "lea.martin", teacher_login=acting)
    assert password_hash(rt, school, "lea.martin") is not None
    assert resets(rt) == []


def test_a_deactivated_teacher_may_not_reset(rt, school, people):
    rt.run(accounts.set_active, school, "paul.durand", False, actor="0750655e")
    with pytest.raises(Forbidden):
        rt.run(accounts.reset_student_password, school, "lea.martin", teacher_login="paul.durand")
    assert password_hash(rt, school, "lea.martin") is not None
