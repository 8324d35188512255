"""The « Mot de passe oublié ? » path in Chromium: a teacher asks, sees where the temporary
password went (masked), finds it in the mail and signs in with it."""

from __future__ import annotations

import email
import re
from email.policy import default as default_policy

import pytest
from playwright.sync_api import Page, expect

pytestmark = pytest.mark.browser

SCHOOL = "lp-a"
TEMPORARY = re.compile(r"^[2-9A-HJ-NP-Za-km-z]{4}(-[2-9A-HJ-NP-Za-km-z]{4}){2}$")


def test_a_teacher_recovers_a_password(page: Page, provider) -> None:  # type: ignore[no-untyped-def]
    login = (
        provider.idp(
            "user",
            "add",
            SCHOOL,
            "--first-name",
            "Paul",
            "--last-name",
            "Courriel",
            "--birth-date",
            "1985-09-02",
            "--role",
            "teacher",
            "--email",
            "paul.courriel@lp-a.example",
        )
        .strip()
        .splitlines()[-1]
    )
    page.goto(provider.url(f"/{SCHOOL}/login"))
    page.get_by_role("link", name="Mot de passe oublié ?").click()
    expect(page.get_by_role("heading", name="Mot de passe oublié")).to_be_visible()
    page.get_by_label("Identifiant").fill(login)
    page.get_by_role("button", name="Recevoir un mot de passe").click()
    expect(page.locator("#forgot-sent")).to_have_text(
        "Un nouveau mot de passe temporaire a été envoyé à p***@lp-a.example"
    )

    messages = [
        email.message_from_bytes(path.read_bytes(), policy=default_policy)
        for path in (provider.directory / "mail").glob("*.eml")
    ]
    [message] = [m for m in messages if m["To"] == "paul.courriel@lp-a.example"]
    text = message.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    [temporary] = [line for line in text.splitlines() if TEMPORARY.match(line)]

    page.get_by_role("link", name="SE CONNECTER").click()
    page.get_by_label("Identifiant").fill(login)
    assert "tapez-le avec ou sans eux" in text  # the email says the hyphens do not matter
    page.locator("#password").fill(temporary.swapcase())  # mistyped: capitals count
    page.get_by_role("button", name="SE CONNECTER").click()
    expect(page.get_by_text("Authentification incorrecte : mot de passe non valide.")).to_be_visible()
    # The hint under it speaks of the temporary password, not of the birth date.
    expect(page.get_by_text("saisissez celui du dernier message reçu")).to_be_visible()
    expect(page.locator("#password")).to_have_attribute("aria-invalid", "true")
    # Typed without its hyphens, with stray spaces: accepted.
    page.locator("#password").fill(f" {temporary.replace('-', '')} ")
    page.get_by_role("button", name="SE CONNECTER").click()
    expect(page.get_by_role("heading", name="Choisissez votre mot de passe")).to_be_visible()
    page.get_by_label("Nouveau mot de passe", exact=True).fill("les feuilles tombent en automne")
    page.get_by_label("Nouveau mot de passe, encore une fois").fill(
        "les feuilles tombent en automne"
    )
    page.get_by_role("button", name="Enregistrer").click()
    expect(
        page.get_by_text(
            "Votre nouveau mot de passe est enregistré : c'est désormais lui qu'il faut "
            "utiliser. Saisissez-le pour vous connecter."
        )
    ).to_be_visible()
