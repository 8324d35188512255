"""Single sign-on across CPRO modules, with real processes: a real `idp serve`, two demo
modules (`python -m clients.demo_module`, Authlib's Starlette client) registered at lp-a with
the CLI, and the system Chromium. A student signs in once and every module of the
establishment knows them; signing out of one signs out of all (back-channel logout); a user
of another establishment cannot enter; the module's API accepts only the provider's tokens.
"""

from __future__ import annotations

import base64
import hashlib
import html
import json
import os
import re
import secrets
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, urljoin, urlsplit

import httpx
import pytest
from e2e.conftest import stop_server
from playwright.sync_api import BrowserContext, Page, Request, expect

pytestmark = pytest.mark.browser

REPO = Path(__file__).resolve().parents[2]
SCHOOL = "lp-a"
SCHOOL_NAME = "Lycée professionnel A"
OTHER = "lp-b"
OTHER_NAME = "Lycée professionnel B"
PASSPHRASE = "ma tortue verte lit le journal"
LOGIN_LINK = "Se connecter avec CPRO éducation"
CHANGED = (
    "Votre nouveau mot de passe est enregistré : c'est désormais lui qu'il faut utiliser. "
    "Saisissez-le pour vous connecter."
)
UNKNOWN_LOGIN = "Authentification incorrecte : login inconnu"
MODULE_STARTUP_SECONDS = 30.0
BACKCHANNEL_SECONDS = 5.0
HTTP_SECONDS = 10.0


# -- the two modules -------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Module:
    """A demo module running as its own process, registered as a client of lp-a."""

    name: str
    base_url: str
    client_id: str
    client_secret: str
    log: Path
    process: subprocess.Popen[bytes]

    def url(self, path: str = "/") -> str:
        return f"{self.base_url}{path}"

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""


def _register(provider, name: str, base_url: str) -> tuple[str, str]:  # type: ignore[no-untyped-def]
    out = provider.idp(
        "client",
        "add",
        SCHOOL,
        "--name",
        name,
        "--redirect-uri",
        f"{base_url}/callback",
        "--post-logout-redirect-uri",
        f"{base_url}/",
        "--backchannel-logout-uri",
        f"{base_url}/backchannel-logout",
        "--json",
    )
    created = json.loads(out.strip().splitlines()[-1])
    assert created["client_id"] and created["client_secret"], created
    return str(created["client_id"]), str(created["client_secret"])


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


@pytest.fixture(scope="module")
def modules(provider, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Module, Module]]:  # type: ignore[no-untyped-def]
    directory = tmp_path_factory.mktemp("modules")
    started: list[Module] = []
    try:
        for name in ("Module A", "Module B"):
            base_url = f"http://127.0.0.1:{_free_port()}"
            client_id, client_secret = _register(provider, name, base_url)
            env = dict(os.environ)
            env.update(
                {
                    "DEMO_NAME": name,
                    "DEMO_BASE_URL": base_url,
                    "DEMO_ISSUER": provider.url(f"/{SCHOOL}"),
                    "DEMO_CLIENT_ID": client_id,
                    "DEMO_CLIENT_SECRET": client_secret,
                    "DEMO_SECRET_KEY": secrets.token_urlsafe(32),
                }
            )
            log = directory / f"{name.replace(' ', '-').lower()}.log"
            with log.open("wb") as sink:
                process = subprocess.Popen(
                    [sys.executable, "-m", "clients.demo_module"],
                    cwd=REPO,
                    env=env,
                    stdin=subprocess.DEVNULL,
                    stdout=sink,
                    stderr=subprocess.STDOUT,
                )
            started.append(Module(name, base_url, client_id, client_secret, log, process))
        for module in started:
            deadline = time.monotonic() + MODULE_STARTUP_SECONDS
            while not _answers(module.url("/")):
                if module.process.poll() is not None:
                    pytest.fail(
                        f"{module.name} exited with {module.process.returncode} before "
                        f"answering {module.url('/')}:\n{module.output()}"
                    )
                if time.monotonic() > deadline:
                    pytest.fail(
                        f"{module.name} did not answer {module.url('/')} within "
                        f"{MODULE_STARTUP_SECONDS:.0f} s:\n{module.output()}"
                    )
                time.sleep(0.1)
        yield started[0], started[1]
    finally:
        for module in started:
            stop_server(module.process)


# -- what a user does --------------------------------------------------------------------------


def password_field(page: Page):  # type: ignore[no-untyped-def]
    # exact: « Mot de passe en clair » is a label too.
    return page.get_by_label("Mot de passe", exact=True)


def sign_in(page: Page, login: str, password: str) -> None:
    page.get_by_label("Identifiant").fill(login)
    password_field(page).fill(password)
    page.get_by_role("button", name="SE CONNECTER").click()


def login_page_url(provider) -> re.Pattern[str]:  # type: ignore[no-untyped-def]
    return re.compile(rf"^{re.escape(provider.url(f'/{SCHOOL}/login'))}(\?.*)?$")


def expect_login_page(page: Page, provider) -> None:  # type: ignore[no-untyped-def]
    expect(page).to_have_url(login_page_url(provider))
    expect(page.get_by_role("heading", name="Authentification", level=1)).to_be_visible()
    expect(page.get_by_text(SCHOOL_NAME, exact=True)).to_be_visible()
    expect(password_field(page)).to_be_visible()


def expect_signed_in(page: Page, module: Module, login: str) -> None:
    expect(page).to_have_url(module.url("/"))
    expect(page.locator("#who")).to_have_text(login)
    expect(page.get_by_role("link", name=LOGIN_LINK)).to_have_count(0)


def first_sign_in(page: Page, provider, module: Module, login: str, birth_password: str) -> None:  # type: ignore[no-untyped-def]
    """From the module's home: the birth date, the forced change, the new password."""
    page.goto(module.url("/"))
    expect(page.get_by_role("heading", name=module.name)).to_be_visible()
    page.get_by_role("link", name=LOGIN_LINK).click()
    expect_login_page(page, provider)
    sign_in(page, login, birth_password)

    expect(page.get_by_role("heading", name="Choisissez votre mot de passe")).to_be_visible()
    page.get_by_label("Nouveau mot de passe", exact=True).fill(PASSPHRASE)
    page.get_by_label("Nouveau mot de passe, encore une fois").fill(PASSPHRASE)
    page.get_by_role("button", name="Enregistrer").click()

    # Sign in again, the login already filled in; the pending authorization survives.
    expect_login_page(page, provider)
    expect(page.get_by_role("status")).to_have_text(CHANGED)
    expect(page.get_by_label("Identifiant")).to_have_value(login)
    password_field(page).fill(PASSPHRASE)
    page.get_by_role("button", name="SE CONNECTER").click()
    expect_signed_in(page, module, login)


def navigations(page: Page) -> list[str]:
    """The URLs of the documents the page loads from now on (redirects included)."""
    seen: list[str] = []

    def on_request(request: Request) -> None:
        if request.is_navigation_request():
            seen.append(request.url)

    page.on("request", on_request)
    return seen


def is_signed_in(page: Page) -> bool:
    return page.locator("#who").count() > 0


# -- 1 to 3: one sign-in for every module, one sign-out for all ------------------------------


def test_one_sign_in_for_every_module_and_one_sign_out_for_all(  # type: ignore[no-untyped-def]
    context: BrowserContext, provider, modules: tuple[Module, Module]
) -> None:
    module_a, module_b = modules
    login = provider.new_student()
    page = context.new_page()

    # 1. Module A sends the student to lp-a's login page; first sign-in, forced change,
    #    sign-in again, and back in module A.
    first_sign_in(page, provider, module_a, login, "21052009")
    sub = page.locator("#claim-sub").inner_text()
    assert sub, "module A shows no sub claim"

    # 2. Module B: one click, no password asked, the same user.
    page.goto(module_b.url("/"))
    expect(page.get_by_role("link", name=LOGIN_LINK)).to_be_visible()
    seen = navigations(page)
    page.get_by_role("link", name=LOGIN_LINK).click()
    expect_signed_in(page, module_b, login)
    expect(page.locator("#claim-sub")).to_have_text(sub)
    assert any(url.startswith(provider.url(f"/{SCHOOL}/oidc/authorize")) for url in seen), (
        f"module B did not go through the provider: {seen}"
    )
    assert not any(urlsplit(url).path == f"/{SCHOOL}/login" for url in seen), (
        f"the login page was shown on the way to module B: {seen}"
    )

    # 3. « Se déconnecter » in module A ends the provider's session…
    page.goto(module_a.url("/"))
    expect(page.locator("#who")).to_have_text(login)
    page.get_by_role("link", name="Se déconnecter").click()
    # Back at the module's post_logout_redirect_uri, with the state it sent.
    expect(page).to_have_url(re.compile(rf"^{re.escape(module_a.url('/'))}(\?state=[^&]+)?$"))
    expect(page.get_by_role("link", name=LOGIN_LINK)).to_be_visible()
    page.goto(provider.url(f"/{SCHOOL}"))
    expect_login_page(page, provider)

    # …and, through back-channel logout (sent in the background), module B's session.
    page.goto(module_b.url("/"))
    deadline = time.monotonic() + BACKCHANNEL_SECONDS
    while is_signed_in(page) and time.monotonic() < deadline:
        time.sleep(0.2)
        page.reload()
    assert not is_signed_in(page), (
        f"module B still shows {login} signed in {BACKCHANNEL_SECONDS:.0f} s after the "
        f"sign-out in module A\nprovider:\n{provider.output()}\n"
        f"module B:\n{module_b.output()}"
    )
    seen.clear()
    page.get_by_role("link", name=LOGIN_LINK).click()
    expect_login_page(page, provider)
    assert any(urlsplit(url).path == f"/{SCHOOL}/login" for url in seen)


# -- 4. A user of another establishment ------------------------------------------------------


def test_a_user_of_another_establishment_cannot_enter_a_module(  # type: ignore[no-untyped-def]
    page: Page, provider, modules: tuple[Module, Module]
) -> None:
    module_a, _ = modules
    provider.idp(
        "establishment",
        "create",
        OTHER,
        "--name",
        OTHER_NAME,
        "--uai",
        "0999999F",
        "--email",
        f"b@{OTHER}.example",
    )
    last_name = "".join(secrets.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(8))
    stranger = (
        provider.idp(
            "user",
            "add",
            OTHER,
            "--first-name",
            "Inès",
            "--last-name",
            last_name.capitalize(),
            "--birth-date",
            "2009-02-11",
            "--role",
            "student",
        )
        .strip()
        .splitlines()[-1]
        .strip()
    )

    page.goto(module_a.url("/"))
    page.get_by_role("link", name=LOGIN_LINK).click()
    expect_login_page(page, provider)
    sign_in(page, stranger, "11022009")
    expect(page.get_by_role("alert")).to_contain_text(UNKNOWN_LOGIN)
    expect(page.get_by_text(UNKNOWN_LOGIN, exact=True)).to_be_visible()
    expect(page).to_have_url(login_page_url(provider))
    page.goto(module_a.url("/"))
    expect(page.get_by_role("link", name=LOGIN_LINK)).to_be_visible()
    expect(page.locator("#who")).to_have_count(0)

    # The account exists and its password is right: at its own establishment it works.
    page.goto(provider.url(f"/{OTHER}/login"))
    expect(page.get_by_text(OTHER_NAME, exact=True)).to_be_visible()
    sign_in(page, stranger, "11022009")
    expect(page.get_by_role("heading", name="Choisissez votre mot de passe")).to_be_visible()


# -- 5. The module's API -----------------------------------------------------------------------


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _field(page_html: str, name: str) -> str:
    found = re.search(rf'name="{re.escape(name)}" value="([^"]*)"', page_html)
    assert found, f"no {name} field in the page:\n{page_html[:2000]}"
    return html.unescape(found.group(1))


def code_flow(provider, module: Module, login: str, password: str) -> dict[str, object]:  # type: ignore[no-untyped-def]
    """The authorization code flow with PKCE, by hand (no browser): the module's tokens."""
    issuer = provider.url(f"/{SCHOOL}")
    callback = module.url("/callback")
    verifier = secrets.token_urlsafe(48)
    state = secrets.token_urlsafe(16)
    with httpx.Client(timeout=HTTP_SECONDS, follow_redirects=False) as http:
        meta = http.get(f"{issuer}/.well-known/openid-configuration").json()
        response = http.get(
            meta["authorization_endpoint"],
            params={
                "response_type": "code",
                "client_id": module.client_id,
                "redirect_uri": callback,
                "scope": "openid profile",
                "state": state,
                "nonce": secrets.token_urlsafe(16),
                "code_challenge": _b64url(hashlib.sha256(verifier.encode()).digest()),
                "code_challenge_method": "S256",
            },
        )
        for _ in range(10):  # to the login page
            if not response.is_redirect:
                break
            response = http.get(urljoin(str(response.url), response.headers["location"]))
        assert response.status_code == 200 and 'name="password"' in response.text, (
            response.status_code,
            response.text[:2000],
        )
        response = http.post(
            provider.url(f"/{SCHOOL}/login"),
            data={
                "csrf_token": _field(response.text, "csrf_token"),
                "next": _field(response.text, "next"),
                "login": login,
                "password": password,
            },
        )
        location = ""
        for _ in range(10):  # back to the module's callback, which is not followed
            assert response.is_redirect, (response.status_code, response.text[:2000])
            location = urljoin(str(response.url), response.headers["location"])
            if location.startswith(callback):
                break
            response = http.get(location)
        assert location.startswith(callback), location
        query = parse_qs(urlsplit(location).query)
        assert query.get("state") == [state], query
        token = http.post(
            meta["token_endpoint"],
            data={
                "grant_type": "authorization_code",
                "code": query["code"][0],
                "redirect_uri": callback,
                "code_verifier": verifier,
            },
            auth=(module.client_id, module.client_secret),
        )
        assert token.status_code == 200, (token.status_code, token.text)
        return dict(token.json())


def tampered(jwt: str) -> str:
    """The same token with one character of its signature changed (the first one: all of its
    bits count, unlike the last one's)."""
    header, payload, signature = jwt.split(".")
    flipped = "B" if signature[0] != "B" else "C"
    return f"{header}.{payload}.{flipped}{signature[1:]}"


def expect_invalid_token(response: httpx.Response) -> None:
    assert response.status_code == 401, (response.status_code, response.text)
    assert response.headers.get("www-authenticate", "").startswith(
        'Bearer error="invalid_token"'
    ), response.headers.get("www-authenticate")


def test_the_module_api_accepts_only_the_providers_tokens_for_it(  # type: ignore[no-untyped-def]
    context: BrowserContext, provider, modules: tuple[Module, Module]
) -> None:
    module_a, module_b = modules
    login = provider.new_student()
    page = context.new_page()
    first_sign_in(page, provider, module_a, login, "21052009")
    sub = page.locator("#claim-sub").inner_text()

    # Signed in, in the browser: the module's API knows the user.
    me = context.request.get(module_a.url("/api/me"))
    assert me.status == 200, (me.status, me.text())
    assert me.json()["sub"] == sub
    assert me.json()["module"] == module_a.name

    with httpx.Client(timeout=HTTP_SECONDS) as http:
        api = module_a.url("/api/me")
        # No browser, no token: refused, with the Bearer challenge.
        bare = http.get(api)
        assert bare.status_code == 401, (bare.status_code, bare.text)
        assert bare.headers.get("www-authenticate", "").startswith("Bearer"), bare.headers
        # A made-up token: refused as invalid.
        expect_invalid_token(http.get(api, headers={"Authorization": "Bearer garbage"}))

        # A real access token for module A is accepted; with its signature changed, not.
        access_token = str(code_flow(provider, module_a, login, PASSPHRASE)["access_token"])
        assert access_token.count(".") == 2, "the access token is not a JWT"
        good = http.get(api, headers={"Authorization": f"Bearer {access_token}"})
        assert good.status_code == 200, (good.status_code, good.text)
        assert good.json()["sub"] == sub
        expect_invalid_token(
            http.get(api, headers={"Authorization": f"Bearer {tampered(access_token)}"})
        )

        # A valid token issued to module B is not one for module A (audience).
        other = str(code_flow(provider, module_b, login, PASSPHRASE)["access_token"])
        own = http.get(module_b.url("/api/me"), headers={"Authorization": f"Bearer {other}"})
        assert own.status_code == 200, (own.status_code, own.text)
        expect_invalid_token(http.get(api, headers={"Authorization": f"Bearer {other}"}))
