"""The pages as people find their way through them, in Chromium against a real `idp serve`:
the navigation each role gets, the language switch that follows every link, a teacher's
reset that asks first and is not sent again by a reload, the success that follows a first
password change, and the sign-in page a module sent someone to."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from playwright.sync_api import Page, expect

pytestmark = pytest.mark.browser

SCHOOL = "lp-a"
PASSWORD = "cinq tulipes penchées vers la fenêtre"
REDIRECT = "https://sti.cpro.example/cb"


def person(provider: Any, first: str, last: str, role: str, born: str = "1981-06-12") -> str:
    login = provider.add_user(first, last, born, role=role)
    provider.idp("user", "set-password", SCHOOL, login, "--password-stdin", stdin=PASSWORD)
    return login


def sign_in(page: Page, login: str, password: str = PASSWORD) -> None:
    page.locator("#login").fill(login)
    page.locator("#password").fill(password)
    page.locator("form button[type=submit]").first.click()


def test_a_teacher_finds_the_pupils_page_and_resets_after_confirming(
    page: Page,
    provider: Any,
) -> None:
    teacher = person(provider, "Yves", "Navarre", "teacher")
    pupil = provider.new_student("2009-04-01")
    page.goto(provider.url(f"/{SCHOOL}/login"))
    sign_in(page, teacher)
    expect(page).to_have_url(provider.url(f"/{SCHOOL}"))
    menu = page.get_by_role("navigation", name="Mes pages")
    expect(menu.get_by_role("link")).to_have_text(["Mon compte", "Mes élèves", "Se déconnecter"])
    menu.get_by_role("link", name="Mes élèves").click()
    expect(page.get_by_role("heading", name="Mes élèves", level=1)).to_be_visible()
    page.get_by_label("Rechercher (nom, identifiant, classe)").fill(pupil)
    page.get_by_role("button", name="Rechercher").click()
    page.get_by_role("link", name=re.compile(rf"Réinitialiser… {re.escape(pupil)}")).click()
    expect(page.get_by_text(re.compile(r"Réinitialiser le mot de passe de .* \?"))).to_be_visible()
    page.get_by_role("button", name="Oui, réinitialiser").click()
    done = page.locator("#students-notice")
    expect(done).to_contain_text("est de nouveau sa date de naissance")
    assert parse_qs(urlsplit(page.url).query).get("q") == [pupil]  # back to the same search
    # Reloading the result sends nothing again: a plain GET, the message is gone.
    with page.expect_response(lambda r: urlsplit(r.url).path == f"/{SCHOOL}/students") as got:
        page.reload()
    assert got.value.request.method == "GET"
    expect(done).to_have_count(0)


def test_the_language_switch_follows_every_link_and_form(page: Page, provider: Any) -> None:
    page.goto(provider.url(f"/{SCHOOL}/login"))
    expect(page.locator("html")).to_have_attribute("lang", "fr")
    page.get_by_role("link", name="English").click()
    expect(page.get_by_role("heading", name="Sign in", level=1)).to_be_visible()
    page.get_by_role("link", name="Forgot your password?").click()
    expect(page.locator("html")).to_have_attribute("lang", "en")
    page.goto(provider.url(f"/{SCHOOL}/login"))  # typed again, without anything in it
    page.get_by_role("button", name="SIGN IN").click()
    expect(page.get_by_text("Enter your login")).to_be_visible()
    page.get_by_role("link", name="Français").click()
    expect(page.get_by_role("heading", name="Authentification", level=1)).to_be_visible()


def test_the_sign_in_page_names_the_module_and_leads_back_to_it(
    page: Page, provider: Any
) -> None:
    module = provider.idp(
        "client", "add", SCHOOL, "--name", "Atelier numérique",
        "--redirect-uri", REDIRECT, "--json",
    )  # fmt: skip
    client_id = re.search(r'"client_id":\s*"([^"]+)"', module).group(1)  # type: ignore[union-attr]
    query = (
        f"client_id={client_id}&redirect_uri={REDIRECT}&response_type=code&scope=openid"
        "&state=etat-1&nonce=n&code_challenge=E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        "&code_challenge_method=S256"
    )
    page.route(f"{REDIRECT}*", lambda route: route.fulfill(body="module"))  # not on the net
    page.goto(provider.url(f"/{SCHOOL}/oidc/authorize?{query}"))
    expect(page.get_by_text("pour continuer vers Atelier numérique")).to_be_visible()
    cancel = f"/{SCHOOL}/oidc/authorize/cancel"
    with page.expect_response(lambda r: urlsplit(r.url).path == cancel) as sent:
        page.get_by_role("button", name="Revenir à Atelier numérique sans me connecter").click()
    target = sent.value.headers["location"]
    assert target.startswith(f"{REDIRECT}?"), target
    answer = parse_qs(urlsplit(target).query)
    assert answer["error"] == ["access_denied"] and answer["state"] == ["etat-1"]


def test_a_first_change_refuses_the_old_example_and_empty_fields_are_named(
    page: Page, provider: Any
) -> None:
    pupil = provider.new_student("2009-04-01")
    page.goto(provider.url(f"/{SCHOOL}/login"))
    page.get_by_role("button", name="SE CONNECTER").click()
    login, password = page.locator("#login"), page.locator("#password")
    expect(page.get_by_text("Saisissez votre identifiant")).to_be_visible()
    expect(login).to_have_attribute("aria-invalid", "true")
    expect(login).to_have_attribute("aria-describedby", "login-missing")
    expect(login).to_be_focused()
    login.fill(pupil)
    page.get_by_role("button", name="SE CONNECTER").click()
    expect(page.get_by_text("Saisissez votre mot de passe")).to_be_visible()
    expect(password).to_have_attribute("aria-invalid", "true")
    expect(password).to_be_focused()
    sign_in(page, pupil, "01042009")
    expect(page.get_by_role("heading", name="Choisissez votre mot de passe")).to_be_visible()
    expect(page.get_by_text("mon vélo rouge")).to_have_count(0)  # no example to copy
    example = "mon vélo rouge grimpe la colline"
    page.get_by_label("Nouveau mot de passe", exact=True).fill(example)
    page.get_by_label("Nouveau mot de passe, encore une fois").fill(example)
    page.get_by_role("button", name="Enregistrer").click()
    expect(page.get_by_role("alert")).to_contain_text("donnée en exemple")
