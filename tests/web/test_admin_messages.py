"""What people type comes back in the console's banners as text: escaped, and never part of
the message that gettext formats (finding 5 of the outside review)."""

from __future__ import annotations

from urllib.parse import quote

import pytest

from helpers import csrf_from, sign_in
from idp.services import accounts

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
