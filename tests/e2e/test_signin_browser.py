"""The sign-in pages in a real Chromium against a real `idp serve` (README, "Signing
in"): what a student sees and does, by visible text, labels and roles."""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import (
    Browser,
    ConsoleMessage,
    Page,
    Request,
    Response,
    expect,
)
from playwright.sync_api import (
    TimeoutError as PlaywrightTimeout,
)

pytestmark = pytest.mark.browser

SCHOOL = "lp-a"
SCHOOL_NAME = "Lycée professionnel A"
BAD_PASSWORD = "Authentification incorrecte : mot de passe non valide."
UNKNOWN_LOGIN = "Authentification incorrecte : login inconnu"
CHANGED = (
    "Votre nouveau mot de passe est enregistré : c'est désormais lui qu'il faut utiliser. "
    "Saisissez-le pour vous connecter."
)
PASSPHRASE = "ma tortue verte lit le journal"
PHONE = {"width": 390, "height": 844}


def login_url(provider) -> str:  # type: ignore[no-untyped-def]
    return provider.url(f"/{SCHOOL}/login")


def password_field(page: Page):  # type: ignore[no-untyped-def]
    # exact: « Mot de passe en clair » is a label too.
    return page.get_by_label("Mot de passe", exact=True)


def sign_in(page: Page, login: str, password: str) -> None:
    page.get_by_label("Identifiant").fill(login)
    password_field(page).fill(password)
    page.get_by_role("button", name="SE CONNECTER").click()


def alert(page: Page):  # type: ignore[no-untyped-def]
    return page.get_by_role("alert")


# -- 1. « Mot de passe en clair » ------------------------------------------------------------


def test_show_password_checkbox_toggles_the_password_field(page: Page, provider) -> None:  # type: ignore[no-untyped-def]
    page.goto(login_url(provider))
    show = page.get_by_role("checkbox", name="Mot de passe en clair")
    expect(show).to_be_visible()
    expect(show).not_to_be_checked()

    password = password_field(page)
    password.fill("secret de Léa")
    expect(password).to_have_attribute("type", "password")

    show.check()
    expect(password).to_have_attribute("type", "text")
    expect(password).to_have_value("secret de Léa")

    show.uncheck()
    expect(password).to_have_attribute("type", "password")
    expect(password).to_have_value("secret de Léa")

    # Clicking the words of the label works too (a phone user taps the text).
    page.get_by_text("Mot de passe en clair").click()
    expect(show).to_be_checked()
    expect(password).to_have_attribute("type", "text")


def test_without_javascript_no_useless_checkbox(browser: Browser, provider) -> None:  # type: ignore[no-untyped-def]
    context = browser.new_context(locale="fr-FR", java_script_enabled=False)
    try:
        page = context.new_page()
        page.goto(login_url(provider))
        expect(password_field(page)).to_be_visible()
        expect(page.get_by_role("checkbox", name="Mot de passe en clair")).to_be_hidden()
    finally:
        context.close()


# -- 2. A student's first sign-in ------------------------------------------------------------


def test_first_login_forces_a_personal_password(page: Page, provider) -> None:  # type: ignore[no-untyped-def]
    page.goto(provider.url(f"/{SCHOOL}"))

    # Not signed in: the establishment's address leads to its login page.
    expect(page).to_have_url(login_url(provider))
    expect(page).to_have_title(re.compile(rf"^Authentification — {SCHOOL_NAME}$"))
    heading = page.get_by_role("heading", name="Authentification", level=1)
    expect(heading).to_be_visible()
    school = page.get_by_text(SCHOOL_NAME, exact=True)
    expect(school).to_be_visible()
    school_box = school.bounding_box()
    form_box = page.get_by_label("Identifiant").bounding_box()
    assert school_box is not None and form_box is not None
    assert school_box["y"] + school_box["height"] <= form_box["y"], (
        "the establishment's name must be shown above the login form"
    )
    expect(page.get_by_role("link", name="Mot de passe oublié ?")).to_be_visible()

    # The initial password is the birth date, jjmmaaaa for a student.
    sign_in(page, "lea.martin", "14032009")

    # Forced change: only the new password and its confirmation.
    expect(page).to_have_url(provider.url(f"/{SCHOOL}/password/change"))
    expect(page.get_by_role("heading", name="Choisissez votre mot de passe")).to_be_visible()
    expect(page.get_by_text("Bienvenue, Léa.")).to_be_visible()
    new = page.get_by_label("Nouveau mot de passe", exact=True)
    again = page.get_by_label("Nouveau mot de passe, encore une fois")
    expect(new).to_be_visible()
    expect(again).to_be_visible()
    expect(page.get_by_label("Mot de passe actuel")).to_have_count(0)
    expect(page.locator("input[type=password]:visible")).to_have_count(2)
    save = page.get_by_role("button", name="Enregistrer")

    # A password everybody uses is refused, with the reason.
    new.fill("azertyuiop")
    again.fill("azertyuiop")
    save.click()
    expect(alert(page)).to_be_visible()
    expect(alert(page)).to_contain_text("Ce mot de passe fait partie des plus utilisés")
    expect(page.get_by_role("heading", name="Choisissez votre mot de passe")).to_be_visible()
    expect(page.get_by_label("Mot de passe actuel")).to_have_count(0)

    # A passphrase is accepted; the user signs in again with it.
    new.fill(PASSPHRASE)
    again.fill(PASSPHRASE)
    save.click()
    expect(page).to_have_url(re.compile(rf"/{SCHOOL}/login\?changed=1&login_hint=lea.martin$"))
    expect(page.get_by_label("Identifiant")).to_have_value("lea.martin")
    expect(page.get_by_role("status")).to_have_text(CHANGED)
    expect(page.get_by_role("heading", name="Authentification", level=1)).to_be_visible()

    # The birth date no longer works.
    sign_in(page, "lea.martin", "14032009")
    expect(page.get_by_text(BAD_PASSWORD, exact=True)).to_be_visible()

    # The new password does.
    sign_in(page, "lea.martin", PASSPHRASE)
    expect(page).to_have_url(provider.url(f"/{SCHOOL}"))
    expect(page.get_by_role("heading", name="Mon compte")).to_be_visible()
    expect(page.get_by_text("lea.martin", exact=True)).to_be_visible()
    expect(page.get_by_text("Léa Martin", exact=True)).to_be_visible()

    # « Se déconnecter » signs out: back to the login page, and the account page is closed.
    page.get_by_role("button", name="Se déconnecter").click()
    expect(page).to_have_url(re.compile(rf"/{SCHOOL}/login\?logged_out=1$"))
    expect(page.get_by_role("status")).to_have_text("Vous êtes déconnecté.")
    page.goto(provider.url(f"/{SCHOOL}"))
    expect(page).to_have_url(login_url(provider))
    expect(page.get_by_role("heading", name="Mon compte")).to_have_count(0)


# -- 3. Wrong password, unknown login --------------------------------------------------------


def test_wrong_password_and_unknown_login(page: Page, provider) -> None:  # type: ignore[no-untyped-def]
    login = provider.new_student(birth_date="2008-11-02")
    page.goto(login_url(provider))

    sign_in(page, login, "02112009")  # one year off
    expect(page.get_by_text(BAD_PASSWORD, exact=True)).to_be_visible()
    expect(alert(page)).to_contain_text(BAD_PASSWORD)
    expect(page.get_by_label("Identifiant")).to_have_value(login)
    expect(password_field(page)).to_have_value("")
    expect(page.get_by_role("button", name="SE CONNECTER")).to_be_visible()

    sign_in(page, "personne.inconnue", "14032009")
    expect(page.get_by_text(UNKNOWN_LOGIN, exact=True)).to_be_visible()
    expect(alert(page)).to_contain_text(UNKNOWN_LOGIN)
    expect(alert(page)).not_to_contain_text(BAD_PASSWORD)
    expect(page.get_by_label("Identifiant")).to_have_value("personne.inconnue")
    expect(password_field(page)).to_have_value("")

    # The right password still works after these failures.
    sign_in(page, login, "02112008")
    expect(page.get_by_role("heading", name="Choisissez votre mot de passe")).to_be_visible()


# -- 4. No console errors, no CSP violations -------------------------------------------------

# Runs before any page script; CSP does not apply to it. Records what the browser blocked.
RECORD_CSP_VIOLATIONS = """
window.__cspViolations = [];
document.addEventListener("securitypolicyviolation", function (e) {
  window.__cspViolations.push(e.violatedDirective + " " + (e.blockedURI || "inline"));
});
"""


def is_favicon(message: ConsoleMessage) -> bool:
    return urlsplit(message.location.get("url", "")).path == "/favicon.ico"


def test_login_page_has_no_console_errors_nor_csp_violations(page: Page, provider) -> None:  # type: ignore[no-untyped-def]
    problems: list[str] = []

    def on_console(message: ConsoleMessage) -> None:
        # The browser's own request for /favicon.ico (not made by the page, and made once
        # per browser) is checked by the next test.
        if message.type == "error" and not is_favicon(message):
            problems.append(f"console {message.type}: {message.text}")

    def on_response(response: Response) -> None:
        if response.status >= 400:
            problems.append(f"HTTP {response.status}: {response.url}")

    def on_failed(request: Request) -> None:
        problems.append(f"request failed: {request.url} ({request.failure})")

    page.on("console", on_console)
    page.on("pageerror", lambda exc: problems.append(f"page error: {exc}"))
    page.on("response", on_response)
    page.on("requestfailed", on_failed)
    page.add_init_script(RECORD_CSP_VIOLATIONS)

    response = page.goto(login_url(provider))
    assert response is not None and response.status == 200
    csp = response.headers.get("content-security-policy", "")
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp
    # The page's own script ran (it reveals the checkbox), and the stylesheet applied.
    expect(page.get_by_role("checkbox", name="Mot de passe en clair")).to_be_visible()
    rules = page.evaluate("Array.from(document.styleSheets, s => s.cssRules.length)")
    assert rules and all(n > 0 for n in rules), "the stylesheet did not load"
    # A failed sign-in renders the page again, with the error block.
    sign_in(page, "personne.inconnue", "x")
    expect(page.get_by_text(UNKNOWN_LOGIN, exact=True)).to_be_visible()
    page.wait_for_load_state("load")

    assert problems == []
    assert page.evaluate("window.__cspViolations") == []

    # The listeners would have seen a violation: an inline script is blocked and reported.
    page.evaluate(
        "() => { const s = document.createElement('script');"
        " s.textContent = 'window.__inline = 1'; document.body.appendChild(s); }"
    )
    page.wait_for_function("window.__cspViolations.length > 0", timeout=5_000)
    assert any("inline script" in p or "Content Security Policy" in p for p in problems)
    assert page.evaluate("window.__inline") is None


def test_login_page_does_not_log_a_missing_favicon(fresh_browser: Browser, provider) -> None:  # type: ignore[no-untyped-def]
    # A new browser: Chromium asks for /favicon.ico once and remembers a failure.
    context = fresh_browser.new_context(locale="fr-FR")
    try:
        page = context.new_page()
        page.goto(login_url(provider))
        try:
            message = page.wait_for_event("console", predicate=is_favicon, timeout=2_000)
        except PlaywrightTimeout:
            return  # no favicon error in 2 s: it either loaded, or was never asked for
        pytest.fail(
            f"console {message.type} on the login page: {message.text} ({message.location['url']})"
        )
    finally:
        context.close()


# -- 5. On a phone ---------------------------------------------------------------------------


def test_login_page_fits_a_phone(browser: Browser, provider, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    context = browser.new_context(
        locale="fr-FR", viewport=PHONE, device_scale_factor=2, is_mobile=True, has_touch=True
    )
    try:
        page = context.new_page()
        page.goto(login_url(provider))
        button = page.get_by_role("button", name="SE CONNECTER")
        expect(button).to_be_visible()
        expect(page.get_by_role("checkbox", name="Mot de passe en clair")).to_be_visible()
        screenshot = tmp_path / "login-phone-390x844.png"
        page.screenshot(path=str(screenshot), full_page=True)
        assert screenshot.stat().st_size > 0
        print(f"screenshot: {screenshot}")

        # Nothing sticks out sideways: no horizontal scrolling on a 390 px wide screen.
        assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
        for control in (
            page.get_by_text(SCHOOL_NAME, exact=True),
            page.get_by_label("Identifiant"),
            password_field(page),
            button,
        ):
            box = control.bounding_box()
            assert box is not None
            assert box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"], box
        box = button.bounding_box()
        assert box is not None
        # A comfortable thumb target (WCAG 2.5.5 asks for 44 x 44 CSS pixels).
        assert box["height"] >= 44 and box["width"] >= 44, box
        # Reachable: the button is tapped, and the form is submitted.
        page.get_by_label("Identifiant").fill("personne.inconnue")
        password_field(page).fill("x")
        button.tap()
        expect(page.get_by_text(UNKNOWN_LOGIN, exact=True)).to_be_visible()
    finally:
        context.close()
