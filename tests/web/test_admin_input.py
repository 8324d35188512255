"""The console and what people give it (findings 5, 6, 7 and 12 of the outside review): what
they typed comes back in banners as escaped text, never as the text gettext formats; the CSV
files it hands out carry no live formula; a file it cannot read is a clear message and
imports nothing; names with control characters are refused."""

from __future__ import annotations

import csv
import re
from urllib.parse import quote

import pytest
from sqlalchemy import func, select

from helpers import csrf_from, sign_in
from idp.models import User
from idp.services import accounts
from idp.store import audit

ADMIN_PASSWORD = "un admin bien gardé ici"
# Markup, and the two kinds of %-directive that would break a gettext format.
HOSTILE = "<b>gras</b>%d%(x)s"
ESCAPED = "&lt;b&gt;gras&lt;/b&gt;%d%(x)s"


@pytest.fixture
def admin_client(client, rt, school):  # type: ignore[no-untyped-def]
    rt.run(accounts.set_password, school, "0750655e", ADMIN_PASSWORD, temporary=False)
    assert sign_in(client, school, "0750655E", ADMIN_PASSWORD).status_code == 303
    return client


def banner(html: str) -> str:
    start = html.index('id="admin-error"')
    return html[start : html.index("</div>", start)]


def test_a_redirect_uri_is_shown_as_text_in_the_banner(admin_client, school):
    page = admin_client.post(
        f"/{school}/admin/clients/new",
        data={
            "csrf_token": csrf_from(admin_client.get(f"/{school}/admin/clients/new").text),
            "name": "Module",
            "redirect_uris": f"http://evil.example/{HOSTILE}",
            "kind": "confidential",
            "id_token_alg": "RS256",
        },
    )
    assert page.status_code == 400
    shown = banner(page.text)
    assert ESCAPED in shown and "<b>" not in shown


def test_an_email_is_shown_as_text_in_the_banner(admin_client, school):
    page = admin_client.post(
        f"/{school}/admin/users/new",
        data={
            "csrf_token": csrf_from(admin_client.get(f"/{school}/admin/users/new").text),
            "first_name": "Léa",
            "last_name": "Martin",
            "birth_date": "2009-03-14",
            "role": "student",
            "email": f"{HOSTILE}@x",
        },
    )
    assert page.status_code == 400
    shown = banner(page.text)
    assert "Adresse électronique invalide" in shown
    assert ESCAPED in shown and "<b>" not in shown


def test_a_login_is_shown_as_text_in_the_banner(admin_client, school):
    # No slash: a login is one segment of the path.
    page = admin_client.post(
        f"/{school}/admin/users/{quote('<b>gras%d%(x)s', safe='')}",
        data={
            "csrf_token": csrf_from(admin_client.get(f"/{school}/admin/users/new").text),
            "first_name": "Léa",
            "last_name": "Martin",
            "birth_date": "2009-03-14",
            "role": "student",
        },
    )
    assert page.status_code == 400
    shown = banner(page.text)
    assert "Utilisateur inconnu" in shown
    assert "&lt;b&gt;gras%d%(x)s" in shown and "<b>" not in shown


def test_say_translates_the_text_and_escapes_the_values():
    from idp.i18n import Message
    from idp.templating import Templates

    say = Templates().environment("en").globals["say"]
    tries = Message("Trop de tentatives. Réessayez dans %(seconds)s secondes.", {"seconds": "<i>"})
    assert say(tries) == "Too many attempts. Try again in &lt;i&gt; seconds."
    # A text without parameters is not a format: a % in it is a character.
    assert say(Message("<b>100 %d</b>")) == "&lt;b&gt;100 %d&lt;/b&gt;"


# -- finding 6: CSV exports --------------------------------------------------------------------


def rows_of(text: str) -> list[list[str]]:
    return list(csv.reader(text.lstrip("\ufeff").splitlines(), delimiter=";"))


def preview(admin_client, school, data: bytes, name: str = "eleves.csv"):  # type: ignore[no-untyped-def]
    return admin_client.post(
        f"/{school}/admin/import",
        data={"csrf_token": csrf_from(admin_client.get(f"/{school}/admin/import").text)},
        files={"file": (name, data, "text/csv")},
    )


def test_the_created_logins_csv_carries_no_formula(admin_client, school):
    data = (
        "Nom;Prénom;Date de naissance;Classe\n"
        '"=HYPERLINK(""https://evil.example"",""x"")";Léa;14/03/2009;@CAP1\n'
        "-Martin;+Hugo;01/02/2010;CAP1\n"
    ).encode()
    page = preview(admin_client, school, data)
    handle = re.search(r'name="handle" value="([^"]+)"', page.text).group(1)
    done = admin_client.post(
        f"/{school}/admin/import/confirm",
        data={"csrf_token": csrf_from(page.text), "handle": handle},
    )
    assert done.status_code == 200
    listing = admin_client.get(f"/{school}/admin/import/created.csv?h={handle}")
    rows = rows_of(listing.text)[1:]
    assert sorted(rows) == sorted(
        [
            ["lea.hyperlinkhttpsev", '\'=HYPERLINK("https://evil.example","x")', "Léa", "'@CAP1"],
            ["hugo.martin", "'-Martin", "'+Hugo", "CAP1"],
        ]
    )


def test_the_audit_csv_carries_no_formula(admin_client, rt, school):
    def record(session):  # type: ignore[no-untyped-def]
        from idp.models import Establishment

        establishment = session.scalar(select(Establishment).where(Establishment.code == school))
        audit.record(
            session,
            establishment,
            audit.EventType.USER_UPDATED,
            at=rt.clock.now(),
            actor="=cmd|' /C calc'!A0",
            subject="+hugo",
        )

    with rt.database.session() as session:
        record(session)
        session.commit()
    rows = rows_of(admin_client.get(f"/{school}/admin/audit.csv").text)
    assert ["'=cmd|' /C calc'!A0", "'+hugo"] in [row[2:4] for row in rows]


def test_a_neutralised_export_imports_back_as_it_was(admin_client, rt, school):
    """A file that went through an export (cells quoted by us) gives back the same names."""
    data = "Nom;Prénom;Date de naissance;Classe\n'-Martin;'+Hugo;01/02/2010;'@CAP1\n".encode()
    page = preview(admin_client, school, data)
    handle = re.search(r'name="handle" value="([^"]+)"', page.text).group(1)
    admin_client.post(
        f"/{school}/admin/import/confirm",
        data={"csrf_token": csrf_from(page.text), "handle": handle},
    )
    with rt.database.session() as session:
        [(first, last)] = session.execute(
            select(User.first_name, User.last_name).where(User.role == "student")
        ).all()
    assert (first, last) == ("+Hugo", "-Martin")


# -- finding 7: files the importer cannot read --------------------------------------------------

UNREADABLE = {
    "oversized quoted cell": (
        ('Nom;Prénom;Date de naissance\r\nMartin;"' + "a" * 200_000 + '";14/03/2009\r\n').encode(),
        "guillemet",
    ),
    "invalid UTF-8 after a BOM": (
        b"\xef\xbb\xbfNom;Pr\xe9nom;Date de naissance\r\nMartin;L\xe9a;14/03/2009\r\n",
        "UTF-8",
    ),
    "empty": (b"", "vide"),
    "binary": (bytes(range(256)) * 4, "pas un fichier texte"),
    "workbook": (b"PK\x03\x04" + bytes(200), "classeur"),
    "wrong delimiter": (b"Nom|Prenom|Date de naissance\r\nMartin|Lea|14/03/2009\r\n", "séparées"),
}


@pytest.mark.parametrize("data,fragment", UNREADABLE.values(), ids=list(UNREADABLE))
def test_an_unreadable_file_is_a_message_and_imports_nothing(
    admin_client, rt, school, data, fragment
):
    from idp.models import PendingImport

    page = preview(admin_client, school, data)
    assert page.status_code == 400
    assert fragment in banner(page.text)
    assert 'name="handle"' not in page.text
    with rt.database.session() as session:
        assert (
            session.scalar(select(func.count()).select_from(User).where(User.role != "admin")) == 0
        )
        assert session.scalar(select(func.count()).select_from(PendingImport)) == 0


# -- finding 12 (part): control characters in names ---------------------------------------------

HIDDEN = {
    "NUL": "Lé\x00a",
    "C0 control": "Lé\x01a",
    "C1 control": "Lé\x85a",
    "right-to-left override": "\u202eLéa",
    "zero-width space": "Lé\u200ba",
}


@pytest.mark.parametrize("first_name", HIDDEN.values(), ids=list(HIDDEN))
def test_the_console_refuses_a_name_with_a_control_character(admin_client, rt, school, first_name):
    page = admin_client.post(
        f"/{school}/admin/users/new",
        data={
            "csrf_token": csrf_from(admin_client.get(f"/{school}/admin/users/new").text),
            "first_name": first_name,
            "last_name": "Martin",
            "birth_date": "2009-03-14",
            "role": "student",
            "groups": "CAP1",
        },
    )
    assert page.status_code == 400
    assert "caractère invisible ou de contrôle" in banner(page.text)
    with rt.database.session() as session:
        assert (
            session.scalar(select(func.count()).select_from(User).where(User.role != "admin")) == 0
        )


def test_the_console_refuses_a_control_character_in_an_edit_and_a_group(admin_client, rt, school):
    from datetime import date

    from idp.accounts.roles import Role

    rt.run(
        accounts.add,
        school,
        first_name="Léa",
        last_name="Martin",
        birth_date=date(2009, 3, 14),
        role=Role.STUDENT,
    )
    csrf = csrf_from(admin_client.get(f"/{school}/admin/users/new").text)
    form = {
        "csrf_token": csrf,
        "first_name": "Léa",
        "last_name": "Martin",
        "birth_date": "2009-03-14",
        "role": "student",
    }
    for changed in ({"last_name": "Mar\x00tin"}, {"groups": "CAP\x1b1"}):
        page = admin_client.post(f"/{school}/admin/users/lea.martin", data={**form, **changed})
        assert page.status_code == 400, changed
        assert "caractère invisible ou de contrôle" in banner(page.text)
    with rt.database.session() as session:
        lea = session.scalar(select(User).where(User.login == "lea.martin"))
        assert (lea.last_name, lea.class_names) == ("Martin", [])


def test_an_import_refuses_a_line_with_a_control_character(admin_client, rt, school):
    data = "Nom;Prénom;Date de naissance;Classe\nMar\u202etin;Léa;14/03/2009;CAP1\nDurand;Hugo;01/02/2010;CAP\x071\n"
    page = preview(admin_client, school, data.encode())
    assert page.status_code == 200
    assert page.text.count("caractère invisible ou de contrôle") == 2
    handle = re.search(r'name="handle" value="([^"]+)"', page.text).group(1)
    done = admin_client.post(
        f"/{school}/admin/import/confirm",
        data={"csrf_token": csrf_from(page.text), "handle": handle, "skip_invalid": "1"},
    )
    assert done.status_code == 200
    with rt.database.session() as session:
        assert (
            session.scalar(select(func.count()).select_from(User).where(User.role != "admin")) == 0
        )


def test_a_control_character_in_a_looked_up_login_is_no_500(admin_client, school):
    """PostgreSQL refuses NUL in text: a login or a search holding one must not reach it."""
    assert admin_client.get(f"/{school}/admin/users/a%00b").status_code == 404
    assert admin_client.get(f"/{school}/admin/users/a%00b/edit").status_code == 404
    assert admin_client.get(f"/{school}/admin/users?q=a%00b").status_code == 200
    assert admin_client.get(f"/{school}/admin/audit?user=a%00b").status_code == 200
