"""The language of the pages: French by default whatever the browser says; a module's
`ui_locales`, then the switch on every page (remembered in a cookie); emails in the language
of the page that caused them."""

from __future__ import annotations

import re
from datetime import date
from html import unescape
from urllib.parse import parse_qs, urlsplit

from helpers import csrf_from, text_of
from idp.accounts.roles import Role
from idp.services import accounts, clients

ENGLISH_TITLE = "<h1>Sign in</h1>"
FRENCH_TITLE = "<h1>Authentification</h1>"


def switch_link(html: str) -> tuple[str, str]:
    found = re.search(r'<a class="language" href="([^"]+)" lang="(\w+)"', html)
    assert found, "no language switch on the page"
    return unescape(found.group(1)), found.group(2)


def test_french_whatever_the_browser_says(client, school):
    page = client.get(f"/{school}/login", headers={"Accept-Language": "en-GB,en;q=0.9"})
    assert FRENCH_TITLE in page.text and '<html lang="fr">' in page.text
    href, lang = switch_link(page.text)
    assert lang == "en" and href == "?lang=en"  # this page, in English


def test_the_switch_is_remembered_by_every_later_page_and_form(client, school):
    english = client.get(f"/{school}/login?next=%2Flp-a&lang=en")
    assert ENGLISH_TITLE in english.text
    # The switch keeps the rest of the address.
    href, lang = switch_link(english.text)
    assert lang == "fr" and parse_qs(urlsplit(href).query) == {"next": ["/lp-a"], "lang": ["fr"]}
    # Without `lang` in the address: the forgotten-password link, and the form's answer.
    assert "Forgot your password?" in english.text
    forgot = client.get(f"/{school}/password/forgot")
    assert '<html lang="en">' in forgot.text
    answer = client.post(
        f"/{school}/login",
        data={"csrf_token": csrf_from(forgot.text), "login": "", "password": ""},
    )
    assert "Enter your login" in answer.text
    # And back to French, remembered too.
    assert FRENCH_TITLE in client.get(f"/{school}/login{href}").text
    assert FRENCH_TITLE in client.get(f"/{school}/login").text


def test_a_modules_ui_locales_comes_first(client, school, rt):
    redirect = "https://sti.cpro.example/cb"
    module = rt.run(clients.add, school, name="C Pro STI", redirect_uris_=[redirect]).client
    client.get(f"/{school}/login?lang=fr")  # the person chose French before
    query = {
        "client_id": module.client_id,
        "redirect_uri": redirect,
        "response_type": "code",
        "scope": "openid",
        "state": "s",
        "nonce": "n",
        "code_challenge": "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
        "code_challenge_method": "S256",
    }
    for asked, expected in (("en-GB fr", "en"), ("de", None), ("fr", "fr")):
        to_login = client.get(f"/{school}/oidc/authorize", params={**query, "ui_locales": asked})
        assert to_login.status_code == 303
        given = parse_qs(urlsplit(to_login.headers["location"]).query).get("lang")
        assert given == ([expected] if expected else None), asked


def test_a_forgotten_password_email_speaks_the_pages_language(client, school, rt, mailbox):
    rt.run(
        accounts.add,
        school,
        first_name="Paul",
        last_name="Durand",
        birth_date=date(1985, 9, 2),
        role=Role.TEACHER,
        email="paul.durand@lp-a.example",
    )
    page = client.get(f"/{school}/password/forgot?lang=en")
    client.post(
        f"/{school}/password/forgot",
        data={"csrf_token": csrf_from(page.text), "login": "paul.durand"},
    )
    text = text_of(mailbox.last())
    assert "Your temporary password" in text
    assert f"/{school}/login?lang=en" in text  # its link opens the page in English too


def test_the_switch_never_leads_to_another_host(client, school):
    for path in ("//evil.example/x", "/%2F%2Fevil.example/x", f"/{school}/nowhere"):
        href, _ = switch_link(client.get(path).text)
        assert href.startswith("?"), href


def test_after_a_failed_sign_in_the_switch_keeps_where_it_goes_next(client, school):
    page = client.get(f"/{school}/login?next=/{school}/students")
    failed = client.post(
        f"/{school}/login",
        data={
            "csrf_token": csrf_from(page.text),
            "login": "nobody.here",
            "password": "x",
            "next": f"/{school}/students",
        },
    )
    href, _ = switch_link(failed.text)
    assert parse_qs(urlsplit(href).query) == {
        "next": [f"/{school}/students"],
        "login_hint": ["nobody.here"],
        "lang": ["en"],
    }
