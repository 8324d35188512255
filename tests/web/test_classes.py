"""The teachers' page by class: each pupil's state, resets of a selection or a whole class
after a confirmation (all or nothing), and sign-in slips as a page and as a PDF, which
never show a birth date. On SQLite and PostgreSQL."""

from __future__ import annotations

import re
from datetime import date, timedelta
from html import unescape

import pytest
import segno
from siecle_support import eleve, export, structures
from sqlalchemy import func, select

from helpers import csrf_from, pdf_text, sign_in
from idp.accounts.roles import Role
from idp.models import AuditEvent, Throttle, User
from idp.services import accounts
from idp.store.throttles import account_scope

TEACHER_PASSWORD = "la mer est calme ce matin"


@pytest.fixture
def school_year(rt, school, idp, tmp_path, clock):  # type: ignore[no-untyped-def]
    """Three pupils in 2BAC-MELEC, one in 1CAP-EBE, from SIECLE; a teacher signed in."""
    pupils = [
        eleve("1001", "MARTIN", "Léa", "14/03/2009"),
        eleve("1002", "BERNARD", "Lucas", "05/01/2009"),
        eleve("1003", "ŒUVRARD", "Zoé", "08/08/2009"),
        eleve("1004", "PETIT", "Noé", "21/12/2008"),
    ]
    structs = [
        structures("1001", ("2BAC-MELEC", "D"), ("AP-MATHS", "G")),
        structures("1002", ("2BAC-MELEC", "D")),
        structures("1003", ("2BAC-MELEC", "D")),
        structures("1004", ("1CAP-EBE", "D")),
    ]
    path = tmp_path / "ElevesSansAdresses.xml"
    path.write_bytes(export(eleves="".join(pupils), structs="".join(structs)))
    assert idp("user", "import", school, str(path)).exit_code == 0
    rt.run(accounts.add, school, first_name="Paul", last_name="Durand",
           birth_date=date(1985, 9, 2), role=Role.TEACHER)  # fmt: skip
    rt.run(accounts.set_password, school, "paul.durand", TEACHER_PASSWORD, temporary=False)
    # Lucas is blocked after too many tries; Zoé has a temporary password waiting.
    now = clock.now()
    with rt.database.session() as session:
        lucas = session.scalar(select(User).where(User.login == "lucas.bernard"))
        session.add(
            Throttle(
                scope=account_scope(lucas.id),
                establishment_id=lucas.establishment_id,
                failures=10,
                window_started_at=now,
                last_failure_at=now,
                blocked_until=now + timedelta(minutes=15),
            )
        )
        zoe = session.scalar(select(User).where(User.login == "zoe.oeuvrard"))
        zoe.temp_password_hash = "not-a-real-hash"
        zoe.temp_password_expires_at = now + timedelta(hours=2)
    return school


@pytest.fixture
def teacher(client, school_year):  # type: ignore[no-untyped-def]
    assert sign_in(client, school_year, "paul.durand", TEACHER_PASSWORD).status_code == 303
    return client


def rows(html: str) -> dict[str, str]:
    body = html.split("<tbody>")[1].split("</tbody>")[0]
    found = {}
    for row in body.split("<tr>")[1:]:
        login = re.search(r'name="login" value="([^"]+)"', row).group(1)
        found[login] = unescape(re.sub(r"<[^>]+>", " ", row))
    return found


def test_pupils_by_class_with_their_state(teacher, school_year):  # type: ignore[no-untyped-def]
    page = teacher.get(f"/{school_year}/students")
    chips = re.sub(r"<[^>]+>", "", unescape(page.text.split('id="classes"')[1].split("</nav>")[0]))
    assert "1CAP-EBE (1)" in chips and "2BAC-MELEC (3)" in chips
    listed = teacher.get(f"/{school_year}/students?classe=2BAC-MELEC")
    shown = rows(listed.text)
    assert set(shown) == {"lea.martin", "lucas.bernard", "zoe.oeuvrard"}  # not Noé
    assert "Jamais connecté (date de naissance)" in shown["lea.martin"]
    assert "Bloqué pour l'instant" in shown["lucas.bernard"]
    assert "Mot de passe provisoire envoyé" in shown["zoe.oeuvrard"]
    assert "Bloqué" not in shown["lea.martin"] and "provisoire" not in shown["lea.martin"]


def test_a_selection_is_reset_after_a_confirmation_all_or_nothing(teacher, school_year, rt):  # type: ignore[no-untyped-def]
    def reset_events() -> int:
        with rt.database.session() as session:
            return session.scalar(select(func.count()).where(AuditEvent.type == "password.reset"))

    chosen = f"/{school_year}/students/reset?classe=2BAC-MELEC&login=lea.martin&login=lucas.bernard"
    confirm = teacher.get(chosen)
    text = unescape(confirm.text)
    assert "Réinitialiser les mots de passe de ces 2 élèves ?" in text
    assert "Léa MARTIN (lea.martin)" in text and "zoe.oeuvrard" not in text
    assert reset_events() == 0  # asking changes nothing
    # A teacher's login slipped into the list: refused, and nobody is reset.
    refused = teacher.post(
        f"/{school_year}/students/reset",
        data={"csrf_token": csrf_from(confirm.text),
              "login": ["lea.martin", "paul.durand"], "classe": "2BAC-MELEC"},
    )  # fmt: skip
    assert refused.status_code == 403 and reset_events() == 0
    assert teacher.get(f"/{school_year}/students/reset?login=paul.durand").status_code == 404
    done = teacher.post(
        f"/{school_year}/students/reset",
        data={"csrf_token": csrf_from(confirm.text),
              "login": ["lea.martin", "lucas.bernard"], "classe": "2BAC-MELEC"},
    )  # fmt: skip
    assert done.status_code == 303
    assert done.headers["location"] == f"/{school_year}/students?classe=2BAC-MELEC"
    assert "2 mots de passe sont de nouveau" in unescape(teacher.get(done.headers["location"]).text)
    assert reset_events() == 2


def test_a_whole_class_is_reset_after_naming_it(teacher, school_year, rt):  # type: ignore[no-untyped-def]
    confirm = teacher.get(f"/{school_year}/students/reset?classe=2BAC-MELEC&all=1")
    text = unescape(confirm.text)
    assert "Réinitialiser les mots de passe des 3 élèves de la classe 2BAC-MELEC ?" in text
    assert text.count('name="login"') == 3 and "noe.petit" not in text
    teacher.post(
        f"/{school_year}/students/reset",
        data={"csrf_token": csrf_from(confirm.text),
              "login": re.findall(r'name="login" value="([^"]+)"', confirm.text)},
    )  # fmt: skip
    with rt.database.session() as session:
        events = session.scalars(
            select(AuditEvent.subject).where(AuditEvent.type == "password.reset")
        ).all()
    assert sorted(events) == ["lea.martin", "lucas.bernard", "zoe.oeuvrard"]


def test_slips_as_a_page_and_as_a_pdf_without_any_birth_date(teacher, school_year, rt):  # type: ignore[no-untyped-def]
    page = teacher.get(f"/{school_year}/students/slips?classe=2BAC-MELEC&all=1")
    assert page.status_code == 200
    text = unescape(page.text)
    login_url = rt.urls.public("login", code=school_year)
    assert text.count('class="slip"') == 3
    assert "Identifiant : lea.martin" in re.sub(r"<[^>]+>", "", text)
    assert (
        "Pour votre première connexion, votre mot de passe correspond à votre date de "
        "naissance sous la forme jjmmaaaa."
    ) in text
    assert login_url in text and "Lycée professionnel A" in text
    # The QR code holds the sign-in address with the login filled in.
    expected = segno.make(f"{login_url}?login_hint=lea.martin", error="m", micro=False)
    assert expected.svg_inline(scale=3, border=2, title="lea.martin") in page.text
    for secret in ("14032009", "14/03/2009", "2009-03-14"):
        assert secret not in text

    pdf = teacher.get(f"/{school_year}/students/slips.pdf?login=lea.martin&login=noe.petit")
    assert pdf.status_code == 200 and pdf.headers["content-type"] == "application/pdf"
    assert pdf.content.startswith(b"%PDF-")
    content = pdf_text(pdf.content)
    assert b"lea.martin" in content and b"noe.petit" in content and b"zoe" not in content
    assert b"14032009" not in content and b"21122008" not in content
    assert pdf.content.count(b"/Type /Page\n") + pdf.content.count(b"/Type /Page ") >= 1


def test_pupils_and_strangers_get_no_slips(client, school_year, rt):  # type: ignore[no-untyped-def]
    rt.run(accounts.set_password, school_year, "noe.petit", TEACHER_PASSWORD, temporary=False)
    assert sign_in(client, school_year, "noe.petit", TEACHER_PASSWORD).status_code == 303
    for path in ("students/slips?login=lea.martin", "students/slips.pdf?login=lea.martin"):
        assert client.get(f"/{school_year}/{path}").status_code == 403
