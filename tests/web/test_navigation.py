"""Every signed-in page shows the pages its person's role opens, and nothing more: nobody
types an address to find their tools."""

from __future__ import annotations

import re
from datetime import date
from html import unescape

import pytest

from helpers import sign_in
from idp.accounts.roles import Role
from idp.services import accounts

PASSWORD = "trois chats gris sous la pluie"


def person(rt, school, login, role):  # type: ignore[no-untyped-def]
    first, last = login.split(".")
    rt.run(
        accounts.add,
        school,
        first_name=first.title(),
        last_name=last.title(),
        birth_date=date(1990 if role is not Role.STUDENT else 2009, 3, 14),
        role=role,
    )
    rt.run(accounts.set_password, school, login, PASSWORD, temporary=False)


def links(html: str) -> dict[str, str]:
    nav = re.search(r'<nav class="site-nav"[^>]*>(.*?)</nav>', html, re.S)
    assert nav, "no navigation on a signed-in page"
    return {
        unescape(text).strip(): href
        for href, text in re.findall(r'<a href="([^"]+)"[^>]*>([^<]+)</a>', nav.group(1))
    }


@pytest.mark.parametrize(
    ("role", "login", "expected"),
    [
        (Role.STUDENT, "lea.martin", ["Mon compte", "Se déconnecter"]),
        (Role.TEACHER, "paul.durand", ["Mon compte", "Mes élèves", "Se déconnecter"]),
        (Role.STAFF, "anne.roux", ["Mon compte", "Se déconnecter"]),
    ],
)
def test_each_role_sees_its_pages_from_every_signed_in_page(
    client, rt, school, role, login, expected
):
    person(rt, school, login, role)
    assert sign_in(client, school, login, PASSWORD).status_code == 303
    pages = [f"/{school}", f"/{school}/password/change"]
    if role is Role.TEACHER:
        pages.append(f"/{school}/students")
    for path in pages:
        shown = links(client.get(path).text)
        assert list(shown) == expected, path
        for href in shown.values():  # each one opens
            assert client.get(href).status_code in (200, 303)


def test_the_admin_reaches_the_console_and_the_students(client, rt, school):
    rt.run(accounts.set_password, school, "0750655e", PASSWORD, temporary=False)
    assert sign_in(client, school, "0750655E", PASSWORD).status_code == 303
    for path in (f"/{school}", f"/{school}/admin", f"/{school}/admin/users"):
        shown = links(client.get(path).text)
        assert list(shown) == ["Mon compte", "Mes élèves", "Administration", "Se déconnecter"]
    assert shown["Administration"] == f"/{school}/admin"
    here = client.get(f"/{school}/admin").text
    assert re.search(r'<a href="/[^"]+/admin" aria-current="page">Administration</a>', here)


def test_the_account_page_greets_by_first_name(client, rt, school):
    person(rt, school, "lea.martin", Role.STUDENT)
    sign_in(client, school, "lea.martin", PASSWORD)
    page = client.get(f"/{school}").text
    assert "<h1>Mon compte</h1>" in page and '<p class="greeting">Bonjour, Lea.</p>' in page


def test_pages_without_a_session_show_no_navigation(client, school):
    for path in (f"/{school}/login", f"/{school}/password/forgot"):
        assert 'class="site-nav"' not in client.get(path).text


def test_the_account_page_lists_the_establishments_modules(client, rt, school, other_school):
    from idp.services import clients

    rt.run(clients.add, school, name="Passeport", redirect_uris_=["https://pp.example/cb"])
    rt.run(clients.add, school, name="C Pro STI", redirect_uris_=["https://sti.example:8443/a/cb"])
    rt.run(clients.add, other_school, name="Autre", redirect_uris_=["https://b.example/cb"])
    off = rt.run(clients.add, school, name="Arrêté", redirect_uris_=["https://off.example/cb"])
    rt.run(clients.set_enabled, school, off.client.client_id, False, actor="0750655e")
    person(rt, school, "lea.martin", Role.STUDENT)
    sign_in(client, school, "lea.martin", PASSWORD)
    listed = re.search(
        r'<ul class="modules" id="modules">(.*?)</ul>', client.get(f"/{school}").text, re.S
    )
    assert listed is not None
    assert re.findall(r'<a href="([^"]+)">([^<]+)</a>', listed.group(1)) == [
        ("https://sti.example:8443/", "C Pro STI"),
        ("https://pp.example/", "Passeport"),
    ]
