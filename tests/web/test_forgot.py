"""Forgotten passwords against a real SMTP server (aiosmtpd on 127.0.0.1), and resets by the
establishment: every branch of the help page's « mot de passe oublié » section."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import date
from html import unescape

import pytest
from sqlalchemy import select

from helpers import change_password, csrf_from, sign_in
from idp.accounts.roles import Role
from idp.mail import SmtpMailer
from idp.models import AuditEvent, User
from idp.services import accounts
from smtp_support import Recorder, free_port, parse

PERSONAL = "la mer est calme ce matin"
NEW = "le vent souffle sur la montagne"
TEMPORARY = re.compile(r"^[2-9A-HJ-NP-Za-km-z]{4}-[2-9A-HJ-NP-Za-km-z]{4}-[2-9A-HJ-NP-Za-km-z]{4}$")


@pytest.fixture
def smtp(smtp_server, rt, settings):  # type: ignore[no-untyped-def]
    server = smtp_server()
    rt.mailer = SmtpMailer(
        replace(
            settings,
            mail_backend="smtp",
            smtp_host="127.0.0.1",
            smtp_port=server.port,
            smtp_timeout=5,
        )
    )
    return server


@pytest.fixture
def paul(rt, school) -> str:
    rt.run(
        accounts.add,
        school,
        first_name="Paul",
        last_name="Durand",
        birth_date=date(1985, 9, 2),
        role=Role.TEACHER,
        email="paul.durand@lp-a.example",
    )
    rt.run(accounts.set_password, school, "paul.durand", PERSONAL, temporary=False)
    return "paul.durand"


def ask(client, school, login):  # type: ignore[no-untyped-def]
    page = client.get(f"/{school}/password/forgot")
    return client.post(
        f"/{school}/password/forgot", data={"csrf_token": csrf_from(page.text), "login": login}
    )


def temporary_in(envelope_message) -> str:  # type: ignore[no-untyped-def]
    text = envelope_message.get_body(("plain",)).get_content()
    [password] = [line for line in text.splitlines() if TEMPORARY.match(line)]
    return password


def test_login_page_links_to_the_form(client, school):
    assert f'href="/{school}/password/forgot"' in client.get(f"/{school}/login").text
    page = client.get(f"/{school}/password/forgot")
    assert page.status_code == 200 and "Lycée professionnel A" in page.text


def test_a_teacher_receives_a_temporary_password_that_works_once(client, school, paul, smtp, rt):
    response = ask(client, school, " Paul.Durand ")
    assert "Un nouveau mot de passe temporaire a été envoyé à p***@lp-a.example" in unescape(
        response.text
    )
    envelope, message = smtp.handler.only()
    assert envelope.rcpt_tos == ["paul.durand@lp-a.example"]
    assert "Lycée professionnel A" in message["Subject"]
    assert message["From"] == rt.settings.mail_from
    assert message["Message-ID"] and message["Date"]
    text = message.get_body(("plain",)).get_content()
    assert (
        "http://127.0.0.1:8000/lp-a/login" in text and "24 heures" in text and "paul.durand" in text
    )
    temporary = temporary_in(message)
    with rt.database.session() as session:
        stored = session.scalar(select(User.temp_password_hash).where(User.login == "paul.durand"))
    assert stored and temporary not in stored  # hashed

    # The personal password still works until the temporary one is used.
    assert sign_in(client, school, "paul.durand", PERSONAL).status_code == 303
    client.cookies.clear()
    # Spaces from a copy-paste are forgiven; the temporary password forces a change.
    used = sign_in(client, school, "paul.durand", f"  {temporary}\t")
    assert used.headers["location"] == f"/{school}/password/change"
    assert change_password(client, school, NEW).status_code == 303
    assert "non valide" in sign_in(client, school, "paul.durand", temporary).text
    assert "non valide" in sign_in(client, school, "paul.durand", PERSONAL).text
    assert "Un mot de passe temporaire" not in sign_in(client, school, "paul.durand", "x").text
    assert sign_in(client, school, "paul.durand", NEW).status_code == 303
    with rt.database.session() as session:
        assert (
            session.scalar(select(User.email_verified).where(User.login == "paul.durand")) is True
        )


def test_only_the_latest_temporary_password_is_valid(client, school, paul, smtp, clock):
    ask(client, school, "paul.durand")
    first = temporary_in(smtp.handler.only()[1])
    clock.advance(seconds=61)
    ask(client, school, "paul.durand")
    second = temporary_in(parse(smtp.handler.envelopes[-1].original_content))
    assert first != second
    assert "non valide" in sign_in(client, school, "paul.durand", first).text
    assert sign_in(client, school, "paul.durand", second).status_code == 303


def test_a_temporary_password_expires(client, school, paul, smtp, clock):
    ask(client, school, "paul.durand")
    temporary = temporary_in(smtp.handler.only()[1])
    clock.advance(hours=24, seconds=1)
    assert "non valide" in sign_in(client, school, "paul.durand", temporary).text


def test_rate_limits(client, school, paul, smtp, clock):
    assert "a été envoyé" in ask(client, school, "paul.durand").text
    soon = ask(client, school, "paul.durand")
    assert soon.status_code == 429 and "réessayez dans 60 secondes" in soon.text
    for _ in range(4):
        clock.advance(seconds=61)
        assert "a été envoyé" in ask(client, school, "paul.durand").text
    clock.advance(seconds=61)
    hourly = ask(client, school, "paul.durand")
    assert hourly.status_code == 429 and "Trop de demandes pour ce compte" in hourly.text
    assert len(smtp.handler.envelopes) == 5


def test_twenty_requests_an_hour_per_address(client, school, rt, smtp):
    for _ in range(20):
        assert ask(client, school, "nobody").status_code == 200
    limited = ask(client, school, "nobody")
    assert limited.status_code == 429 and "depuis cette connexion" in limited.text


def test_student_branch(client, school, rt, smtp):
    rt.run(
        accounts.add,
        school,
        first_name="Léa",
        last_name="Martin",
        birth_date=date(2009, 3, 14),
        role=Role.STUDENT,
        email="lea@lp-a.example",
    )
    page = unescape(ask(client, school, "lea.martin").text)
    assert "Contactez vos enseignants ou votre établissement" in page
    assert "date de naissance" in page
    assert smtp.handler.envelopes == []


def test_no_email_branch(client, school, rt, smtp):
    rt.run(
        accounts.add,
        school,
        first_name="Nadia",
        last_name="Petit",
        birth_date=date(1979, 5, 23),
        role=Role.STAFF,
    )
    page = unescape(ask(client, school, "nadia.petit").text)
    assert "Aucune adresse électronique n'est enregistrée pour ce compte" in page
    assert "administrateur" in page
    assert smtp.handler.envelopes == []


def test_unknown_login(client, school, smtp):
    page = unescape(ask(client, school, "personne.inconnue").text)
    assert "Authentification incorrecte : login inconnu" in page
    assert "page d'un autre établissement" in page


def test_the_admin_account_gets_it_at_the_establishment_address(client, school, smtp):
    page = unescape(ask(client, school, "0750655E").text)
    assert "envoyé à s***@lp-a.example" in page
    envelope, _ = smtp.handler.only()
    assert envelope.rcpt_tos == ["secretariat@lp-a.example"]


@pytest.mark.parametrize("failure", ["refused", "down"])
def test_mail_failure_leaves_nothing_active(
    client, school, paul, rt, smtp_server, settings, failure
):
    if failure == "refused":
        server = smtp_server(Recorder(refuse_data="554 5.7.1 Message rejected"))
        port = server.port
    else:
        port = free_port()
    rt.mailer = SmtpMailer(
        replace(
            settings, mail_backend="smtp", smtp_host="127.0.0.1", smtp_port=port, smtp_timeout=3
        )
    )
    page = ask(client, school, "paul.durand")
    assert page.status_code == 503
    assert "Le courriel n'a pas pu être envoyé. Veuillez réessayer plus tard." in unescape(
        page.text
    )
    with rt.database.session() as session:
        user = session.scalar(select(User).where(User.login == "paul.durand"))
        assert user.temp_password_hash is None
        events = [e.type for e in session.scalars(select(AuditEvent))]
    assert "password.temporary_failed" in events
    assert "password.temporary_sent" not in events
    # And the rate limit was not spent on a message nobody received.
    rt.mailer = SmtpMailer(
        replace(
            settings,
            mail_backend="smtp",
            smtp_host="127.0.0.1",
            smtp_port=smtp_server().port,
            smtp_timeout=3,
        )
    )
    assert "a été envoyé" in ask(client, school, "paul.durand").text


# -- resets by the establishment -------------------------------------------------------------


@pytest.fixture
def lea(rt, school) -> str:
    rt.run(
        accounts.add,
        school,
        first_name="Léa",
        last_name="Martin",
        birth_date=date(2009, 3, 14),
        role=Role.STUDENT,
        groups=["CAP1"],
    )
    rt.run(
        accounts.set_password,
        school,
        "lea.martin",
        "des nuages blancs dans le ciel",
        temporary=False,
    )
    return "lea.martin"


def test_a_teacher_resets_a_student(client, school, paul, lea, rt):
    sign_in(client, school, "paul.durand", PERSONAL)
    page = client.get(f"/{school}/students?q=cap1")
    assert page.status_code == 200 and "lea.martin" in page.text
    assert "paul.durand" not in page.text.split("<tbody>")[1]  # students only
    listed = unescape(page.text.split("<tbody>")[1])
    assert "Initial (date de naissance)" not in listed and "Personnalisé" in listed
    # The list's button asks first: the confirmation names the pupil and keeps the search.
    ask_first = re.search(r'href="(/[^"]*/students/reset\?[^"]*)"', page.text)
    assert ask_first and "login=lea.martin" in ask_first.group(1)
    confirm = client.get(unescape(ask_first.group(1)))
    assert confirm.status_code == 200
    assert "Réinitialiser le mot de passe de Léa Martin (lea.martin) ?" in unescape(confirm.text)
    with rt.database.session() as session:  # nothing done yet
        assert session.scalar(select(AuditEvent).where(AuditEvent.type == "password.reset")) is None
    done = client.post(
        f"/{school}/students/reset",
        data={
            "csrf_token": csrf_from(confirm.text),
            "login": "lea.martin",
            "q": "cap1",
            "page": "1",
        },
    )
    # Then back to the list it came from, which says it once (reloading sends nothing).
    assert done.status_code == 303 and done.headers["location"] == f"/{school}/students?q=cap1"
    shown = client.get(done.headers["location"])
    assert "de nouveau sa date de naissance" in unescape(shown.text)
    assert "Jamais connecté (date de naissance)" in unescape(shown.text.split("<tbody>")[1])
    again = client.get(done.headers["location"])
    assert "de nouveau sa date de naissance" not in unescape(again.text)
    client.cookies.clear()
    assert (
        sign_in(client, school, "lea.martin", "14032009").headers["location"]
        == f"/{school}/password/change"
    )
    with rt.database.session() as session:
        event = session.scalar(select(AuditEvent).where(AuditEvent.type == "password.reset"))
    assert (event.actor, event.subject) == ("paul.durand", "lea.martin")


def test_a_teacher_cannot_reset_a_teacher_or_the_admin(client, school, paul, rt):
    rt.run(
        accounts.add,
        school,
        first_name="Anne",
        last_name="Autre",
        birth_date=date(1980, 1, 1),
        role=Role.TEACHER,
    )
    sign_in(client, school, "paul.durand", PERSONAL)
    page = client.get(f"/{school}/login")  # any form carries this browser's CSRF token
    for target in ("anne.autre", "0750655e"):
        refused = client.post(
            f"/{school}/students/reset", data={"csrf_token": csrf_from(page.text), "login": target}
        )
        assert refused.status_code == 403
    with rt.database.session() as session:
        assert session.scalar(select(AuditEvent).where(AuditEvent.type == "password.reset")) is None


def test_students_page_is_for_teachers(client, school, lea, rt):
    assert (
        client.get(f"/{school}/students").headers["location"].startswith(f"/{school}/login?next=")
    )
    sign_in(client, school, "lea.martin", "des nuages blancs dans le ciel")
    assert client.get(f"/{school}/students").status_code == 403


def test_a_reset_ends_the_students_sessions(app, client, school, paul, lea):
    from starlette.testclient import TestClient

    with TestClient(app, base_url="http://127.0.0.1:8000", follow_redirects=False) as student:
        sign_in(student, school, "lea.martin", "des nuages blancs dans le ciel")
        assert student.get(f"/{school}").status_code == 200
        sign_in(client, school, "paul.durand", PERSONAL)
        page = client.get(f"/{school}/students/reset?login=lea.martin")
        client.post(
            f"/{school}/students/reset",
            data={"csrf_token": csrf_from(page.text), "login": "lea.martin"},
        )
        assert student.get(f"/{school}").status_code == 303


@pytest.mark.parametrize(
    "typed",
    [
        lambda t: t.replace("-", ""),
        lambda t: t.replace("-", " "),
        lambda t: f" {t.replace('-', '')} ",
        lambda t: " ".join(t.replace("-", "")),
    ],
    ids=["no hyphens", "spaces for hyphens", "copied with spaces", "spaced out"],
)
def test_a_temporary_password_counts_with_or_without_its_hyphens(
    client, school, paul, smtp, typed
):
    ask(client, school, "paul.durand")
    message = smtp.handler.only()[1]
    text = message.get_body(("plain",)).get_content()
    assert "tapez-le avec ou sans eux" in text  # the email says so
    temporary = temporary_in(message)
    used = sign_in(client, school, "paul.durand", typed(temporary))
    assert used.headers["location"] == f"/{school}/password/change"


def test_a_wrong_temporary_password_gets_its_own_hint(client, school, paul, smtp):
    ask(client, school, "paul.durand")
    temporary = temporary_in(smtp.handler.only()[1])
    wrong = temporary.swapcase()  # case counts
    page = sign_in(client, school, "paul.durand", wrong)
    text = unescape(page.text)
    # The help page's message stays; only the hint under it speaks of the temporary one.
    assert "Authentification incorrecte : mot de passe non valide." in text
    assert "saisissez celui du dernier message reçu, avec ou sans ses tirets" in text
    assert "date de naissance" not in text
