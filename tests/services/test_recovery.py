"""Temporary passwords sent from the admin console: to a teacher or staff member of the
establishment who has an email, and to nobody else."""

from __future__ import annotations

from datetime import date

import pytest

from idp.accounts.roles import Role
from idp.errors import InvalidInput
from idp.services import accounts, recovery
from idp.services.recovery import Outcome, Temporary


@pytest.fixture
def temporary(rt) -> Temporary:  # type: ignore[no-untyped-def]
    return Temporary("Xk7p-Qm3z-Hd9w", rt.hasher.hash("Xk7p-Qm3z-Hd9w"))


@pytest.fixture
def people(rt, school, other_school):  # type: ignore[no-untyped-def]
    for code, first, last, role, email in (
        (school, "Paul", "Durand", Role.TEACHER, "paul@lp-a.example"),
        (school, "Nadia", "Petit", Role.STAFF, None),
        (school, "Léa", "Martin", Role.STUDENT, "lea@lp-a.example"),
        (other_school, "Anne", "Autre", Role.TEACHER, "anne@lp-b.example"),
    ):
        rt.run(
            accounts.add,
            code,
            first_name=first,
            last_name=last,
            birth_date=date(1985, 9, 2),
            role=role,
            email=email,
        )


def test_a_teacher_with_an_email_gets_one(rt, school, people, temporary, mailbox):
    sent = rt.run(
        recovery.send_temporary_password,
        school,
        "paul.durand",
        temporary,
        ip=None,
        actor="0750655e",
    )
    assert sent.outcome is Outcome.SENT and sent.masked_email == "p***@lp-a.example"
    assert mailbox.last()["To"] == "paul@lp-a.example"


@pytest.mark.parametrize("login", ["lea.martin", "nadia.petit", "0750655e", "anne.autre"])
def test_nobody_else_gets_one(rt, school, people, temporary, mailbox, login):
    before = len(mailbox.messages())  # the establishments' welcome messages
    with pytest.raises(InvalidInput):
        rt.run(
            recovery.send_temporary_password,
            school,
            login,
            temporary,
            ip=None,
            actor="0750655e",
        )
    assert len(mailbox.messages()) == before
