"""Tenant isolation: each establishment is its own issuer, with its own clients, users, codes,
tokens, keys and sessions; nothing of lp-a is accepted at lp-b."""

from __future__ import annotations

from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import pytest
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from helpers import csrf_from
from idp.services import clients
from oauth_support import PASSWORD, REDIRECT, Browser, Provider, Registered, pkce


def endpoint(provider: Provider, code: str, name: str) -> str:
    return f"{provider.issuer(code)}/oidc/{name}"


def authorize_query(client_id: str, challenge: str, **params: str) -> str:
    return urlencode(
        {
            "response_type": "code",
            "client_id": client_id,
            "redirect_uri": REDIRECT,
            "scope": "openid offline_access",
            "state": "st-iso",
            "code_challenge": challenge,
            "code_challenge_method": "S256",
            **params,
        }
    )


def code_at_a(provider: Provider, browser: Browser, module: Registered) -> tuple[str, str]:
    verifier, challenge = pkce()
    response = browser.go(
        f"{endpoint(provider, 'lp-a', 'authorize')}?{authorize_query(module.client_id, challenge)}",
        login="lea.martin",
    )
    assert response.status_code == 302, response.text[:300]
    return parse_qs(urlsplit(response.headers["location"]).query)["code"][0], verifier


def redeem(
    provider: Provider, school: str, client: Registered, code: str, verifier: str
) -> httpx.Response:
    return httpx.post(
        endpoint(provider, school, "token"),
        data={
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": REDIRECT,
            "code_verifier": verifier,
        },
        auth=(client.client_id, client.client_secret),
    )


@pytest.fixture
def module_b(provider, school_b) -> Registered:  # type: ignore[no-untyped-def]
    created = provider.rt.run(
        clients.add, school_b, name="C Pro STI (B)", redirect_uris_=[REDIRECT]
    )
    return Registered(created.client.client_id, created.secret)


def test_a_client_of_lp_a_is_unknown_at_lp_b(provider, school_a, school_b, module):
    _, challenge = pkce()
    response = httpx.get(
        f"{endpoint(provider, 'lp-b', 'authorize')}?{authorize_query(module.client_id, challenge)}"
    )
    assert response.status_code == 400
    assert "location" not in response.headers
    assert "invalid_client" in response.text


def test_a_code_of_lp_a_is_refused_at_lp_b(provider, school_a, school_b, module, module_b, browser):
    code, verifier = code_at_a(provider, browser, module)
    # lp-a's client does not exist at lp-b.
    as_a = redeem(provider, "lp-b", module, code, verifier)
    assert as_a.status_code == 401
    assert as_a.json()["error"] == "invalid_client"
    # An lp-b client, well authenticated at lp-b, cannot use lp-a's code either.
    as_b = redeem(provider, "lp-b", module_b, code, verifier)
    assert as_b.status_code == 400
    assert as_b.json()["error"] == "invalid_grant"
    # And the attempts at lp-b did not touch the code at lp-a.
    assert redeem(provider, "lp-a", module, code, verifier).status_code == 200


def test_tokens_of_lp_a_are_refused_at_lp_b(
    provider, school_a, school_b, module, module_b, browser
):
    code, verifier = code_at_a(provider, browser, module)
    tokens = redeem(provider, "lp-a", module, code, verifier).json()

    at_b = httpx.get(
        endpoint(provider, "lp-b", "userinfo"),
        headers={"Authorization": f"Bearer {tokens['access_token']}"},
    )
    assert at_b.status_code == 401
    assert 'error="invalid_token"' in at_b.headers["www-authenticate"]

    refreshed_at_b = httpx.post(
        endpoint(provider, "lp-b", "token"),
        data={"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]},
        auth=(module_b.client_id, module_b.client_secret),
    )
    assert refreshed_at_b.status_code == 400
    assert refreshed_at_b.json()["error"] == "invalid_grant"

    # lp-a's tokens are signed with keys lp-b does not publish.
    keys_b = KeySet.import_key_set(httpx.get(endpoint(provider, "lp-b", "jwks")).json())
    for name in ("access_token", "id_token"):
        with pytest.raises(JoseError):
            jwt.decode(tokens[name], keys_b, algorithms=["RS256", "ES256"])

    # Still good where they were issued.
    at_a = httpx.get(
        endpoint(provider, "lp-a", "userinfo"),
        headers={"Authorization": f"Bearer {tokens['access_token']}"},
    )
    assert at_a.status_code == 200


def test_a_session_at_lp_a_does_not_sign_in_at_lp_b(
    provider, school_a, school_b, module, module_b, browser
):
    code_at_a(provider, browser, module)
    _, challenge = pkce()
    response = browser.http.get(
        f"{endpoint(provider, 'lp-b', 'authorize')}?"
        + authorize_query(module_b.client_id, challenge, prompt="none")
    )
    assert response.status_code == 302
    params = parse_qs(urlsplit(response.headers["location"]).query)
    assert params["error"] == ["login_required"]
    assert params["iss"] == [provider.issuer("lp-b")]


def test_a_user_of_lp_b_cannot_sign_in_at_lp_a(provider, school_a, school_b, browser):
    page = browser.http.get(f"{provider.issuer('lp-a')}/login")
    response = browser.http.post(
        f"{provider.issuer('lp-a')}/login",
        data={"csrf_token": csrf_from(page.text), "login": "hugo.bernard", "password": PASSWORD},
    )
    assert response.status_code == 200
    assert "Authentification incorrecte : login inconnu" in response.text
    # No session cookie, neither lp-a's nor lp-b's.
    set_cookies = response.headers.get_list("set-cookie")
    assert not any(c.startswith(("cpro-lp-a=", "cpro-lp-b=")) for c in set_cookies), set_cookies
    # The same account signs in at its own establishment.
    page_b = browser.http.get(f"{provider.issuer('lp-b')}/login")
    signed_in = browser.http.post(
        f"{provider.issuer('lp-b')}/login",
        data={"csrf_token": csrf_from(page_b.text), "login": "hugo.bernard", "password": PASSWORD},
    )
    assert signed_in.status_code == 303
    assert any(c.startswith("cpro-lp-b=") for c in signed_in.headers.get_list("set-cookie"))
