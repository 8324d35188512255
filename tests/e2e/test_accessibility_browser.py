"""Accessibility (WCAG 2.1 AA) of every page people use, checked by axe-core inside Chromium
(the pinned `axe-playwright-python` bundles it: nothing is downloaded): no serious or critical
violation, in French and in English, on a phone and on a desktop; and the sign-in page works
with the keyboard alone."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Browser, BrowserContext, Page, expect

from helpers import UAI_A

pytestmark = pytest.mark.browser

SCHOOL = "lp-a"
Provider = Any  # tests/e2e/conftest.py's: a running `idp serve` and its CLI
PASSWORD = "quatre mots bleus rangés au grenier"
WIDTHS = {"phone": {"width": 390, "height": 844}, "desktop": {"width": 1366, "height": 768}}
LANGUAGES = ("fr", "en")
RULES = {"runOnly": {"type": "tag", "values": ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]}}
AXE = Axe()


def set_password(provider: Provider, login: str) -> None:
    provider.idp("user", "set-password", SCHOOL, login, "--password-stdin", stdin=PASSWORD)


@pytest.fixture(scope="module")
def people(provider: Provider) -> dict[str, str]:
    teacher = provider.add_user("Anne", "Roux", "1980-04-02", role="teacher")
    set_password(provider, teacher)
    set_password(provider, UAI_A.lower())
    provider.add_user("Marie-Clémentine", "De La Fontaine", "2008-02-29")
    provider.idp("user", "add", SCHOOL, "--first-name", "Jade", "--last-name", "Roche",
                 "--birth-date", "2009-04-04", "--role", "student", "--group", "2MRC-A")  # fmt: skip
    return {"teacher": teacher, "admin": UAI_A.lower(), "pupil": "marie-clementine.de"}


def violations(page: Page) -> list[str]:
    results = AXE.run(page, options=RULES)
    found = results.response["violations"]
    return [
        f"{v['id']} ({v['impact']}): {v['help']} — "
        + "; ".join(node["target"][0] for node in v["nodes"][:3])
        for v in found
        if v["impact"] in ("serious", "critical")
    ]


@pytest.fixture(params=[(w, lang) for w in WIDTHS for lang in LANGUAGES], ids=lambda p: "-".join(p))
def context(browser: Browser, request: pytest.FixtureRequest) -> Iterator[BrowserContext]:
    width, language = request.param
    ctx = browser.new_context(locale="fr-FR", viewport=WIDTHS[width])
    ctx.set_default_timeout(10_000)
    ctx.language = language  # type: ignore[attr-defined]
    try:
        yield ctx
    finally:
        ctx.close()


def sign_in(page: Page, provider: Provider, login: str) -> None:
    page.goto(provider.url(f"/{SCHOOL}/login"))
    page.locator("#login").fill(login)
    page.locator("#password").fill(PASSWORD)
    page.locator("form button[type=submit]").first.click()
    page.wait_for_load_state()


def test_every_page_passes_axe(
    context: BrowserContext, provider: Provider, people: dict[str, str]
) -> None:
    page = context.new_page()
    language = context.language  # type: ignore[attr-defined]
    page.goto(provider.url(f"/{SCHOOL}/login?lang={language}"))  # remembered from here on
    found: dict[str, list[str]] = {}

    def check(label: str, path: str | None = None) -> None:
        if path is not None:
            response = page.goto(provider.url(path))
            assert response is not None and response.status < 500, path
        assert page.locator("html").get_attribute("lang") == language, label
        if problems := violations(page):
            found[label] = problems

    check("sign-in", f"/{SCHOOL}/login")
    page.locator("form button[type=submit]").first.click()  # both fields empty
    check("sign-in, empty fields")
    page.locator("#login").fill("nobody.here")
    page.locator("#password").fill("x")
    page.locator("form button[type=submit]").first.click()
    check("sign-in, unknown login")
    check("forgotten password", f"/{SCHOOL}/password/forgot")
    check("page not found", f"/{SCHOOL}/nowhere")
    # A pupil's first sign-in: the forced change.
    page.goto(provider.url(f"/{SCHOOL}/login"))
    page.locator("#login").fill(people["pupil"])
    page.locator("#password").fill("29022008")
    page.locator("form button[type=submit]").first.click()
    page.wait_for_load_state()
    check("first password change")
    page.context.clear_cookies()
    page.goto(provider.url(f"/{SCHOOL}/login?lang={language}"))
    sign_in(page, provider, people["teacher"])
    check("account", f"/{SCHOOL}")
    check("password change", f"/{SCHOOL}/password/change")
    check("students", f"/{SCHOOL}/students")
    check("reset confirmation", f"/{SCHOOL}/students/reset?login={people['pupil']}")
    check("a class", f"/{SCHOOL}/students?classe=2MRC-A")
    check(
        "a selection's reset", f"/{SCHOOL}/students/reset?login=jade.roche&login={people['pupil']}"
    )
    check("sign-in slips", f"/{SCHOOL}/students/slips?classe=2MRC-A&all=1")
    check("sign-out", f"/{SCHOOL}/logout")
    page.context.clear_cookies()
    page.goto(provider.url(f"/{SCHOOL}/login?lang={language}"))
    sign_in(page, provider, people["admin"])
    admin = f"/{SCHOOL}/admin"
    for label, path in (
        ("dashboard", admin),
        ("accounts", f"{admin}/users"),
        ("an account", f"{admin}/users/{people['teacher']}"),
        ("a confirmation", f"{admin}/users/{people['teacher']}/reset"),
        ("a new account", f"{admin}/users/new"),
        ("import", f"{admin}/import"),
        ("applications", f"{admin}/clients"),
        ("a new application", f"{admin}/clients/new"),
        ("sessions", f"{admin}/sessions"),
        ("journal", f"{admin}/audit"),
        ("look", f"{admin}/look"),
        ("incident mode", f"{admin}/incident"),
        ("initial passwords", f"{admin}/passwords"),
    ):
        check(label, path)
    assert not found, "\n".join(f"{page}: {v}" for page, vs in found.items() for v in vs)


def test_the_sign_in_page_works_with_the_keyboard_alone(
    browser: Browser, provider: Provider, people: dict[str, str]
) -> None:
    context = browser.new_context(locale="fr-FR")
    try:
        page = context.new_page()
        page.goto(provider.url(f"/{SCHOOL}/login"))
        expect(page.locator("#login")).to_be_focused()  # where the eye starts
        page.keyboard.type(people["teacher"])
        page.keyboard.press("Tab")
        expect(page.locator("#password")).to_be_focused()
        page.keyboard.type(PASSWORD)
        page.keyboard.press("Tab")
        expect(page.locator("#show-password")).to_be_focused()  # « Mot de passe en clair »
        page.keyboard.press("Space")
        expect(page.locator("#password")).to_have_attribute("type", "text")
        # The focused control is visible: an outline of its own.
        outline = page.evaluate("getComputedStyle(document.activeElement).outlineStyle")
        assert outline not in ("none", ""), outline
        page.keyboard.press("Space")
        page.keyboard.press("Tab")
        expect(page.get_by_role("link", name="Mot de passe oublié ?")).to_be_focused()
        page.keyboard.press("Tab")
        expect(page.get_by_role("button", name="SE CONNECTER")).to_be_focused()
        page.keyboard.press("Enter")
        expect(page).to_have_url(provider.url(f"/{SCHOOL}"))
    finally:
        context.close()


def test_the_check_itself_sees_a_violation(browser: Browser) -> None:
    """axe runs and reports: a field without a label and grey-on-grey text are caught."""
    context = browser.new_context()
    try:
        page = context.new_page()
        page.set_content(
            '<html lang="fr"><head><title>t</title></head><body><main>'
            '<input type="text"><p style="color:#bbb;background:#ccc">pâle</p></main></body></html>'
        )
        found = " ".join(violations(page))
        assert "label" in found and "color-contrast" in found, found
    finally:
        context.close()
