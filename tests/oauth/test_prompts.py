"""Sessions and prompts (OIDC Core 3.1.2.1, 3.1.2.3): single sign-on, prompt=login, max_age,
login_hint, and the form_post response mode (OAuth 2.0 Form Post Response Mode)."""

from __future__ import annotations

import re
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from html.parser import HTMLParser
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
from joserfc import jwt
from joserfc.jwk import KeySet
from sqlalchemy import update

from idp.models import User
from idp.services import clients
from oauth_support import PASSWORD, REDIRECT, Browser, Provider, Registered

STATE = "st-prompts-1"


def authorize_url(provider: Provider, client_id: str, **params: str) -> str:
    query = {
        "response_type": "code",
        "client_id": client_id,
        "redirect_uri": REDIRECT,
        "scope": "openid",
        "state": STATE,
        **params,
    }
    return f"{provider.issuer('lp-a')}/oidc/authorize?{urlencode(query)}"


def code_from(provider: Provider, response: httpx.Response) -> str:
    assert response.status_code == 302, (response.status_code, response.text[:300])
    location = response.headers["location"]
    assert location.startswith(REDIRECT + "?"), location
    params = {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}
    assert params["state"] == STATE
    assert params["iss"] == provider.issuer("lp-a")
    return params["code"]


def id_token(provider: Provider, client: Registered, code: str) -> dict[str, Any]:
    response = httpx.post(
        f"{provider.issuer('lp-a')}/oidc/token",
        data={"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT},
        auth=(client.client_id, client.client_secret),
    )
    assert response.status_code == 200, response.text
    keys = KeySet.import_key_set(httpx.get(f"{provider.issuer('lp-a')}/oidc/jwks").json())
    return jwt.decode(response.json()["id_token"], keys, algorithms=["RS256"]).claims


def is_login_page(response: httpx.Response) -> bool:
    return (
        response.status_code == 200
        and urlsplit(str(response.url)).path == "/lp-a/login"
        and 'name="password"' in response.text
    )


def sign_in_on(browser: Browser, page: httpx.Response, login: str = "lea.martin") -> httpx.Response:
    """Fill the login page the browser is on, then follow the provider's redirects."""
    after = browser.sign_in(str(page.url), login, PASSWORD)
    assert after.status_code == 303, after.text[:300]
    return browser.go(browser.provider.base_url + after.headers["location"])


def ts(moment: datetime) -> int:
    return int(moment.timestamp())


def test_single_sign_on_gives_codes_without_any_form(provider, school_a, module, browser, clock):
    other = provider.rt.run(clients.add, school_a, name="C Pro Vente", redirect_uris_=[REDIRECT])
    other_client = Registered(other.client.client_id, other.secret)
    signed_in_at = ts(clock.now())
    first = id_token(
        provider,
        module,
        code_from(
            provider, browser.go(authorize_url(provider, module.client_id), login="lea.martin")
        ),
    )
    clock.advance(minutes=3)

    # No form at all: the very first response is the redirect to the module.
    same_client = browser.http.get(authorize_url(provider, module.client_id))
    second = id_token(provider, module, code_from(provider, same_client))
    another_client = browser.http.get(authorize_url(provider, other_client.client_id))
    third = id_token(provider, other_client, code_from(provider, another_client))

    assert first["sub"] == second["sub"] == third["sub"]
    assert first["sid"] == second["sid"] == third["sid"]
    assert first["auth_time"] == second["auth_time"] == third["auth_time"] == signed_in_at
    assert third["aud"] == other_client.client_id


def test_no_single_sign_on_without_the_session_cookie(provider, school_a, module, browser):
    code_from(provider, browser.go(authorize_url(provider, module.client_id), login="lea.martin"))
    with httpx.Client() as stranger:
        response = stranger.get(authorize_url(provider, module.client_id))
    assert response.status_code in (302, 303)
    assert urlsplit(response.headers["location"]).path == "/lp-a/login"


def test_prompt_login_forces_the_login_page_even_with_a_session(
    provider, school_a, module, browser, clock
):
    code_from(provider, browser.go(authorize_url(provider, module.client_id), login="lea.martin"))
    clock.advance(minutes=5)
    page = browser.go(authorize_url(provider, module.client_id, prompt="login"))
    assert is_login_page(page)

    # Going back to the stored request without signing in again does not give a code.
    resume = parse_qs(urlsplit(str(page.url)).query)["next"][0]
    assert is_login_page(browser.go(provider.base_url + resume))

    resigned_at = ts(clock.now())
    claims = id_token(provider, module, code_from(provider, sign_in_on(browser, page)))
    assert claims["auth_time"] == resigned_at


def test_max_age_forces_a_new_sign_in_once_passed(provider, school_a, module, browser, clock):
    signed_in_at = ts(clock.now())
    code_from(provider, browser.go(authorize_url(provider, module.client_id), login="lea.martin"))
    clock.advance(seconds=120)

    # Within max_age: the session is enough, and auth_time is the first sign-in.
    recent = browser.http.get(authorize_url(provider, module.client_id, max_age="600"))
    assert id_token(provider, module, code_from(provider, recent))["auth_time"] == signed_in_at

    # Past max_age: the login page, then auth_time is the new sign-in.
    page = browser.go(authorize_url(provider, module.client_id, max_age="60"))
    assert is_login_page(page)
    clock.advance(seconds=7)
    resigned_at = ts(clock.now())
    claims = id_token(provider, module, code_from(provider, sign_in_on(browser, page)))
    assert claims["auth_time"] == resigned_at != signed_in_at


def test_max_age_zero_always_asks_to_sign_in(provider, school_a, module, browser, clock):
    code_from(provider, browser.go(authorize_url(provider, module.client_id), login="lea.martin"))
    clock.advance(seconds=1)
    assert is_login_page(browser.go(authorize_url(provider, module.client_id, max_age="0")))


def test_login_hint_prefills_the_login_field(provider, school_a, module, browser):
    page = browser.go(authorize_url(provider, module.client_id, login_hint="jean.dupont"))
    assert is_login_page(page)
    field = re.search(r'<input[^>]*\bname="login"[^>]*>', page.text)
    assert field is not None
    assert 'value="jean.dupont"' in field.group(0)

    plain = browser.go(authorize_url(provider, module.client_id))
    field = re.search(r'<input[^>]*\bname="login"[^>]*>', plain.text)
    assert field is not None and 'value=""' in field.group(0)


# -- response_mode=form_post -------------------------------------------------------------------


class Page(HTMLParser):
    def __init__(self, html: str) -> None:
        super().__init__()
        self.forms: list[dict[str, Any]] = []
        self.scripts: list[dict[str, Any]] = []
        self.handlers: list[str] = []
        self._script: dict[str, Any] | None = None
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        self.handlers += [name for name, _ in attrs if name.startswith("on")]
        if tag == "form":
            self.forms.append({**attributes, "fields": {}})
        elif tag == "input" and attributes.get("type") == "hidden" and self.forms:
            self.forms[-1]["fields"][attributes["name"]] = attributes.get("value")
        elif tag == "script":
            self._script = {**attributes, "body": ""}
            self.scripts.append(self._script)

    def handle_data(self, data: str) -> None:
        if self._script is not None:
            self._script["body"] += data

    def handle_endtag(self, tag: str) -> None:
        if tag == "script":
            self._script = None


def assert_form_post_page(response: httpx.Response) -> dict[str, str]:
    assert response.status_code == 200, (response.status_code, response.headers.get("location"))
    assert "location" not in response.headers
    assert response.headers["content-type"].startswith("text/html")
    assert response.headers["cache-control"] == "no-store"
    page = Page(response.text)
    assert len(page.forms) == 1
    form = page.forms[0]
    assert form["method"].lower() == "post"
    assert form["action"] == REDIRECT
    # The script is external (the CSP forbids inline scripts): no inline code, no handlers.
    assert [s.get("src") for s in page.scripts] == ["/static/js/form-post.js"]
    assert all(not s["body"].strip() for s in page.scripts)
    assert page.handlers == []
    assert "javascript:" not in response.text
    assert "'unsafe-inline'" not in response.headers["content-security-policy"]
    return form["fields"]


def test_form_post_returns_a_self_posting_form(provider, school_a, module, browser):
    response = browser.go(
        authorize_url(provider, module.client_id, response_mode="form_post"), login="lea.martin"
    )
    fields = assert_form_post_page(response)
    assert set(fields) == {"code", "state", "iss"}
    assert fields["state"] == STATE
    assert fields["iss"] == provider.issuer("lp-a")
    assert id_token(provider, module, fields["code"])["aud"] == module.client_id
    script = httpx.get(provider.base_url + "/static/js/form-post.js")
    assert script.status_code == 200 and "submit()" in script.text


def test_form_post_carries_errors_too(provider, school_a, module, browser):
    response = browser.http.get(
        authorize_url(provider, module.client_id, response_mode="form_post", prompt="none")
    )
    fields = assert_form_post_page(response)
    assert fields["error"] == "login_required"
    assert fields["state"] == STATE
    assert fields["iss"] == provider.issuer("lp-a")
    assert "code" not in fields


def test_sso_session_does_not_outlive_its_idle_limit(provider, school_a, module, browser, clock):
    code_from(provider, browser.go(authorize_url(provider, module.client_id), login="lea.martin"))
    clock.advance(provider.rt.settings.session_idle + timedelta(minutes=1))
    response = browser.http.get(authorize_url(provider, module.client_id, prompt="none"))
    assert response.status_code == 302
    assert parse_qs(urlsplit(response.headers["location"]).query)["error"] == ["login_required"]


def test_sso_session_used_within_its_idle_limit_stays_alive(
    provider, school_a, module, browser, clock
):
    """Each authorization request a session serves counts as activity (at most one write a
    minute): used every two thirds of the idle limit, it never lapses."""
    code_from(provider, browser.go(authorize_url(provider, module.client_id), login="lea.martin"))
    step = provider.rt.settings.session_idle * 2 / 3
    for _ in range(3):
        clock.advance(step)
        code_from(
            provider, browser.http.get(authorize_url(provider, module.client_id, prompt="none"))
        )


def test_sso_session_of_a_deactivated_account_is_not_honoured(provider, school_a, module, browser):
    """Even if its session row were left live (deactivation ends them; a row changed by
    hand does not), an inactive account gets no code from the session."""
    code_from(provider, browser.go(authorize_url(provider, module.client_id), login="lea.martin"))
    with provider.rt.database.session() as session:
        session.execute(update(User).where(User.login == "lea.martin").values(active=False))
    response = browser.http.get(authorize_url(provider, module.client_id, prompt="none"))
    assert response.status_code == 302
    assert parse_qs(urlsplit(response.headers["location"]).query)["error"] == ["login_required"]


def test_one_session_serves_several_modules_at_the_same_moment(
    provider, school_a, module, browser, clock
):
    """A browser opening several modules at once, its session due to be marked as seen:
    every request gets its code (on PostgreSQL the marks queue on the session's row)."""
    code_from(provider, browser.go(authorize_url(provider, module.client_id), login="lea.martin"))
    clock.advance(timedelta(minutes=5))
    cookies = dict(browser.http.cookies)
    url = authorize_url(provider, module.client_id, prompt="none")
    start = threading.Barrier(8)

    def open_module(_: int) -> str:
        with httpx.Client(cookies=cookies, follow_redirects=False, timeout=30) as http:
            start.wait()
            return code_from(provider, http.get(url))

    with ThreadPoolExecutor(8) as pool:
        codes = list(pool.map(open_module, range(8)))
    assert len(set(codes)) == 8
    # Marked as seen: still live after another idle limit counted from the sign-in.
    clock.advance(provider.rt.settings.session_idle - timedelta(minutes=2))
    code_from(provider, browser.http.get(url))
