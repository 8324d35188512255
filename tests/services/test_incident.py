"""`idp establishment incident`: after a typed confirmation, every password of the
establishment (or of one role) stops working, birth dates included, sessions end; pupils
and staff without an address get new initial passwords on the slips, staff with one a
temporary password by email, the admin a new password at the establishment's address.
On SQLite and PostgreSQL."""

from __future__ import annotations

import json
import re
from datetime import date
from html import unescape

import pytest
from sqlalchemy import select

from helpers import sign_in, slip_passwords, text_of
from idp.accounts.roles import Role
from idp.models import AuditEvent, SsoSession, User
from idp.services import accounts

PERSONAL = "la mer est calme ce matin"


@pytest.fixture
def people(rt, school):  # type: ignore[no-untyped-def]
    def add(first, last, born, role, email=None, password=None, groups=()):  # type: ignore[no-untyped-def]
        rt.run(accounts.add, school, first_name=first, last_name=last, birth_date=born,
               role=role, email=email, groups=list(groups))  # fmt: skip
        login = f"{first}.{last}".lower()
        if password:
            rt.run(accounts.set_password, school, login, password, temporary=False)
        return login

    return {
        "lea": add("Lea", "Martin", date(2009, 3, 14), Role.STUDENT, password=PERSONAL,
                   groups=["2BAC"]),
        "hugo": add("Hugo", "Petit", date(2009, 5, 2), Role.STUDENT),
        "paul": add("Paul", "Durand", date(1985, 9, 2), Role.TEACHER,
                    email="paul@lp-a.example", password=PERSONAL),
        "marie": add("Marie", "Roux", date(1979, 1, 30), Role.STAFF, password=PERSONAL),
    }  # fmt: skip


def test_every_password_is_replaced_and_what_comes_next_is_new(  # type: ignore[no-untyped-def]
    idp, school, people, rt, client, mailbox, tmp_path
):
    assert sign_in(client, school, people["lea"], PERSONAL).status_code == 303
    # A teacher suspended before the leak: his leaked password must not come back with him.
    rt.run(accounts.add, school, first_name="Yves", last_name="Navarre",
           birth_date=date(1981, 6, 12), role=Role.TEACHER)  # fmt: skip
    rt.run(accounts.set_password, school, "yves.navarre", PERSONAL, temporary=False)
    rt.run(accounts.set_active, school, "yves.navarre", False, actor="0750655e")
    slips = tmp_path / "fiches.pdf"
    result = idp("establishment", "incident", school, "--slips", str(slips), input=f"{school}\n")
    assert result.exit_code == 0, result.output
    assert slips.stat().st_mode & 0o777 == 0o600  # it holds every new password
    rt.run(accounts.set_active, school, "yves.navarre", True, actor="0750655e")
    assert sign_in(client, school, "yves.navarre", PERSONAL).status_code != 303
    assert json.loads(result.stdout.splitlines()[-1]) == {"slips": 3, "emailed": 1, "admin": 1}

    # Nothing known before works any more: personal passwords, birth dates, sessions.
    for login, old in ((people["lea"], PERSONAL), (people["hugo"], "02052009"),
                       (people["paul"], PERSONAL), (people["marie"], PERSONAL)):  # fmt: skip
        assert sign_in(client, school, login, old).status_code != 303, login
    with rt.database.session() as session:
        lea = session.scalar(select(User).where(User.login == people["lea"]))
        assert all(
            s.ended_at is not None
            for s in session.scalars(select(SsoSession).where(SsoSession.user_id == lea.id))
        )
        event = session.scalar(
            select(AuditEvent).where(AuditEvent.type == "establishment.incident")
        )
    assert event.details == {"role": "all", "slips": 3, "emailed": 1, "admin": 1}

    # Pupils and Marie (no address) have new initial passwords on the slips, to change at once.
    handed = slip_passwords(slips)
    assert set(handed) == {people["lea"], people["hugo"], people["marie"]}
    assert len(set(handed.values())) == 3
    first = sign_in(client, school, people["hugo"], handed[people["hugo"]])
    assert first.status_code == 303 and "/password/change" in first.headers["location"]
    # Paul got a temporary password by email; the admin's went to the establishment.
    sent = {m["To"]: text_of(m) for m in mailbox.messages()}
    assert "paul@lp-a.example" in sent and "secretariat@lp-a.example" in sent
    temporary = re.search(
        r"\b([2-9A-Za-z]{4}-[2-9A-Za-z]{4}-[2-9A-Za-z]{4})\b", sent["paul@lp-a.example"]
    )
    assert temporary is not None
    assert sign_in(client, school, people["paul"], temporary.group(1)).status_code == 303


def test_nothing_changes_without_the_typed_confirmation_or_the_slips(  # type: ignore[no-untyped-def]
    idp, school, people, client, tmp_path
):
    slips = tmp_path / "fiches.pdf"
    wrong = idp("establishment", "incident", school, "--slips", str(slips), input="lp-b\n")
    assert wrong.exit_code == 2 and "not confirmed; nothing changed" in wrong.stderr
    missing = idp("establishment", "incident", school, "--confirm", school)
    assert missing.exit_code == 2 and "--slips" in missing.stderr
    assert not slips.exists()
    assert sign_in(client, school, people["lea"], PERSONAL).status_code == 303


def test_one_role_only(idp, school, people, client, tmp_path):  # type: ignore[no-untyped-def]
    slips = tmp_path / "fiches.pdf"
    result = idp("establishment", "incident", school, "--role", "student",
                 "--slips", str(slips), "--confirm", school)  # fmt: skip
    assert result.exit_code == 0, result.output
    assert set(slip_passwords(slips)) == {people["lea"], people["hugo"]}
    assert sign_in(client, school, people["paul"], PERSONAL).status_code == 303  # untouched
    assert sign_in(client, school, people["lea"], PERSONAL).status_code != 303


def test_a_slips_initial_password_expires(idp, school, people, client, tmp_path, clock):  # type: ignore[no-untyped-def]
    slips = tmp_path / "fiches.pdf"
    result = idp("establishment", "incident", school, "--role", "student",
                 "--slips", str(slips), "--confirm", school)  # fmt: skip
    assert result.exit_code == 0, result.output
    handed = slip_passwords(slips)
    clock.advance(days=90)
    late = sign_in(client, school, people["hugo"], handed[people["hugo"]])
    assert late.status_code == 200
    assert "Ce mot de passe initial a expiré" in unescape(late.text)
    # A wrong password says nothing of it.
    wrong = sign_in(client, school, people["lea"], "pas-le-bon-1")
    assert "expiré" not in unescape(wrong.text)
    clock.advance(days=-1)
    assert sign_in(client, school, people["lea"], handed[people["lea"]]).status_code == 303
