"""The rentrée in Chromium against a real `idp serve`: the admin imports SIECLE's export
through the console's preview, then a teacher finds the class, sees each pupil's state,
prints the class's sign-in slips and resets two pupils after confirming. Then the admin
chooses random initial passwords, a teacher's reset shows a pupil's slip once, and the
pupil signs in with it."""

from __future__ import annotations

import re
import zipfile
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, expect
from siecle_support import eleve, export, structures

from helpers import UAI_A

pytestmark = pytest.mark.browser

SCHOOL = "lp-a"
PASSWORD = "cinq tulipes penchées vers la fenêtre"


def sign_in(page: Page, login: str, password: str = PASSWORD) -> None:
    page.locator("#login").fill(login)
    page.locator("#password").fill(password)
    page.locator("form button[type=submit]").first.click()


def test_the_rentree_from_siecle_to_the_class_slips(
    page: Page, provider: Any, tmp_path: Path
) -> None:
    admin = UAI_A.lower()
    provider.idp("user", "set-password", SCHOOL, admin, "--password-stdin", stdin=PASSWORD)
    teacher = provider.add_user("Yves", "Navarre", "1981-06-12", role="teacher")
    provider.idp("user", "set-password", SCHOOL, teacher, "--password-stdin", stdin=PASSWORD)
    archive = tmp_path / "ElevesSansAdresses.zip"
    pupils = [
        eleve("2001", "GARNIER", "Inès", "11/02/2009"),
        eleve("2002", "FAURE", "Mathéo", "23/09/2008"),
        eleve("2003", "ROCHE", "Jade", "04/04/2009"),
    ]
    structs = [structures(i, ("2MRC-A", "D")) for i in ("2001", "2002", "2003")]
    with zipfile.ZipFile(archive, "w") as out:
        out.writestr(
            "ElevesSansAdresses.xml", export(eleves="".join(pupils), structs="".join(structs))
        )

    # The admin imports the export: a preview first, then the import.
    page.goto(provider.url(f"/{SCHOOL}/admin/import"))
    sign_in(page, admin)
    page.get_by_label("Fichier (SIECLE ou CSV)").set_input_files(archive)
    page.get_by_role("button", name="Voir l'aperçu").click()
    expect(page.locator("#import-summary")).to_contain_text("3 compte(s) à créer")
    expect(page.locator("#created tbody tr")).to_have_count(3)
    expect(page.locator("#created")).to_contain_text("ines.garnier")
    page.get_by_role("button", name="Importer").click()
    expect(page.locator("#import-result")).to_contain_text("3 compte(s) créé(s)")
    page.context.clear_cookies()

    # A teacher finds the class, with each pupil never signed in yet.
    page.goto(provider.url(f"/{SCHOOL}/students"))
    sign_in(page, teacher)
    page.goto(provider.url(f"/{SCHOOL}/students"))
    page.get_by_role("link", name=re.compile(r"^2MRC-A")).click()
    expect(page.get_by_role("heading", name="Classe 2MRC-A")).to_be_visible()
    rows = page.locator("table tbody tr")
    expect(rows).to_have_count(3)
    expect(rows.first).to_contain_text("Jamais connecté (date de naissance)")

    # The class's slips: one per pupil, each with its login and QR code, no birth date.
    page.get_by_role("link", name="Fiches de connexion de la classe").click()
    slips = page.locator("#slips .slip")
    expect(slips).to_have_count(3)
    expect(slips.first.locator("svg")).to_have_count(1)
    expect(page.locator("#slips")).to_contain_text("Identifiant : ines.garnier")
    assert "11022009" not in page.content()
    with page.expect_download() as info:
        page.get_by_role("link", name="Télécharger en PDF").click()
    assert info.value.suggested_filename == "fiches-connexion.pdf"
    saved = tmp_path / "fiches.pdf"
    info.value.save_as(saved)
    assert saved.read_bytes().startswith(b"%PDF-")
    # Printed, only the slips are left.
    page.emulate_media(media="print")
    expect(page.get_by_role("heading", name="Fiches de connexion")).to_be_hidden()
    expect(slips.first).to_be_visible()
    page.emulate_media(media="screen")

    # Two pupils chosen, a confirmation naming them, then the reset.
    page.get_by_role("link", name="Revenir à la liste").click()
    page.get_by_label("Choisir Inès GARNIER").check()
    page.get_by_label("Choisir Jade ROCHE").check()
    page.get_by_role("button", name="Réinitialiser la sélection…").click()
    expect(page.get_by_text("Réinitialiser les mots de passe de ces 2 élèves ?")).to_be_visible()
    expect(page.locator("#reset-list li")).to_have_count(2)
    page.get_by_role("button", name="Oui, réinitialiser").click()
    expect(page.locator("#students-notice")).to_contain_text("2 mots de passe")
    expect(page.get_by_role("heading", name="Classe 2MRC-A")).to_be_visible()


def test_random_initial_passwords_from_the_choice_to_the_first_sign_in(
    page: Page, provider: Any
) -> None:
    admin = UAI_A.lower()
    provider.idp("user", "set-password", SCHOOL, admin, "--password-stdin", stdin=PASSWORD)
    teacher = provider.add_user("Yves", "Navarre", "1981-06-12", role="teacher")
    provider.idp("user", "set-password", SCHOOL, teacher, "--password-stdin", stdin=PASSWORD)
    added = provider.idp("user", "add", SCHOOL, "--first-name", "Lina", "--last-name", "Perrin",
                         "--birth-date", "2009-02-11", "--role", "student", "--group", "2CAP-B")  # fmt: skip
    pupil = added.strip().splitlines()[-1]

    # The admin chooses random initial passwords.
    page.goto(provider.url(f"/{SCHOOL}/admin/passwords"))
    sign_in(page, admin)
    expect(page.get_by_role("radio", name=re.compile("^La date de naissance"))).to_be_checked()
    page.get_by_role("radio", name=re.compile("^Un mot de passe initial aléatoire")).check()
    page.get_by_role("button", name="Enregistrer").click()
    expect(page.locator("#admin-notice")).to_contain_text("mot de passe initial aléatoire")
    page.context.clear_cookies()

    # A teacher resets the pupil: the slip, with its password, is shown this once.
    page.goto(provider.url(f"/{SCHOOL}/students"))
    sign_in(page, teacher)
    page.goto(provider.url(f"/{SCHOOL}/students?classe=2CAP-B"))
    page.get_by_label("Choisir Lina Perrin").check()
    page.get_by_role("button", name="Réinitialiser la sélection…").click()
    expect(page.get_by_text("affichée une seule fois")).to_be_visible()
    page.get_by_role("button", name="Oui, réinitialiser").click()
    expect(page.locator("#handed-out")).to_contain_text("ne seront plus jamais affichés")
    password = page.locator("#slips .slip-password").inner_text()
    assert re.fullmatch(r"[2-9A-Za-z]{4}-[2-9A-Za-z]{4}-[2-9A-Za-z]{4}", password)
    page.emulate_media(media="print")
    expect(page.locator("#slips .slip-password")).to_be_visible()
    page.emulate_media(media="screen")
    page.context.clear_cookies()

    # The birth date no longer opens the account, and the page says what to type instead;
    # the slip's password, typed without its hyphens, leads to choosing one's own.
    page.goto(provider.url(f"/{SCHOOL}/login"))
    sign_in(page, pupil, "11022009")
    expect(page.locator("#initial-hint")).to_contain_text("fiche remise par votre établissement")
    sign_in(page, pupil, password.replace("-", ""))
    expect(page.get_by_role("heading", name="Choisissez votre mot de passe")).to_be_visible()
