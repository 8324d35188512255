"""The admin console in a real Chromium against a real `idp serve` (README.md, "The
establishment's console"): what a school secretary sees and does, by visible text, labels
and roles.

The admin account is shared by the whole module: the module fixture `admin` makes its first
sign-in once (the provisional password from the establishment-creation email, the forced
change, the sign-in with the chosen password); the other tests open the console in a browser
profile of their own that starts with the session opened there.
"""

from __future__ import annotations

import email
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from email.policy import default as default_policy
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import (
    Browser,
    ConsoleMessage,
    Locator,
    Page,
    Request,
    Response,
    StorageState,
    expect,
)

from helpers import UAI_A

pytestmark = pytest.mark.browser

SCHOOL = "lp-a"
SCHOOL_NAME = "Lycée professionnel A"
SECRETARIAT = "secretariat@lp-a.example"
ADMIN_LOGIN = UAI_A.lower()  # « 0750655e »
ADMIN_PASSPHRASE = "le secrétariat ouvre à huit heures"
PROVISIONAL = re.compile(r"^[A-Za-z0-9]{4}-[A-Za-z0-9]{4}-[A-Za-z0-9]{4}$")
BAD_PASSWORD = "Authentification incorrecte : mot de passe non valide."
CHANGED = (
    "Votre nouveau mot de passe est enregistré : c'est désormais lui qu'il faut utiliser. "
    "Saisissez-le pour vous connecter."
)
DESKTOP = {"width": 1366, "height": 768}  # the most common school-office screen

# Runs before any page script (CSP does not apply to it): reports what the browser blocked
# to the test, across navigations.
REPORT_CSP_VIOLATIONS = """
document.addEventListener("securitypolicyviolation", function (e) {
  window.__reportCspViolation(
    e.violatedDirective + " " + (e.blockedURI || "inline") + " on " + location.pathname
  );
});
"""


# -- helpers ---------------------------------------------------------------------------------


def path_of(url: str) -> str:
    return urlsplit(url).path


@dataclass
class Watch:
    """Console errors, page errors, failed requests, HTTP errors and CSP violations seen by
    one page; `allowed` holds the (status, path) pairs a test expects (a 403 page)."""

    allowed: set[tuple[int, str]] = field(default_factory=set)
    problems: list[str] = field(default_factory=list)
    violations: list[str] = field(default_factory=list)
    visited: list[str] = field(default_factory=list)

    def expected_error(self, url: str) -> bool:
        return any(path == path_of(url) for _, path in self.allowed)

    def assert_clean(self, page: Page) -> None:
        page.wait_for_load_state("load")
        assert self.problems == [], f"on {self.visited}"
        assert self.violations == [], f"on {self.visited}"


def watch(page: Page, allowed: set[tuple[int, str]] | None = None) -> Watch:
    seen = Watch(allowed=set(allowed or ()))

    def on_console(message: ConsoleMessage) -> None:
        if message.type != "error":
            return
        # Chromium logs « Failed to load resource: … 403 » for a page the test expects.
        url = message.location.get("url", "")
        if "Failed to load resource" in message.text and seen.expected_error(url):
            return
        seen.problems.append(f"console {message.type}: {message.text} ({url})")

    def on_response(response: Response) -> None:
        if response.request.resource_type == "document":
            seen.visited.append(path_of(response.url))
        if response.status >= 400 and (response.status, path_of(response.url)) not in seen.allowed:
            seen.problems.append(f"HTTP {response.status}: {response.url}")

    def on_failed(request: Request) -> None:
        # « Aborted » is the browser's own doing, not a failure: a link that downloads a file
        # ends its navigation so, and so does the favicon of a page left before it loaded.
        # (What CSP blocks fails as ERR_BLOCKED_BY_CSP, and is reported as a violation.)
        if request.failure != "net::ERR_ABORTED":
            seen.problems.append(f"request failed: {request.url} ({request.failure})")

    page.on("console", on_console)
    page.on("pageerror", lambda exc: seen.problems.append(f"page error: {exc}"))
    page.on("response", on_response)
    page.on("requestfailed", on_failed)
    page.expose_function("__reportCspViolation", lambda text: seen.violations.append(text))
    page.add_init_script(REPORT_CSP_VIOLATIONS)
    return seen


def admin_url(provider, path: str = "") -> str:  # type: ignore[no-untyped-def]
    return provider.url(f"/{SCHOOL}/admin{path}")


def sign_in(page: Page, login: str, password: str) -> None:
    page.get_by_label("Identifiant").fill(login)
    # exact: « Mot de passe en clair » is a label too.
    page.get_by_label("Mot de passe", exact=True).fill(password)
    page.get_by_role("button", name="SE CONNECTER").click()


def choose_password(page: Page, password: str) -> None:
    expect(page.get_by_role("heading", name="Choisissez votre mot de passe")).to_be_visible()
    page.get_by_label("Nouveau mot de passe", exact=True).fill(password)
    page.get_by_label("Nouveau mot de passe, encore une fois").fill(password)
    page.get_by_role("button", name="Enregistrer").click()
    expect(page.get_by_role("status")).to_have_text(CHANGED)


def nav(page: Page, name: str) -> None:
    """A link of the console's menu, by its words."""
    page.get_by_role("navigation", name="Administration").get_by_role(
        "link", name=name, exact=True
    ).click()


def dashboard_heading(page: Page) -> Locator:
    return page.get_by_role("heading", name="Tableau de bord", level=1)


def provisional_password(provider) -> str:  # type: ignore[no-untyped-def]
    """The admin password from the establishment-creation email: alone on its line."""
    messages = [
        email.message_from_bytes(path.read_bytes(), policy=default_policy)
        for path in sorted((provider.directory / "mail").glob("*.eml"))
    ]
    [message] = [m for m in messages if m["To"] == SECRETARIAT]
    text = message.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    [password] = [line.strip() for line in text.splitlines() if PROVISIONAL.match(line.strip())]
    return password


# -- fixtures --------------------------------------------------------------------------------


@dataclass(frozen=True)
class AdminAccount:
    password: str
    signed_in: StorageState  # the cookies of a browser signed in as the admin


@pytest.fixture(scope="module")
def admin(browser: Browser, provider) -> Iterator[AdminAccount]:  # type: ignore[no-untyped-def]
    """The admin's first sign-in, done once for the module (scenario 1).

    Every step is asserted here, by what the secretary sees: a failure shows as an error in
    the setup of the first test that needs the admin.
    """
    provisional = provisional_password(provider)
    context = browser.new_context(locale="fr-FR")
    context.set_default_timeout(10_000)
    try:
        page = context.new_page()
        seen = watch(page)
        page.goto(admin_url(provider))

        # Not signed in: the console leads to the establishment's login page, and back.
        expect(page).to_have_url(provider.url(f"/{SCHOOL}/login?next=%2F{SCHOOL}%2Fadmin"))
        expect(page.get_by_role("heading", name="Authentification", level=1)).to_be_visible()
        expect(page.get_by_text(SCHOOL_NAME, exact=True)).to_be_visible()

        # The UAI as printed on the school's papers (upper case) is the admin's login.
        sign_in(page, UAI_A, provisional)
        expect(page).to_have_url(provider.url(f"/{SCHOOL}/password/change"))
        expect(page.get_by_text(f"Bienvenue, {ADMIN_LOGIN}.")).to_be_visible()
        expect(page.get_by_label("Mot de passe actuel")).to_have_count(0)
        choose_password(page, ADMIN_PASSPHRASE)
        expect(page.get_by_label("Identifiant")).to_have_value(ADMIN_LOGIN)

        # The provisional password no longer works; the chosen one does, and the secretary
        # is back where she was going: the console's dashboard.
        sign_in(page, UAI_A, provisional)
        expect(page.get_by_text(BAD_PASSWORD, exact=True)).to_be_visible()
        sign_in(page, UAI_A, ADMIN_PASSPHRASE)
        expect(page).to_have_url(admin_url(provider))
        expect(dashboard_heading(page)).to_be_visible()
        seen.assert_clean(page)
        signed_in = context.storage_state()
    finally:
        context.close()
    yield AdminAccount(ADMIN_PASSPHRASE, signed_in)


@dataclass
class Console:
    page: Page
    seen: Watch


@pytest.fixture
def console(browser: Browser, provider, admin: AdminAccount) -> Iterator[Console]:  # type: ignore[no-untyped-def]
    """A fresh browser profile, at a desktop size, signed in as the admin: a page on the
    dashboard, watched for errors."""
    context = browser.new_context(locale="fr-FR", viewport=DESKTOP, storage_state=admin.signed_in)
    context.set_default_timeout(10_000)
    try:
        page = context.new_page()
        seen = watch(page)
        page.goto(admin_url(provider))
        expect(page).to_have_url(admin_url(provider))
        expect(dashboard_heading(page)).to_be_visible()
        yield Console(page, seen)
    finally:
        context.close()


# -- 1. The admin's first sign-in ------------------------------------------------------------


def test_admin_first_sign_in_leads_to_the_dashboard(
    admin: AdminAccount,
    page: Page,
    provider,  # type: ignore[no-untyped-def]
) -> None:
    # The first sign-in itself (provisional password, forced change) is the module fixture.
    assert admin.password == ADMIN_PASSPHRASE
    seen = watch(page)
    page.goto(admin_url(provider))
    sign_in(page, UAI_A, admin.password)

    expect(page).to_have_url(admin_url(provider))
    expect(page).to_have_title(f"Tableau de bord — Administration — {SCHOOL_NAME}")
    expect(dashboard_heading(page)).to_be_visible()
    expect(page.get_by_text(SCHOOL_NAME, exact=True)).to_be_visible()
    expect(page.get_by_text(ADMIN_LOGIN, exact=True)).to_be_visible()  # who is signed in
    # The address to give to students and staff.
    expect(page.get_by_text("Adresse à donner aux élèves et aux personnels :")).to_be_visible()
    expect(page.locator("#login-url")).to_have_text(provider.url(f"/{SCHOOL}"))
    expect(page.get_by_role("columnheader", name="Mot de passe initial")).to_be_visible()
    expect(page.get_by_role("rowheader", name="Élèves")).to_be_visible()
    seen.assert_clean(page)


# -- 2. Creating an account ------------------------------------------------------------------


def test_admin_creates_a_student_and_finds_it_by_class(console: Console) -> None:
    page = console.page
    nav(page, "Comptes")
    page.get_by_role("link", name="Créer un compte").click()
    expect(page.get_by_role("heading", name="Créer un compte", level=1)).to_be_visible()
    page.get_by_label("Prénom").fill("Zoé")
    page.get_by_label("Nom", exact=True).fill("Lefèvre-Dupont")
    page.get_by_label("Date de naissance").fill("2008-09-15")
    page.get_by_label("Rôle").select_option(label="Élève")
    page.get_by_label("Classes ou groupes").fill("CAP-EPC-2, Atelier cuisine")
    page.get_by_role("button", name="Enregistrer").click()

    login = "zoe.lefevre-dupont"
    expect(page.get_by_role("status")).to_have_text(
        f"Compte créé. Identifiant : {login} ; mot de passe initial : la date de naissance."
    )
    expect(page.get_by_role("heading", name="Zoé Lefèvre-Dupont", level=1)).to_be_visible()
    expect(page.locator("#user-login")).to_have_text(login)
    expect(page.get_by_text("15/09/2008", exact=True)).to_be_visible()
    expect(page.get_by_text("Atelier cuisine, CAP-EPC-2", exact=True)).to_be_visible()  # sorted

    nav(page, "Comptes")
    page.get_by_label("Rechercher (nom, identifiant, classe)").fill("cap-epc-2")
    page.get_by_role("button", name="Filtrer").click()
    expect(page.get_by_text("1 compte(s)", exact=True)).to_be_visible()
    rows = page.locator("#users tbody tr")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("Lefèvre-Dupont Zoé")
    expect(rows.first).to_contain_text("CAP-EPC-2")
    rows.first.get_by_role("link", name=login).click()
    expect(page.locator("#user-login")).to_have_text(login)
    console.seen.assert_clean(page)


# -- 3. Importing a file through the preview -------------------------------------------------


def test_admin_imports_a_file_through_the_preview(console: Console, tmp_path: Path) -> None:
    page = console.page
    csv_file = tmp_path / "export-siecle.csv"
    csv_file.write_bytes(
        (
            "Nom;Prénom;Date de naissance;Classe\r\n"
            "Noël;Anaïs;03/02/2009;1CAP-AEPE\r\n"
            "Bérard;Théo;31/02/2009;1CAP-AEPE\r\n"
        ).encode("cp1252")
    )
    nav(page, "Importer")
    expect(page.get_by_role("heading", name="Importer des comptes", level=1)).to_be_visible()
    page.get_by_label("Fichier (SIECLE ou CSV)").set_input_files(csv_file)
    page.get_by_role("button", name="Voir l'aperçu").click()

    expect(page.locator("#import-summary")).to_have_text(
        "1 compte(s) à créer, 0 à mettre à jour, 1 ligne(s) refusée(s)."
    )
    refused = page.locator("#refused tbody tr")
    expect(refused).to_have_count(1)
    expect(refused.first.get_by_role("cell")).to_have_text(
        [
            "3",
            "date de naissance invalide : 31/02/2009 (jj/mm/aaaa ou aaaa-mm-jj)",
            "Bérard;Théo;31/02/2009;1CAP-AEPE",  # Windows-1252 read as such
        ]
    )
    page.get_by_label("Importer les lignes valides et ignorer les lignes refusées").check()
    page.get_by_role("button", name="Importer").click()

    expect(page.locator("#import-result")).to_have_text(
        "Import terminé : 1 compte(s) créé(s), 0 mis à jour, 0 désactivé(s)."
    )
    expect(
        page.get_by_text("La liste ne contient pas de mot de passe", exact=False)
    ).to_be_visible()
    with page.expect_download() as info:
        page.get_by_role("link", name="Télécharger la liste des identifiants").click()
    download = info.value
    assert download.suggested_filename == "comptes-crees.csv"
    saved = tmp_path / download.suggested_filename
    download.save_as(saved)
    content = saved.read_bytes().decode("utf-8-sig")
    lines = content.splitlines()
    assert lines == ["Identifiant;Nom;Prénom;Classe", "anais.noel;Noël;Anaïs;1CAP-AEPE"]
    # No password: not the birth date (the initial password) in any form.
    for secret in ("03022009", "2009-02-03", "03/02/2009"):
        assert secret not in content
    assert "mot de passe" not in content.lower()

    # The new account is in the list; the refused line created nothing.
    nav(page, "Comptes")
    page.get_by_label("Rechercher (nom, identifiant, classe)").fill("1CAP-AEPE")
    page.get_by_role("button", name="Filtrer").click()
    expect(page.locator("#users tbody tr")).to_have_count(1)
    expect(page.get_by_role("link", name="anais.noel", exact=True)).to_be_visible()
    console.seen.assert_clean(page)


# -- 4. Registering an application; its secret is shown once --------------------------------


def test_admin_registers_an_application_and_sees_its_secret_once(
    console: Console,
    provider,  # type: ignore[no-untyped-def]
) -> None:
    page = console.page
    name = "CPRO STI"
    nav(page, "Applications")
    discovery = provider.url(f"/{SCHOOL}/.well-known/openid-configuration")
    expect(page.get_by_text(discovery, exact=True)).to_be_visible()
    page.get_by_role("link", name="Enregistrer une application").click()
    expect(page.get_by_role("heading", name="Enregistrer une application", level=1)).to_be_visible()
    page.get_by_label("Nom", exact=True).fill(name)
    page.get_by_label("Adresses de redirection (une par ligne)").fill("https://sti.cpro.example/cb")
    page.get_by_role("button", name="Enregistrer").click()

    expect(page.get_by_role("heading", name=name, level=1)).to_be_visible()
    expect(page.locator("#admin-notice")).to_have_text("Application enregistrée.")
    expect(page.get_by_text("affiché une seule fois")).to_be_visible()
    secret_box = page.locator("#client-secret")
    expect(secret_box).to_be_visible()
    secret = secret_box.inner_text().strip()
    assert len(secret) >= 32, secret
    # copy.js ran: the « COPIER » button is revealed.
    expect(page.get_by_role("button", name="Copier")).to_be_visible()
    expect(page.get_by_text(discovery, exact=True)).to_be_visible()
    expect(page.get_by_text("https://sti.cpro.example/cb", exact=True)).to_be_visible()
    client_id = page.locator("#client-id").inner_text().strip()
    assert client_id

    def secret_is_gone() -> None:
        expect(page.get_by_role("heading", name=name, level=1)).to_be_visible()
        expect(page.locator("#client-id")).to_have_text(client_id)
        expect(page.locator("#client-secret")).to_have_count(0)
        expect(page.get_by_text("affiché une seule fois")).to_have_count(0)
        assert secret not in page.content()

    # Back to it from the list of applications: the secret is no longer shown.
    nav(page, "Applications")
    row = page.locator("#clients tbody tr").filter(has_text=client_id)
    expect(row).to_have_count(1)
    expect(row.get_by_role("cell")).to_have_text([name, client_id, "confidentielle", "active"])
    row.get_by_role("link", name=name).click()
    expect(page).to_have_url(admin_url(provider, f"/clients/{client_id}"))
    secret_is_gone()
    page.reload()
    secret_is_gone()
    console.seen.assert_clean(page)


def test_reloading_the_page_with_the_secret_registers_nothing_more(
    console: Console,
    provider,  # type: ignore[no-untyped-def]
) -> None:
    """F5 on the page that shows the new secret: the secret must not be shown again, and no
    second application may appear (the page is the answer to the form's POST)."""
    page = console.page
    name = "CPRO Atelier"
    page.goto(admin_url(provider, "/clients/new"))
    page.get_by_label("Nom", exact=True).fill(name)
    page.get_by_label("Adresses de redirection (une par ligne)").fill(
        "https://atelier.cpro.example/cb"
    )
    page.get_by_role("button", name="Enregistrer").click()
    expect(page.locator("#client-secret")).to_be_visible()
    secret = page.locator("#client-secret").inner_text().strip()

    page.reload()
    expect(page.get_by_role("heading", level=1)).to_be_visible()
    assert secret not in page.content()
    shown = page.locator("#client-secret").all_inner_texts()
    nav(page, "Applications")
    registered = page.locator("#clients tbody tr").filter(has_text=name)
    count = registered.count()
    assert count == 1 and shown == [], (
        f"reloading the secret page registered {count} application(s) « {name} » "
        f"and showed the secret(s) {shown}"
    )
    console.seen.assert_clean(page)


# -- 5. A teacher is refused the console -----------------------------------------------------


def test_a_teacher_opening_the_console_sees_access_refused(page: Page, provider) -> None:  # type: ignore[no-untyped-def]
    login = provider.add_user("Paul", "Vérin", "1980-06-15", role="teacher")
    assert login == "paul.verin"
    forbidden = {(403, f"/{SCHOOL}/admin"), (403, f"/{SCHOOL}/admin/users")}
    seen = watch(page, allowed=forbidden)

    page.goto(admin_url(provider))
    expect(page.get_by_role("heading", name="Authentification", level=1)).to_be_visible()
    sign_in(page, login, "1980-06-15")  # a teacher's initial password: aaaa-mm-jj
    choose_password(page, "la craie blanche sur le tableau noir")
    with page.expect_response(lambda r: path_of(r.url) == f"/{SCHOOL}/admin") as info:
        sign_in(page, login, "la craie blanche sur le tableau noir")
    assert info.value.status == 403

    expect(page).to_have_url(admin_url(provider))
    expect(page).to_have_title("Accès refusé — CPRO éducation")
    expect(page.get_by_role("heading", name="Accès refusé", level=1)).to_be_visible()
    expect(
        page.get_by_text("Cette page est réservée à d'autres personnes de l'établissement.")
    ).to_be_visible()
    expect(page.get_by_role("link", name="Retour à mon compte")).to_be_visible()
    # Nothing of the console.
    expect(page.get_by_role("navigation", name="Administration")).to_have_count(0)
    expect(page.get_by_role("heading", name="Tableau de bord")).to_have_count(0)

    response = page.goto(admin_url(provider, "/users"))
    assert response is not None and response.status == 403
    expect(page.get_by_role("heading", name="Accès refusé", level=1)).to_be_visible()
    expect(page.locator("#users")).to_have_count(0)
    seen.assert_clean(page)


# -- 6. No console errors, no CSP violations -------------------------------------------------

MENU: list[tuple[str, str]] = [
    ("Comptes", "Comptes"),
    ("Importer", "Importer des comptes"),
    ("Applications", "Applications (modules CPRO)"),
    ("Sessions", "Sessions ouvertes"),
    ("Journal", "Journal"),
    ("Apparence", "Apparence des pages"),
    ("Tableau de bord", "Tableau de bord"),
]


def test_console_pages_have_no_console_errors_nor_csp_violations(
    console: Console,
    provider,  # type: ignore[no-untyped-def]
) -> None:
    page = console.page
    response = page.goto(admin_url(provider))
    assert response is not None and response.status == 200
    csp = response.headers.get("content-security-policy", "")
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp

    def stylesheet_applied() -> None:
        rules = page.evaluate("Array.from(document.styleSheets, s => s.cssRules.length)")
        assert rules and all(n > 0 for n in rules), f"no stylesheet on {page.url}"

    for link, heading in MENU:
        nav(page, link)
        expect(page.get_by_role("heading", name=heading, level=1)).to_be_visible()
        stylesheet_applied()
    # The creation forms, not in the menu.
    for path, heading in (
        ("/users/new", "Créer un compte"),
        ("/clients/new", "Enregistrer une application"),
    ):
        page.goto(admin_url(provider, path))
        expect(page.get_by_role("heading", name=heading, level=1)).to_be_visible()
        stylesheet_applied()
    console.seen.assert_clean(page)
    assert len(set(console.seen.visited)) >= 8, console.seen.visited

    # The listeners would have seen a violation: an inline script is blocked and reported.
    page.evaluate(
        "() => { const s = document.createElement('script');"
        " s.textContent = 'window.__inline = 1'; document.body.appendChild(s); }"
    )
    wait_until(lambda: bool(console.seen.violations), page)
    assert any("script-src" in v for v in console.seen.violations), console.seen.violations
    assert page.evaluate("window.__inline") is None


def wait_until(condition: Callable[[], bool], page: Page, timeout_ms: int = 5_000) -> None:
    waited = 0
    while not condition():
        assert waited < timeout_ms, "timed out"
        page.wait_for_timeout(50)
        waited += 50


# -- 7. At a desktop size --------------------------------------------------------------------


def test_dashboard_and_user_list_at_a_desktop_size(
    console: Console,
    provider,  # type: ignore[no-untyped-def]
    tmp_path: Path,
) -> None:
    for first, last, born, group in (
        ("Inès", "Benali", "2008-01-30", "2MRC-A"),
        ("Kylian", "Da Silva", "2007-11-04", "2MRC-A"),
    ):
        provider.idp(
            "user", "add", SCHOOL, "--first-name", first, "--last-name", last,
            "--birth-date", born, "--role", "student", "--group", group,
        )  # fmt: skip
    page = console.page
    assert page.viewport_size == DESKTOP
    page.goto(admin_url(provider))
    expect(dashboard_heading(page)).to_be_visible()
    dashboard = tmp_path / "admin-dashboard-1366x768.png"
    page.screenshot(path=str(dashboard), full_page=True)
    print(f"screenshot: {dashboard}")
    # Nothing sticks out sideways.
    assert page.evaluate("document.documentElement.scrollWidth") <= DESKTOP["width"]

    nav(page, "Comptes")
    expect(page.locator("#users tbody tr").first).to_be_visible()
    users = tmp_path / "admin-users-1366x768.png"
    page.screenshot(path=str(users), full_page=True)
    print(f"screenshot: {users}")
    assert page.evaluate("document.documentElement.scrollWidth") <= DESKTOP["width"]
    table = page.locator("#users").bounding_box()
    assert table is not None and table["x"] + table["width"] <= DESKTOP["width"], table
    expect(page.get_by_role("link", name="Créer un compte")).to_be_in_viewport()
    # The journal, with every event of the module's tests, fits a desktop too.
    nav(page, "Journal")
    expect(page.locator("#audit tbody tr").first).to_be_visible()
    assert page.evaluate("document.documentElement.scrollWidth") <= DESKTOP["width"]
    console.seen.assert_clean(page)


# -- 8. The account list, in French and in French time ---------------------------------------


def test_account_list_and_page_use_french_words(console: Console, provider) -> None:  # type: ignore[no-untyped-def]
    """The « Rôle » and « Mot de passe » columns say what the filters above them say."""
    page = console.page
    nav(page, "Comptes")
    role_words = page.get_by_label("Rôle").locator("option").all_inner_texts()
    state_words = page.get_by_label("Mot de passe").locator("option").all_inner_texts()
    # « Initial (date de naissance) » may be shown as « initial ».
    first_words = {w.split(" (")[0].lower() for w in role_words + state_words}
    # No word names both a role and a password state (« Personnel » once did).
    assert set(role_words) & set(state_words) == {"Tous"}, (role_words, state_words)
    page.get_by_label("Rechercher (nom, identifiant, classe)").fill(ADMIN_LOGIN)
    page.get_by_role("button", name="Filtrer").click()
    row = page.locator("#users tbody tr").filter(has_text=ADMIN_LOGIN)
    cells = row.get_by_role("cell").all_inner_texts()
    role, state = cells[2].strip(), cells[4].strip()
    page.get_by_role("link", name=ADMIN_LOGIN, exact=True).click()
    role_on_page = page.locator("dt:text-is('Rôle') + dd").inner_text().strip()
    state_on_page = page.locator("#user-state").inner_text().strip()
    shown = {
        "list, Rôle": role,
        "list, Mot de passe": state,
        "account page, Rôle": role_on_page,
        "account page, Mot de passe": state_on_page,
    }
    foreign = {where: word for where, word in shown.items() if word.lower() not in first_words}
    assert foreign == {}, f"words the filters do not use ({sorted(first_words)}): {foreign}"
    console.seen.assert_clean(page)


def test_last_sign_in_is_shown_in_the_same_time_as_the_journal(console: Console) -> None:
    """The admin just signed in: « Dernière connexion » (list and account page) and the
    Journal's login.success show the same time, French time, the school's."""
    page = console.page
    nav(page, "Journal")
    page.get_by_label("Utilisateur (identifiant)").fill(ADMIN_LOGIN)
    page.get_by_label("Type", exact=True).select_option(label="Connexions")
    page.get_by_role("button", name="Filtrer").click()
    first = page.locator("#audit tbody tr").filter(has_text="Connexion réussie").first
    journal = datetime.strptime(first.get_by_role("cell").first.inner_text(), "%d/%m/%Y %H:%M:%S")

    nav(page, "Comptes")
    page.get_by_label("Rechercher (nom, identifiant, classe)").fill(ADMIN_LOGIN)
    page.get_by_role("button", name="Filtrer").click()
    row = page.locator("#users tbody tr").filter(has_text=ADMIN_LOGIN)
    listed = datetime.strptime(row.get_by_role("cell").last.inner_text(), "%d/%m/%Y %H:%M")
    page.get_by_role("link", name=ADMIN_LOGIN, exact=True).click()
    on_page = datetime.strptime(
        page.locator("dt:text-is('Dernière connexion') + dd").inner_text().strip(),
        "%d/%m/%Y %H:%M",
    )
    for where, shown in (("Comptes", listed), ("account page", on_page)):
        assert abs(shown - journal) < timedelta(minutes=2), (
            f"last sign-in {shown:%d/%m/%Y %H:%M} on the {where}, "
            f"{journal:%d/%m/%Y %H:%M:%S} in the Journal"
        )
    console.seen.assert_clean(page)


# -- 9. On a phone ---------------------------------------------------------------------------

PHONE = {"width": 320, "height": 640}  # the narrowest phone still in pupils' hands


def test_no_page_scrolls_sideways_on_a_phone(
    browser: Browser,
    provider,  # type: ignore[no-untyped-def]
    admin: AdminAccount,
) -> None:
    """Every page a pupil, a teacher or the secretary opens, at 320 px, with long names, a
    long address and a journal full of events: nothing sticks out sideways."""
    long_login = provider.add_user(
        "Marie-Clémentine", "De La Fontaine-Saint-Exupéry", "2008-02-29"
    )
    provider.idp(
        "client", "add", SCHOOL, "--name", "Module avec un nom vraiment très long",
        "--redirect-uri",
        "https://un-module-cpro-au-nom-tres-long.example/retour/apres/la/connexion/oidc",
    )  # fmt: skip
    context = browser.new_context(locale="fr-FR", viewport=PHONE, storage_state=admin.signed_in)
    context.set_default_timeout(10_000)
    visited = []
    try:
        page = context.new_page()
        seen = watch(page)
        page.goto(admin_url(provider, "/clients"))
        page.locator("#clients tbody a").first.click()
        client_page = urlsplit(page.url).path
        paths = [
            f"/{SCHOOL}",
            f"/{SCHOOL}/password/change",
            f"/{SCHOOL}/students",
            f"/{SCHOOL}/students/reset?login={long_login}",
            f"/{SCHOOL}/admin",
            f"/{SCHOOL}/admin/users",
            f"/{SCHOOL}/admin/users/{long_login}",
            f"/{SCHOOL}/admin/users/{long_login}/reset",
            f"/{SCHOOL}/admin/users/new",
            f"/{SCHOOL}/admin/import",
            f"/{SCHOOL}/admin/clients",
            client_page,
            f"/{SCHOOL}/admin/clients/new",
            f"/{SCHOOL}/admin/sessions",
            f"/{SCHOOL}/admin/audit",
            f"/{SCHOOL}/admin/look",
            f"/{SCHOOL}/admin/passwords",
        ]
        for path in paths:
            response = page.goto(provider.url(path))
            assert response is not None and response.status == 200, path
            width = page.evaluate("document.documentElement.scrollWidth")
            assert width <= PHONE["width"], (path, width)
            visited.append(path)
        seen.assert_clean(page)
    finally:
        context.close()
    # Without a session: the pages of signing in.
    context = browser.new_context(locale="fr-FR", viewport=PHONE)
    try:
        page = context.new_page()
        for path in (f"/{SCHOOL}/login", f"/{SCHOOL}/password/forgot", f"/{SCHOOL}/nowhere"):
            page.goto(provider.url(path))
            width = page.evaluate("document.documentElement.scrollWidth")
            assert width <= PHONE["width"], (path, width)
        page.goto(provider.url(f"/{SCHOOL}/login"))
        page.get_by_role("button", name="SE CONNECTER").click()  # both fields empty
        expect(page.get_by_text("Saisissez votre identifiant")).to_be_visible()
        assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    finally:
        context.close()
    assert len(visited) == 17
