"""An establishment's choice of random initial passwords (instead of the birth date): its
admin makes it in the console; new accounts (console, CLI, CSV and SIECLE imports) and
resets (a teacher's, the admin's) then get a random « mot de passe initial », shown once
on slips, changed at the first sign-in and refused once expired; the sign-in page's hint
follows the choice. On SQLite and PostgreSQL."""

from __future__ import annotations

import re
from datetime import date, timedelta
from html import unescape
from zoneinfo import ZoneInfo

import pytest
from siecle_support import eleve, export, structures, zipped
from sqlalchemy import select
from starlette.testclient import TestClient

from helpers import csrf_from, sign_in, slip_passwords
from idp.accounts.initial_passwords import InitialPasswords
from idp.accounts.roles import Role
from idp.models import AuditEvent, Establishment, User
from idp.services import accounts, establishments

ADMIN_PASSWORD = "un admin bien gardé ici"
TEACHER_PASSWORD = "la mer est calme ce matin"
GENERATED = re.compile(r"[2-9A-Za-z]{4}-[2-9A-Za-z]{4}-[2-9A-Za-z]{4}")


@pytest.fixture
def admin_client(client, rt, school):  # type: ignore[no-untyped-def]
    rt.run(accounts.set_password, school, "0750655e", ADMIN_PASSWORD, temporary=False)
    assert sign_in(client, school, "0750655E", ADMIN_PASSWORD).status_code == 303
    return client


def choose(client, school: str, choice: str):  # type: ignore[no-untyped-def]
    page = client.get(f"/{school}/admin/passwords")
    assert page.status_code == 200
    return client.post(
        f"/{school}/admin/passwords",
        data={"csrf_token": csrf_from(page.text), "initial_passwords": choice},
    )


def random_mode(rt, school: str) -> None:  # type: ignore[no-untyped-def]
    rt.run(
        establishments.set_initial_passwords, school, InitialPasswords.RANDOM, actor="operator"
    )


def slips_on(html: str) -> dict[str, str]:
    """login -> password of a slips page."""
    found = {}
    for article in html.split('<article class="slip">')[1:]:
        login = re.search(r"Identifiant : <strong>([^<]+)</strong>", article).group(1)
        password = re.search(r'<code class="slip-password">([^<]+)</code>', article)
        found[login] = password.group(1) if password else None
    return found


def another(client):  # type: ignore[no-untyped-def]
    """A second browser: no cookies of the first."""
    return TestClient(
        client.app, base_url="http://127.0.0.1:8000", follow_redirects=False,
        client=("198.51.100.8", 50000),
    )  # fmt: skip


def slip_texts(html: str) -> dict[str, str]:
    """login -> the words of its slip."""
    found = {}
    for article in html.split('<article class="slip">')[1:]:
        login = re.search(r"Identifiant : <strong>([^<]+)</strong>", article).group(1)
        found[login] = unescape(re.sub(r"<[^>]+>", " ", article.split('<div class="slip-qr">')[0]))
    return found


def account(rt, login: str) -> User:  # type: ignore[no-untyped-def]
    with rt.database.session() as session:
        return session.scalar(select(User).where(User.login == login))


def test_the_admin_chooses_and_the_sign_in_hint_follows(admin_client, client, school, rt):  # type: ignore[no-untyped-def]
    def hint() -> str:
        fresh = another(client)  # signed out
        page = sign_in(fresh, school, "0750655e", "pas le bon")
        return unescape(page.text.split('id="initial-hint">')[1].split("</p>")[0])

    assert "votre date de naissance" in hint()
    page = admin_client.get(f"/{school}/admin/passwords")
    assert 'value="birth_date" checked' in page.text
    saved = choose(admin_client, school, "random")
    assert saved.status_code == 303
    assert 'value="random" checked' in admin_client.get(f"/{school}/admin/passwords").text
    assert "fiche remise par votre établissement" in hint()
    assert "date de naissance" not in hint()
    with rt.database.session() as session:
        school_row = session.scalar(select(Establishment).where(Establishment.code == school))
        assert school_row.initial_passwords is InitialPasswords.RANDOM
        event = session.scalar(
            select(AuditEvent).where(AuditEvent.type == "establishment.initial_passwords")
        )
        assert event.actor == "0750655e" and event.details == {"to": "random"}
    # A value the form does not offer changes nothing; nor does a stale form.
    assert choose(admin_client, school, "plain").status_code == 400
    stale = admin_client.post(
        f"/{school}/admin/passwords", data={"csrf_token": "x", "initial_passwords": "birth_date"}
    )
    assert stale.status_code == 200 and rt.run(
        lambda rt_, session: establishments.get(session, school).initial_passwords.value
    ) == "random"
    assert choose(admin_client, school, "birth_date").status_code == 303
    assert "votre date de naissance" in hint()


def test_an_account_made_in_the_console_gets_its_slip_once(admin_client, client, school, rt):  # type: ignore[no-untyped-def]
    assert choose(admin_client, school, "random").status_code == 303
    form = admin_client.get(f"/{school}/admin/users/new")
    assert "mot de passe initial aléatoire" in unescape(form.text)
    made = admin_client.post(
        f"/{school}/admin/users/new",
        data={
            "csrf_token": csrf_from(form.text),
            "first_name": "Léa",
            "last_name": "Martin",
            "birth_date": "2009-03-14",
            "role": "student",
        },
    )
    assert made.status_code == 200
    assert "no-store" in made.headers["cache-control"]
    slips = slips_on(made.text)
    password = slips["lea.martin"]
    assert password is not None and GENERATED.fullmatch(password)
    assert "14032009" not in made.text and "14/03/2009" not in made.text
    # Stored hashed; the account page shows the state, never the password.
    lea = account(rt, "lea.martin")
    assert lea.password_hash is not None and password not in lea.password_hash
    assert lea.must_change_password and lea.password_expires_at is not None
    shown = admin_client.get(f"/{school}/admin/users/lea.martin")
    assert "Initial (sur fiche)" in unescape(shown.text) and password not in shown.text
    # The birth date is no password here; the slip's is, with or without its hyphens, and
    # must be changed at once.
    pupil = another(client)
    assert sign_in(pupil, school, "lea.martin", "14032009").status_code == 200
    first = sign_in(pupil, school, "lea.martin", password.replace("-", ""))
    assert first.status_code == 303 and "/password/change" in first.headers["location"]


def test_a_teachers_reset_hands_out_new_slips_and_they_expire(client, school, rt, clock):  # type: ignore[no-untyped-def]
    for first, last, born in (("Léa", "Martin", date(2009, 3, 14)),
                              ("Hugo", "Petit", date(2009, 5, 2)),
                              ("Noé", "Roux", date(2008, 12, 21))):  # fmt: skip
        rt.run(accounts.add, school, first_name=first, last_name=last, birth_date=born,
               role=Role.STUDENT, groups=["2BAC"])  # fmt: skip
    rt.run(accounts.add, school, first_name="Paul", last_name="Durand",
           birth_date=date(1985, 9, 2), role=Role.TEACHER)  # fmt: skip
    rt.run(accounts.set_password, school, "paul.durand", TEACHER_PASSWORD, temporary=False)
    random_mode(rt, school)
    assert sign_in(client, school, "paul.durand", TEACHER_PASSWORD).status_code == 303
    listing = client.get(f"/{school}/students?classe=2BAC")
    assert "nouveau mot de passe initial" in unescape(listing.text)
    confirm = client.get(f"/{school}/students/reset?classe=2BAC&all=1")
    assert "affichées une seule fois" in unescape(confirm.text)
    done = client.post(
        f"/{school}/students/reset",
        data={"csrf_token": csrf_from(confirm.text), "login": ["lea.martin", "hugo.petit"],
              "classe": "2BAC"},
    )  # fmt: skip
    assert done.status_code == 200 and "no-store" in done.headers["cache-control"]
    handed = slips_on(done.text)
    assert set(handed) == {"lea.martin", "hugo.petit"} and len(set(handed.values())) == 2
    assert "Imprimez ces fiches maintenant" in unescape(done.text)
    # Each slip says until when its password works (Paris time).
    last_day = (clock.now() + timedelta(days=rt.settings.provisional_password_days)).astimezone(
        ZoneInfo("Europe/Paris")
    )
    assert unescape(done.text).count(f"Valable jusqu'au {last_day:%d/%m/%Y}") == 2
    shown = unescape(client.get(f"/{school}/students?classe=2BAC").text)
    assert "Jamais connecté (mot de passe initial sur fiche)" in shown
    # Slips printed again carry no password: those reset are told to use their slip, Noé
    # (still on his birth date, made before the choice) is given the birth-date rule.
    again = slip_texts(client.get(f"/{school}/students/slips?classe=2BAC&all=1").text)
    assert "fiche remise à la création de votre compte" in again["lea.martin"]
    assert "jjmmaaaa" not in again["lea.martin"] and handed["lea.martin"] not in again["lea.martin"]
    assert "jjmmaaaa" in again["noe.roux"] and "fiche remise" not in again["noe.roux"]
    # The journal says what the reset did.
    with rt.database.session() as session:
        details = session.scalars(
            select(AuditEvent.details).where(AuditEvent.type == "password.reset")
        ).all()
    assert details == [{"to": "random_initial"}] * 2

    pupil = another(client)
    assert sign_in(pupil, school, "hugo.petit", "02052009").status_code == 200
    clock.advance(days=rt.settings.provisional_password_days)
    late = sign_in(pupil, school, "hugo.petit", handed["hugo.petit"])
    assert late.status_code == 200
    assert "Ce mot de passe initial a expiré" in unescape(late.text)
    # The teacher's session ended long ago: signed in again, the teacher sees it.
    assert sign_in(client, school, "paul.durand", TEACHER_PASSWORD).status_code == 303
    expired = unescape(client.get(f"/{school}/students?classe=2BAC").text)
    assert "Mot de passe initial expiré : à réinitialiser" in expired


def test_a_pupil_who_forgot_is_told_to_ask_for_a_new_slip(client, school, rt):  # type: ignore[no-untyped-def]
    rt.run(accounts.add, school, first_name="Hugo", last_name="Petit",
           birth_date=date(2009, 5, 2), role=Role.STUDENT)  # fmt: skip

    def answer() -> str:
        page = client.get(f"/{school}/password/forgot")
        said = client.post(
            f"/{school}/password/forgot",
            data={"csrf_token": csrf_from(page.text), "login": "hugo.petit"},
        )
        return unescape(said.text)

    assert "votre date de naissance (jjmmaaaa)" in answer()
    random_mode(rt, school)
    told = answer()
    assert "une fiche avec un nouveau mot de passe initial" in told
    assert "date de naissance (jjmmaaaa)" not in told


def test_back_to_the_birth_date(client, school, rt):  # type: ignore[no-untyped-def]
    random_mode(rt, school)
    made = rt.run(accounts.add, school, first_name="Hugo", last_name="Petit",
                  birth_date=date(2009, 5, 2), role=Role.STUDENT)  # fmt: skip
    assert made.password is not None
    rt.run(
        establishments.set_initial_passwords, school, InitialPasswords.BIRTH_DATE, actor="x"
    )
    # Accounts already made keep theirs; a reset now gives the birth date.
    assert sign_in(client, school, "hugo.petit", "02052009").status_code == 200
    reset = rt.run(accounts.reset_password, school, "hugo.petit")
    assert reset.password is None
    assert account(rt, "hugo.petit").password_hash is None
    assert sign_in(client, school, "hugo.petit", "02052009").status_code == 303


def test_the_command_line(idp, school, client, rt, tmp_path):  # type: ignore[no-untyped-def]
    chosen = idp("establishment", "initial-passwords", school, "random")
    assert chosen.exit_code == 0, chosen.output
    added = idp("user", "add", school, "--first-name", "Léa", "--last-name", "Martin",
                "--birth-date", "2009-03-14", "--role", "student")  # fmt: skip
    assert added.exit_code == 0, added.output
    assert added.stdout.strip() == "lea.martin"  # stdout: the login alone, as before
    password = GENERATED.search(added.stderr).group(0)
    assert sign_in(client, school, "lea.martin", password).status_code == 303
    reset = idp("user", "reset-password", school, "lea.martin")
    assert reset.exit_code == 0, reset.output
    again = GENERATED.search(reset.stdout).group(0)
    assert again != password
    assert sign_in(another(client), school, "lea.martin", password).status_code == 200

    # An import that would make accounts needs somewhere to print their passwords.
    csv = tmp_path / "eleves.csv"
    csv.write_text("Nom;Prénom;Date de naissance;Classe\nPetit;Hugo;02/05/2009;2BAC\n")
    refused = idp("user", "import", school, str(csv))
    assert refused.exit_code == 2 and "--slips" in refused.stderr
    assert account(rt, "hugo.petit") is None
    assert idp("user", "import", school, str(csv), "--dry-run").exit_code == 0
    slips = tmp_path / "fiches.pdf"
    imported = idp("user", "import", school, str(csv), "--slips", str(slips))
    assert imported.exit_code == 0, imported.output
    assert slips.stat().st_mode & 0o777 == 0o600
    handed = slip_passwords(slips)
    assert set(handed) == {"hugo.petit"}
    assert sign_in(another(client), school, "hugo.petit",
                   handed["hugo.petit"]).status_code == 303  # fmt: skip
    with rt.database.session() as session:
        school_row = session.scalar(select(Establishment).where(Establishment.code == school))
        uai = school_row.uai

    # SIECLE: the new pupils' slips; the pupils already there keep their passwords.
    xml = export(
        uai=uai,
        eleves=eleve("1001", "PETIT", "Hugo", "02/05/2009")
        + eleve("1002", "ROUX", "Zoé", "08/08/2009"),
        structs=structures("1001", ("2BAC", "D")) + structures("1002", ("2BAC", "D")),
    )
    archive = tmp_path / "export.zip"
    archive.write_bytes(zipped(xml))
    siecle_slips = tmp_path / "fiches-siecle.pdf"
    synced = idp("user", "import", school, str(archive), "--slips", str(siecle_slips))
    assert synced.exit_code == 0, synced.output
    assert set(slip_passwords(siecle_slips)) == {"zoe.roux"}
    assert account(rt, "hugo.petit").password_hash is not None


def test_a_siecle_import_in_the_console_shows_the_new_pupils_slips(admin_client, school, rt):  # type: ignore[no-untyped-def]
    random_mode(rt, school)
    with rt.database.session() as session:
        uai = session.scalar(select(Establishment.uai).where(Establishment.code == school))
    xml = export(
        uai=uai,
        eleves=eleve("1001", "MARTIN", "Léa", "14/03/2009")
        + eleve("1002", "ROUX", "Zoé", "08/08/2009"),
        structs=structures("1001", ("2BAC", "D")) + structures("1002", ("1CAP", "D")),
    )
    upload = admin_client.get(f"/{school}/admin/import")
    preview = admin_client.post(
        f"/{school}/admin/import",
        data={"csrf_token": csrf_from(upload.text), "role": "student"},
        files={"file": ("export.zip", zipped(xml), "application/zip")},
    )
    assert preview.status_code == 200, preview.text
    assert 'id="random-initial"' in preview.text
    handle = re.search(r'name="handle" value="([^"]+)"', preview.text).group(1)
    done = admin_client.post(
        f"/{school}/admin/import/confirm",
        data={"csrf_token": csrf_from(preview.text), "handle": handle},
    )
    assert done.status_code == 200 and "no-store" in done.headers["cache-control"]
    text = unescape(done.text)
    assert "Import terminé : 2 compte(s) créé(s)" in text
    handed = slips_on(done.text)
    assert set(handed) == {"lea.martin", "zoe.roux"} and all(handed.values())
    assert "1CAP" in text  # the class is on the slip
    # The list of logins to download carries no password.
    listing = admin_client.get(f"/{school}/admin/import/created.csv?h={handle}")
    assert listing.status_code == 200 and handed["zoe.roux"] not in listing.text


def test_the_dashboard_counts_them_as_initial(admin_client, school, rt):  # type: ignore[no-untyped-def]
    random_mode(rt, school)
    rt.run(accounts.add, school, first_name="Hugo", last_name="Petit",
           birth_date=date(2009, 5, 2), role=Role.STUDENT)  # fmt: skip
    page = admin_client.get(f"/{school}/admin")
    cell = re.search(r'data-role="student" data-state="initial">(\d+)<', page.text)
    assert cell.group(1) == "1"
    assert 'data-role="student" data-state="temporary">0<' in page.text
