"""The establishment admin console: who may see it, and every action on accounts."""

from __future__ import annotations

import re
from datetime import date
from html import unescape
from urllib.parse import urlencode

import pytest
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from helpers import csrf_from, sign_in
from idp.accounts.roles import Role
from idp.models import AuditEvent, SsoSession, User
from idp.services import accounts, clients
from idp.store.audit import EventType

ADMIN_PASSWORD = "un admin bien gardé ici"
TEACHER_PASSWORD = "la mer est calme ce matin"


@pytest.fixture
def admin_client(client, rt, school):  # type: ignore[no-untyped-def]
    rt.run(accounts.set_password, school, "0750655e", ADMIN_PASSWORD, temporary=False)
    assert sign_in(client, school, "0750655E", ADMIN_PASSWORD).status_code == 303
    return client


@pytest.fixture
def people(rt, school):  # type: ignore[no-untyped-def]
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
        accounts.add,
        school,
        first_name="Paul",
        last_name="Durand",
        birth_date=date(1985, 9, 2),
        role=Role.TEACHER,
        email="paul@lp-a.example",
    )
    rt.run(accounts.set_password, school, "paul.durand", TEACHER_PASSWORD, temporary=False)


def token(client, school):  # type: ignore[no-untyped-def]
    return csrf_from(client.get(f"/{school}/login").text)


def user(rt, login) -> User | None:  # type: ignore[no-untyped-def]
    with rt.database.session() as session:
        return session.scalar(
            select(User).where(User.login == login).options(selectinload(User.groups))
        )


ADMIN_PATHS = [
    "/admin",
    "/admin/users",
    "/admin/users/new",
    "/admin/users/lea.martin",
    "/admin/import",
]


def followed(client, response) -> str:  # type: ignore[no-untyped-def]
    """A change answers with a redirect to the account's page, which says it once."""
    assert response.status_code == 303, response.text[:300]
    page = client.get(response.headers["location"])
    assert page.status_code == 200
    text = unescape(page.text)
    assert 'role="status"' not in client.get(response.headers["location"]).text  # once
    return text


@pytest.mark.parametrize("path", ADMIN_PATHS)
def test_anonymous_is_sent_to_this_establishments_login(client, school, path):
    response = client.get(f"/{school}{path}")
    assert response.status_code == 303
    assert response.headers["location"].startswith(f"/{school}/login?next=%2F{school}%2Fadmin")


@pytest.mark.parametrize("path", ADMIN_PATHS)
def test_a_teacher_gets_403_not_a_redirect(client, school, people, path):
    sign_in(client, school, "paul.durand", TEACHER_PASSWORD)
    response = client.get(f"/{school}{path}")
    assert response.status_code == 403
    assert "Accès refusé" in response.text


def test_the_admin_of_another_establishment_is_a_stranger(client, rt, school, other_school, people):
    rt.run(accounts.set_password, other_school, "0999999f", ADMIN_PASSWORD, temporary=False)
    sign_in(client, other_school, "0999999f", ADMIN_PASSWORD)
    assert client.get(f"/{other_school}/admin").status_code == 200
    response = client.get(f"/{school}/admin/users/lea.martin")
    assert response.status_code == 303 and response.headers["location"].startswith(
        f"/{school}/login"
    )
    # Nor does B's console know A's accounts.
    assert client.get(f"/{other_school}/admin/users/lea.martin").status_code == 404
    forged = client.post(
        f"/{other_school}/admin/users/lea.martin/deactivate",
        data={"csrf_token": token(client, other_school)},
    )
    assert forged.status_code == 404
    assert user(rt, "lea.martin").active is True


def test_after_sign_in_the_admin_lands_back_in_the_console(client, rt, school):
    rt.run(accounts.set_password, school, "0750655e", ADMIN_PASSWORD, temporary=False)
    first = client.get(f"/{school}/admin/users?q=x")
    login_url = first.headers["location"]
    page = client.get(login_url)
    response = client.post(
        f"/{school}/login",
        data={
            "csrf_token": csrf_from(page.text),
            "login": "0750655e",
            "password": ADMIN_PASSWORD,
            "next": f"/{school}/admin/users?q=x",
        },
    )
    assert response.headers["location"] == f"/{school}/admin/users?q=x"


def test_dashboard_counts_and_address(admin_client, school, people):
    page = admin_client.get(f"/{school}/admin")
    assert page.status_code == 200
    assert "http://127.0.0.1:8000/lp-a" in page.text
    assert re.search(r'data-role="student" data-state="initial">1<', page.text)
    assert re.search(r'data-role="teacher" data-state="personal">1<', page.text)
    assert (
        "Connexions aujourd&#39;hui : 1" in page.text
        or "Connexions aujourd'hui : 1" in unescape(page.text)
    )


def test_user_list_search_filters_and_pages(admin_client, rt, school, people):
    for i in range(60):
        rt.run(
            accounts.add,
            school,
            first_name=f"E{i:02d}",
            last_name="Classe",
            birth_date=date(2009, 1, 1),
            role=Role.STUDENT,
            groups=["BTS2"],
        )
    listing = admin_client.get(f"/{school}/admin/users?role=student")
    assert "61 compte(s)" in listing.text and "Page 1 sur 2" in listing.text
    assert "e00.classe" in listing.text
    second = admin_client.get(f"/{school}/admin/users?role=student&page=2")
    assert "e59.classe" in second.text or "lea.martin" in second.text
    by_group = admin_client.get(f"/{school}/admin/users?q=cap1")
    assert "1 compte(s)" in by_group.text and "lea.martin" in by_group.text
    personal = admin_client.get(f"/{school}/admin/users?state=personal")
    assert "paul.durand" in personal.text and "lea.martin" not in personal.text


def test_create_edit_deactivate_reactivate_delete(admin_client, rt, school, people):
    csrf = token(admin_client, school)
    created = admin_client.post(
        f"/{school}/admin/users/new",
        data={
            "csrf_token": csrf,
            "first_name": "Zoé",
            "last_name": "Neuve",
            "birth_date": "2010-05-06",
            "role": "student",
            "email": "",
            "groups": "CAP1, CAP2",
        },
    )
    assert created.headers["location"] == f"/{school}/admin/users/zoe.neuve?created=1"
    shown = admin_client.get(created.headers["location"])
    assert "Identifiant : zoe.neuve" in unescape(shown.text)
    assert user(rt, "zoe.neuve").class_names == ["CAP1", "CAP2"]

    edited = admin_client.post(
        f"/{school}/admin/users/zoe.neuve",
        data={
            "csrf_token": csrf,
            "first_name": "Zoé",
            "last_name": "Neuve",
            "birth_date": "2010-05-07",
            "role": "student",
            "email": "zoe@lp-a.example",
            "groups": "BTS1",
        },
    )
    assert "Modifications enregistrées" in followed(admin_client, edited)
    z = user(rt, "zoe.neuve")
    assert (z.birth_date, z.email, z.class_names) == (
        date(2010, 5, 7),
        "zoe@lp-a.example",
        ["BTS1"],
    )

    # Deactivating asks first; the question changes nothing.
    question = admin_client.get(f"/{school}/admin/users/zoe.neuve/deactivate")
    assert "Désactiver le compte de Zoé Neuve (zoe.neuve) ?" in unescape(question.text)
    assert user(rt, "zoe.neuve").active is True
    deactivated = admin_client.post(
        f"/{school}/admin/users/zoe.neuve/deactivate", data={"csrf_token": csrf}
    )
    assert "Compte désactivé" in followed(admin_client, deactivated)
    assert user(rt, "zoe.neuve").active is False
    reactivated = admin_client.post(
        f"/{school}/admin/users/zoe.neuve/activate", data={"csrf_token": csrf}
    )
    assert "Compte réactivé" in followed(admin_client, reactivated)

    refused = admin_client.post(
        f"/{school}/admin/users/zoe.neuve/delete", data={"csrf_token": csrf, "confirm": "wrong"}
    )
    assert refused.status_code == 400 and user(rt, "zoe.neuve") is not None
    deleted = admin_client.post(
        f"/{school}/admin/users/zoe.neuve/delete", data={"csrf_token": csrf, "confirm": "zoe.neuve"}
    )
    assert deleted.status_code == 303 and user(rt, "zoe.neuve") is None
    with rt.database.session() as session:
        types = [
            e.type
            for e in session.scalars(select(AuditEvent).where(AuditEvent.actor == "0750655e"))
        ]
    assert types == [
        "user.created",
        "user.updated",
        "user.deactivated",
        "user.reactivated",
        "user.deleted",
    ]


def test_bad_input_keeps_the_form(admin_client, rt, school):
    page = admin_client.post(
        f"/{school}/admin/users/new",
        data={
            "csrf_token": token(admin_client, school),
            "first_name": "???",
            "last_name": "X",
            "birth_date": "2010-05-06",
            "role": "student",
        },
    )
    assert page.status_code == 400
    assert "aucune lettre utilisable" in unescape(page.text)
    assert 'value="???"' in page.text


def test_deactivation_ends_sessions(app, admin_client, rt, school, people):
    from starlette.testclient import TestClient

    with TestClient(app, base_url="http://127.0.0.1:8000", follow_redirects=False) as teacher:
        sign_in(teacher, school, "paul.durand", TEACHER_PASSWORD)
        assert teacher.get(f"/{school}").status_code == 200
        admin_client.post(
            f"/{school}/admin/users/paul.durand/deactivate",
            data={"csrf_token": token(admin_client, school)},
        )
        assert teacher.get(f"/{school}").status_code == 303
        assert (
            "Ce compte est désactivé"
            in sign_in(teacher, school, "paul.durand", TEACHER_PASSWORD).text
        )
    paul_id = user(rt, "paul.durand").id
    with rt.database.session() as session:
        assert (
            session.scalar(
                select(SsoSession).where(
                    SsoSession.ended_at.is_(None), SsoSession.user_id == paul_id
                )
            )
            is None
        )


def test_reset_and_unblock(admin_client, client, rt, school, people):
    csrf = token(admin_client, school)
    rt.run(
        accounts.set_password,
        school,
        "lea.martin",
        "des nuages blancs dans le ciel",
        temporary=False,
    )
    question = admin_client.get(f"/{school}/admin/users/lea.martin/reset")
    assert "Réinitialiser le mot de passe de Léa Martin (lea.martin) ?" in unescape(question.text)
    assert user(rt, "lea.martin").password_hash is not None  # asking changes nothing
    page = admin_client.post(f"/{school}/admin/users/lea.martin/reset", data={"csrf_token": csrf})
    assert "de nouveau la date de naissance" in followed(admin_client, page)
    assert user(rt, "lea.martin").password_hash is None
    from idp.store import throttles

    lea_id = user(rt, "lea.martin").id
    with rt.database.session() as session:
        throttles.reserve(
            session,
            throttles.account_scope(lea_id),
            now=rt.clock.now(),
            forget_before=rt.clock.now(),
            by_window=False,
            delay_for=lambda n: None,
        )
    shown = admin_client.get(f"/{school}/admin/users/lea.martin")
    assert 'id="user-failures">1' in shown.text
    admin_client.post(f"/{school}/admin/users/lea.martin/unblock", data={"csrf_token": csrf})
    assert 'id="user-failures">0' in admin_client.get(f"/{school}/admin/users/lea.martin").text


def test_a_temporary_password_by_email_only_for_a_teacher_or_staff(
    admin_client, rt, school, people, mailbox
):
    csrf = token(admin_client, school)
    sent = admin_client.post(
        f"/{school}/admin/users/paul.durand/send-temporary", data={"csrf_token": csrf}
    )
    assert "Un nouveau mot de passe temporaire a été envoyé à p***@lp-a.example" in followed(
        admin_client, sent
    )
    assert mailbox.last()["To"] == "paul@lp-a.example"
    assert user(rt, "paul.durand").temp_password_hash is not None
    refused = admin_client.post(
        f"/{school}/admin/users/lea.martin/send-temporary", data={"csrf_token": csrf}
    )
    assert refused.status_code == 400
    assert "n'est possible que pour un enseignant ou un personnel" in unescape(refused.text)
    assert user(rt, "lea.martin").temp_password_hash is None


def test_the_admin_account_cannot_be_deactivated_or_deleted(admin_client, rt, school):
    csrf = token(admin_client, school)
    assert (
        admin_client.post(
            f"/{school}/admin/users/0750655e/deactivate", data={"csrf_token": csrf}
        ).status_code
        == 400
    )
    assert (
        admin_client.post(
            f"/{school}/admin/users/0750655e/delete",
            data={"csrf_token": csrf, "confirm": "0750655e"},
        ).status_code
        == 400
    )
    assert user(rt, "0750655e").active is True


def test_actions_need_csrf(admin_client, rt, school, people):
    page = admin_client.post(
        f"/{school}/admin/users/lea.martin/deactivate", data={"csrf_token": "forged"}
    )
    assert "La page a expiré" in unescape(page.text)
    assert user(rt, "lea.martin").active is True


def test_import_preview_then_all_or_nothing(admin_client, rt, school, people):
    data = "Nom;Prénom;Date de naissance;Classe\nMartin;Léa;14/03/2009;CAP9\nNouveau;Élève;01/02/2010;CAP1\nX;;01/01/2000;\n".encode(
        "cp1252"
    )
    csrf = token(admin_client, school)
    preview = admin_client.post(
        f"/{school}/admin/import",
        data={"csrf_token": csrf, "role": "student"},
        files={"file": ("eleves.csv", data, "text/csv")},
    )
    assert "1 compte(s) à créer, 1 à mettre à jour, 1 ligne(s) refusée(s)" in unescape(preview.text)
    assert "champ manquant : Prénom" in unescape(preview.text)
    handle = re.search(r'name="handle" value="([^"]+)"', preview.text).group(1)
    refused = admin_client.post(
        f"/{school}/admin/import/confirm", data={"csrf_token": csrf, "handle": handle}
    )
    assert refused.status_code == 400 and user(rt, "eleve.nouveau") is None
    # Refused, the preview stays, with its file: no need to choose it again.
    kept = unescape(refused.text)
    assert "1 compte(s) à créer, 1 à mettre à jour, 1 ligne(s) refusée(s)" in kept
    assert "Des lignes sont refusées : rien n'a été importé" in kept
    assert f'name="handle" value="{handle}"' in refused.text
    done = admin_client.post(
        f"/{school}/admin/import/confirm",
        data={"csrf_token": csrf, "handle": handle, "skip_invalid": "1"},
    )
    assert "1 compte(s) créé(s), 1 mis à jour" in unescape(done.text)
    assert user(rt, "lea.martin").class_names == ["CAP9"]
    listing = admin_client.get(f"/{school}/admin/import/created.csv?h={handle}")
    assert listing.headers["content-disposition"].startswith("attachment")
    assert listing.text.lstrip("\ufeff").splitlines() == [
        "Identifiant;Nom;Prénom;Classe",
        "eleve.nouveau;Nouveau;Élève;CAP1",
    ]


def test_a_siecle_export_previews_then_imports(admin_client, rt, school, people):  # type: ignore[no-untyped-def]
    from siecle_support import eleve, export, structures, zipped

    pupils = [
        eleve("1001", "MARTIN", "Léa", "14/03/2009", ine="123456789AB"),
        eleve("1002", "BERNARD", "Lucas", "05/01/2009"),
        eleve("1003", "PETIT", "Noé", "31/02/2009"),
    ]
    structs = [structures("1001", ("2BAC-MELEC", "D")), structures("1002", ("2BAC-MELEC", "D"))]
    csrf = token(admin_client, school)

    def upload(data: bytes):  # type: ignore[no-untyped-def]
        return admin_client.post(
            f"/{school}/admin/import",
            data={"csrf_token": csrf, "role": "student"},
            files={"file": ("ElevesSansAdresses.zip", zipped(data), "application/zip")},
        )

    refused = unescape(upload(export(eleves="".join(pupils), structs="".join(structs))).text)
    assert "1 élève(s) refusé(s)" in refused and "Date de naissance illisible" in refused
    assert 'action="/lp-a/admin/import/confirm"' not in refused  # nothing to confirm

    preview = upload(export(eleves="".join(pupils[:2]), structs="".join(structs)))
    shown = unescape(preview.text)
    assert (
        "1 compte(s) à créer, 1 à mettre à jour, 0 à désactiver (élèves partis), "
        "0 sans changement, 0 élève(s) refusé(s)"
    ) in shown
    assert "lucas.bernard" in shown and "Classe : CAP1 → 2BAC-MELEC" in shown
    assert user(rt, "lucas.bernard") is None  # a preview writes nothing
    handle = re.search(r'name="handle" value="([^"]+)"', preview.text).group(1)
    done = admin_client.post(
        f"/{school}/admin/import/confirm", data={"csrf_token": csrf, "handle": handle}
    )
    assert "Import terminé : 1 compte(s) créé(s), 1 mis à jour, 0 désactivé(s)" in unescape(
        done.text
    )
    lea = user(rt, "lea.martin")
    assert (lea.eleve_id, lea.class_names) == ("1001", ["2BAC-MELEC"])
    listing = admin_client.get(f"/{school}/admin/import/created.csv?h={handle}")
    assert listing.text.lstrip("\ufeff").splitlines()[1] == "lucas.bernard;BERNARD;Lucas;2BAC-MELEC"
    other = admin_client.post(
        f"/{school}/admin/import",
        data={"csrf_token": csrf, "role": "student"},
        files={"file": ("e.xml", export(uai="0750656F"), "text/xml")},
    )
    assert other.status_code == 400 and "0750656F" in unescape(other.text)


def test_the_template_is_a_file_the_import_reads(admin_client, school):
    from idp.accounts.imports import parse

    template = admin_client.get(f"/{school}/admin/import/modele.csv")
    assert template.status_code == 200
    assert template.headers["content-disposition"] == 'attachment; filename="modele-import.csv"'
    assert (
        'href="/lp-a/admin/import/modele.csv"' in admin_client.get(f"/{school}/admin/import").text
    )
    parsed = parse(template.content, default_role=Role.STUDENT, today=date(2026, 9, 1))
    assert not parsed.refused and [(r.first_name, r.groups) for r in parsed.rows] == [
        ("Camille", ("2MRC-A",))
    ]


def test_the_preview_points_out_logins_cut_to_twenty_characters(admin_client, school, people):
    data = (
        "Nom;Prénom;Date de naissance\nGarcía López;José María;02/03/2009\nPetit;Max;02/03/2009\n"
    ).encode()
    preview = admin_client.post(
        f"/{school}/admin/import",
        data={"csrf_token": token(admin_client, school), "role": "student"},
        files={"file": ("e.csv", data, "text/csv")},
    )
    shown = unescape(preview.text)
    assert "1 identifiant(s) seront raccourcis à 20 caractères" in shown
    section = shown.split('id="shortened"')[1].split("</div>")[0]
    assert "José María García López" in section and "jose-maria.garcia-lo" in section
    assert "max.petit" not in section


def test_an_import_handle_is_this_establishments(admin_client, client, rt, school, other_school):
    data = b"Nom;Prenom;Date de naissance\nNouveau;Eleve;01/02/2010\n"
    csrf = token(admin_client, school)
    preview = admin_client.post(
        f"/{school}/admin/import",
        data={"csrf_token": csrf, "role": "student"},
        files={"file": ("e.csv", data, "text/csv")},
    )
    handle = re.search(r'name="handle" value="([^"]+)"', preview.text).group(1)
    admin_client.cookies.clear()
    rt.run(accounts.set_password, other_school, "0999999f", ADMIN_PASSWORD, temporary=False)
    sign_in(admin_client, other_school, "0999999f", ADMIN_PASSWORD)
    stolen = admin_client.post(
        f"/{other_school}/admin/import/confirm",
        data={"csrf_token": token(admin_client, other_school), "handle": handle},
    )
    assert stolen.status_code == 400 and "a expiré" in unescape(stolen.text)


# -- client applications, sessions, audit -----------------------------------------------------


def test_register_a_module_and_read_its_secret_once(admin_client, rt, school):
    from idp.security.tokens import secret_matches

    csrf = token(admin_client, school)
    page = admin_client.post(
        f"/{school}/admin/clients/new",
        data={
            "csrf_token": csrf,
            "name": "C Pro STI",
            "redirect_uris": "https://sti.cpro.example/cb\r\nhttp://127.0.0.1:8001/cb",
            "post_logout_redirect_uris": "",
            "backchannel_logout_uri": "https://sti.cpro.example/bc",
            "kind": "confidential",
            "id_token_alg": "ES256",
        },
    )
    assert page.status_code == 303  # a reload cannot register the module twice
    page = admin_client.get(page.headers["location"])
    assert page.status_code == 200
    secret = re.search(r'<code id="client-secret">([^<]+)</code>', page.text).group(1)
    client_id = re.search(r'<code id="client-id">([^<]+)</code>', page.text).group(1)
    assert "http://127.0.0.1:8000/lp-a/.well-known/openid-configuration" in page.text
    from idp.models import Client

    with rt.database.session() as session:
        client = session.scalar(select(Client).where(Client.client_id == client_id))
        assert secret_matches(client.secret_hash, secret)
        assert client.redirect_uris == ["https://sti.cpro.example/cb", "http://127.0.0.1:8001/cb"]
        assert client.id_token_signed_response_alg == "ES256"
    # Shown once: the client's page never shows it again.
    assert secret not in admin_client.get(f"/{school}/admin/clients/{client_id}").text
    rotated = admin_client.post(
        f"/{school}/admin/clients/{client_id}/rotate-secret", data={"csrf_token": csrf}
    )
    assert rotated.status_code == 303
    rotated = admin_client.get(rotated.headers["location"])
    assert (
        "l&#39;ancien ne fonctionne plus" in rotated.text
        or "l'ancien ne fonctionne plus" in rotated.text
    )
    new_secret = re.search(r'<code id="client-secret">([^<]+)</code>', rotated.text).group(1)
    with rt.database.session() as session:
        stored = session.scalar(select(Client.secret_hash).where(Client.client_id == client_id))
    assert secret_matches(stored, new_secret) and not secret_matches(stored, secret)
    assert client_id in admin_client.get(f"/{school}/admin/clients").text
    admin_client.post(f"/{school}/admin/clients/{client_id}/disable", data={"csrf_token": csrf})
    with rt.database.session() as session:
        assert session.scalar(select(Client.enabled).where(Client.client_id == client_id)) is False
    admin_client.post(
        f"/{school}/admin/clients/{client_id}/delete",
        data={"csrf_token": csrf, "confirm": "delete"},
    )
    with rt.database.session() as session:
        assert session.scalar(select(Client).where(Client.client_id == client_id)) is None


def test_client_uris_are_validated(admin_client, school):
    page = admin_client.post(
        f"/{school}/admin/clients/new",
        data={
            "csrf_token": token(admin_client, school),
            "name": "M",
            "redirect_uris": "http://evil.example/cb",
            "kind": "confidential",
            "id_token_alg": "RS256",
        },
    )
    assert page.status_code == 400
    assert "Adresse de redirection refusée" in unescape(page.text)


def test_another_establishments_client_is_unknown_here(admin_client, rt, school, other_school):
    created = rt.run(clients.add, other_school, name="B", redirect_uris_=["https://b.example/cb"])
    assert (
        admin_client.get(f"/{school}/admin/clients/{created.client.client_id}").status_code == 404
    )
    rotated = admin_client.post(
        f"/{school}/admin/clients/{created.client.client_id}/rotate-secret",
        data={"csrf_token": token(admin_client, school)},
    )
    assert rotated.status_code == 404


def test_sessions_page_ends_a_users_sessions(app, admin_client, rt, school, people):
    from starlette.testclient import TestClient

    with TestClient(app, base_url="http://127.0.0.1:8000", follow_redirects=False) as teacher:
        sign_in(teacher, school, "paul.durand", TEACHER_PASSWORD)
        listing = admin_client.get(f"/{school}/admin/sessions")
        assert "paul.durand" in listing.text
        done = admin_client.post(
            f"/{school}/admin/sessions/end",
            data={"csrf_token": token(admin_client, school), "login": "paul.durand"},
        )
        assert "1 session(s) fermée(s)" in followed(admin_client, done)
        assert teacher.get(f"/{school}").status_code == 303


def test_audit_log_filters_and_csv(admin_client, client, rt, school, people):
    sign_in(client, school, "paul.durand", "wrong password")
    page = admin_client.get(f"/{school}/admin/audit?user=paul.durand&type=login")
    table = unescape(page.text.split('id="audit"')[1])
    # In words a school reads, never as stored.
    assert "Connexion refusée" in table and "mot de passe non valide" in table
    assert "login.failure" not in table and "reason=" not in table
    assert "Compte créé" not in table
    export = admin_client.get(f"/{school}/admin/audit.csv?type=login.failure")
    assert export.headers["content-disposition"] == 'attachment; filename="journal.csv"'
    lines = export.text.lstrip("\ufeff").splitlines()
    assert lines[0] == "date;type;acteur;objet;adresse IP;détails"
    # The export keeps the stored values, for tools.
    assert any(";login.failure;;paul.durand;" in line for line in lines[1:])
    assert "wrong password" not in export.text


def test_every_event_type_has_words_and_a_kind_in_the_filter(admin_client, school):
    from idp.web.admin import journal

    assert set(journal.LABELS) == set(EventType)
    kinds = [prefix for prefix, _ in journal.KINDS]
    assert all(any(t.value.startswith(k) for k in kinds) for t in EventType)
    page = admin_client.get(f"/{school}/admin/audit?lang=en")
    listed = re.search(r'<select id="type" name="type">(.*?)</select>', page.text, re.S)
    assert listed is not None
    offered = re.findall(r'<option value="([^"]*)"[^>]*>([^<]*)</option>', listed.group(1))
    assert [v for v, _ in offered] == ["", *kinds]
    assert ("login", "Sign-ins") in offered  # in the page's language


FORM = {"content-type": "application/x-www-form-urlencoded"}


def test_a_module_may_be_limited_to_some_scopes(admin_client, rt, school, people):
    from idp.models import Client

    csrf = token(admin_client, school)
    base = [
        ("csrf_token", csrf),
        ("redirect_uris", "https://m.example/cb"),
        ("kind", "confidential"),
        ("id_token_alg", "RS256"),
    ]
    some = [
        *base,
        ("name", "Sans courriel"),
        ("scopes", "openid"),
        ("scopes", "profile"),
        ("scopes", "cpro"),
    ]
    created = admin_client.post(
        f"/{school}/admin/clients/new", content=urlencode(some), headers=FORM
    )
    page = admin_client.get(created.headers["location"])
    assert '<dd id="client-scopes">openid profile cpro</dd>' in page.text
    with rt.database.session() as session:
        client = session.scalar(select(Client).where(Client.name == "Sans courriel"))
        assert client.allowed_scopes == ["openid", "profile", "cpro"]
        assert client.get_allowed_scope("openid email profile offline_access") == "openid profile"
    every = [
        *base,
        ("name", "Tout"),
        *[("scopes", s) for s in ("openid", "profile", "email", "cpro", "offline_access")],
    ]
    assert (
        admin_client.post(
            f"/{school}/admin/clients/new", content=urlencode(every), headers=FORM
        ).status_code
        == 303
    )
    with rt.database.session() as session:
        assert session.scalar(select(Client.allowed_scopes).where(Client.name == "Tout")) is None


def test_console_inputs_that_used_to_answer_500(admin_client, school, people):
    for path in (
        "/admin/users?page=99999999999999999999",
        "/admin/audit?page=99999999999999999999",
        "/admin/audit?to=9999-12-31",
        "/admin/audit.csv?to=9999-12-31&from=0001-01-01",
    ):
        assert admin_client.get(f"/{school}{path}").status_code == 200, path
    ended = admin_client.post(
        f"/{school}/admin/sessions/end",
        data={"csrf_token": token(admin_client, school), "session": "9" * 30},
    )
    assert ended.status_code == 200 and "Session inconnue" in ended.text
