"""Consent (OIDC Core 3.1.2.4, RFC 6749 §4.1.2.1 access_denied): asked for third-party clients,
remembered for the session, asked again on prompt=consent."""

from __future__ import annotations

from html.parser import HTMLParser
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import pytest

from idp.services import clients
from oauth_support import REDIRECT, Browser, Provider, Registered

STATE = "st-consent-7"


@pytest.fixture
def partner(provider, school_a) -> Registered:  # type: ignore[no-untyped-def]
    created = provider.rt.run(
        clients.add,
        school_a,
        name="Éditeur partenaire",
        redirect_uris_=[REDIRECT],
        third_party=True,
    )
    return Registered(created.client.client_id, created.secret)


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


def module_params(response: httpx.Response) -> dict[str, str]:
    assert response.status_code == 302, (response.status_code, response.text[:300])
    location = response.headers["location"]
    assert location.startswith(REDIRECT + "?"), location
    return {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}


class ConsentForm(HTMLParser):
    def __init__(self, html: str) -> None:
        super().__init__()
        self.action: str | None = None
        self.fields: dict[str, str | None] = {}
        self.buttons: list[tuple[str | None, str | None]] = []
        self.items: list[str] = []
        self._in_li = False
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "form" and (a.get("method") or "").lower() == "post":
            self.action = a.get("action")
        elif tag == "input" and a.get("type") == "hidden":
            self.fields[a["name"] or ""] = a.get("value")
        elif tag == "button":
            self.buttons.append((a.get("name"), a.get("value")))
        elif tag == "li":
            self._in_li = True
            self.items.append("")

    def handle_data(self, data: str) -> None:
        if self._in_li:
            self.items[-1] += data

    def handle_endtag(self, tag: str) -> None:
        if tag == "li":
            self._in_li = False


def consent_page(response: httpx.Response) -> ConsentForm:
    assert response.status_code == 200, (response.status_code, response.headers.get("location"))
    assert response.headers["cache-control"] == "no-store"
    form = ConsentForm(response.text)
    assert form.action == "/lp-a/oidc/authorize/consent"
    assert ("decision", "approve") in form.buttons
    assert ("decision", "deny") in form.buttons
    assert form.fields.get("csrf_token") and form.fields.get("request")
    return form


def decide(browser: Browser, form: ConsentForm, decision: str) -> httpx.Response:
    response = browser.http.post(
        browser.provider.base_url + (form.action or ""), data={**form.fields, "decision": decision}
    )
    if response.status_code == 303:  # back to the stored request, then to the module
        return browser.go(browser.provider.base_url + response.headers["location"])
    return response


def redeem(provider: Provider, client: Registered, code: str) -> httpx.Response:
    return httpx.post(
        f"{provider.issuer('lp-a')}/oidc/token",
        data={"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT},
        auth=(client.client_id, client.client_secret),
    )


SCOPE_TEXTS = {
    "openid": "savoir qui vous êtes",
    "profile": "votre nom, votre prénom et votre identifiant",
    "email": "votre adresse électronique",
    "cpro": "votre établissement, votre rôle et vos classes",
    "offline_access": "rester connectée à votre compte",
}


def test_a_third_party_client_asks_consent_listing_the_scopes(provider, school_a, partner, browser):
    page = browser.go(
        authorize_url(provider, partner.client_id, scope="openid email cpro"), login="lea.martin"
    )
    form = consent_page(page)
    assert "Éditeur partenaire" in page.text
    listed = " ".join(form.items)
    for scope in ("openid", "email", "cpro"):
        assert SCOPE_TEXTS[scope] in listed, scope
    for scope in ("profile", "offline_access"):
        assert SCOPE_TEXTS[scope] not in listed, scope

    params = module_params(decide(browser, form, "approve"))
    assert params["state"] == STATE and params["iss"] == provider.issuer("lp-a")
    token = redeem(provider, partner, params["code"])
    assert token.status_code == 200, token.text
    assert token.json()["scope"] == "openid email cpro"

    # The same session does not ask again.
    again = browser.http.get(authorize_url(provider, partner.client_id, scope="openid email cpro"))
    assert module_params(again)["code"]


def test_denying_consent_returns_access_denied(provider, school_a, partner, browser):
    form = consent_page(browser.go(authorize_url(provider, partner.client_id), login="lea.martin"))
    params = module_params(decide(browser, form, "deny"))
    assert params["error"] == "access_denied"
    assert params["state"] == STATE
    assert params["iss"] == provider.issuer("lp-a")
    assert "code" not in params
    # A denial is not remembered as a consent.
    consent_page(browser.http.get(authorize_url(provider, partner.client_id)))


def test_consent_cannot_be_given_without_the_csrf_token(provider, school_a, partner, browser):
    form = consent_page(browser.go(authorize_url(provider, partner.client_id), login="lea.martin"))
    forged = browser.http.post(
        provider.base_url + "/lp-a/oidc/authorize/consent",
        data={"request": form.fields["request"], "decision": "approve"},
    )
    assert "code=" not in forged.headers.get("location", "")
    # Still not consented: the next request asks again.
    consent_page(browser.http.get(authorize_url(provider, partner.client_id)))


def test_prompt_consent_asks_even_a_first_party_client(provider, school_a, module, browser):
    first = browser.go(authorize_url(provider, module.client_id), login="lea.martin")
    assert module_params(first)["code"]  # first-party: no consent page by default

    form = consent_page(
        browser.http.get(
            authorize_url(provider, module.client_id, prompt="consent", scope="openid profile")
        )
    )
    assert SCOPE_TEXTS["profile"] in " ".join(form.items)
    params = module_params(decide(browser, form, "approve"))
    assert params["state"] == STATE and params["iss"] == provider.issuer("lp-a")
    assert redeem(provider, module, params["code"]).status_code == 200

    # prompt=consent asks every time it is sent.
    consent_page(browser.http.get(authorize_url(provider, module.client_id, prompt="consent")))


def test_prompt_none_after_consent_gives_a_code(provider, school_a, partner, browser):
    form = consent_page(browser.go(authorize_url(provider, partner.client_id), login="lea.martin"))
    module_params(decide(browser, form, "approve"))
    response = browser.http.get(authorize_url(provider, partner.client_id, prompt="none"))
    assert module_params(response)["code"]
