"""id_token_hint at the authorization endpoint (OIDC Core 3.1.2.1)."""

from __future__ import annotations

from datetime import date

import httpx

from idp.accounts.roles import Role
from idp.services import accounts
from oauth_support import PASSWORD, REDIRECT, callback_params, pkce


def authorize_url(provider, school, client_id, **extra):  # type: ignore[no-untyped-def]
    _, challenge = pkce()
    query = {
        "response_type": "code",
        "client_id": client_id,
        "redirect_uri": REDIRECT,
        "scope": "openid",
        "state": "st",
        "code_challenge": challenge,
        "code_challenge_method": "S256",
        **extra,
    }
    return f"{provider.issuer(school)}/oidc/authorize?{httpx.QueryParams(query)}"


def id_token_of(provider, school, module, browser, login):  # type: ignore[no-untyped-def]
    verifier, challenge = pkce()
    query = {
        "response_type": "code",
        "client_id": module.client_id,
        "redirect_uri": REDIRECT,
        "scope": "openid",
        "code_challenge": challenge,
        "code_challenge_method": "S256",
    }
    code = callback_params(
        browser.go(
            f"{provider.issuer(school)}/oidc/authorize?{httpx.QueryParams(query)}", login=login
        )
    )["code"]
    with httpx.Client() as http:
        return http.post(
            f"{provider.issuer(school)}/oidc/token",
            data={
                "grant_type": "authorization_code",
                "code": code,
                "redirect_uri": REDIRECT,
                "code_verifier": verifier,
            },
            auth=(module.client_id, module.client_secret),
        ).json()["id_token"]


def test_a_hint_for_the_signed_in_user_is_answered_silently(provider, school_a, module, browser):
    hint = id_token_of(provider, school_a, module, browser, "lea.martin")
    response = browser.http.get(
        authorize_url(provider, school_a, module.client_id, prompt="none", id_token_hint=hint)
    )
    assert "code" in callback_params(response)


def test_a_hint_for_another_user_needs_a_sign_in(provider, school_a, module, browser):
    provider.rt.run(
        accounts.add,
        school_a,
        first_name="Hugo",
        last_name="Bernard",
        birth_date=date(2008, 11, 2),
        role=Role.STUDENT,
    )
    provider.rt.run(accounts.set_password, school_a, "hugo.bernard", PASSWORD, temporary=False)
    hugo_hint = id_token_of(provider, school_a, module, browser, "hugo.bernard")
    browser.http.cookies.clear()
    id_token_of(provider, school_a, module, browser, "lea.martin")  # Léa is signed in now
    silent = browser.http.get(
        authorize_url(provider, school_a, module.client_id, prompt="none", id_token_hint=hugo_hint)
    )
    assert callback_params(silent)["error"] == "login_required"
    interactive = browser.http.get(
        authorize_url(provider, school_a, module.client_id, id_token_hint=hugo_hint)
    )
    assert interactive.status_code == 303 and "/login?" in interactive.headers["location"]


def test_a_forged_hint_is_invalid_request(provider, school_a, module, browser):
    hint = id_token_of(provider, school_a, module, browser, "lea.martin")
    forged = hint[:-4] + ("AAAA" if not hint.endswith("AAAA") else "BBBB")
    params = callback_params(
        browser.http.get(authorize_url(provider, school_a, module.client_id, id_token_hint=forged))
    )
    assert params["error"] == "invalid_request" and params["state"] == "st"


def test_a_suspended_establishment_stops_its_tokens(provider, school_a, module, browser, idp_cli):
    verifier, challenge = pkce()
    query = {
        "response_type": "code",
        "client_id": module.client_id,
        "redirect_uri": REDIRECT,
        "scope": "openid",
        "code_challenge": challenge,
        "code_challenge_method": "S256",
    }
    code = callback_params(
        browser.go(
            f"{provider.issuer(school_a)}/oidc/authorize?{httpx.QueryParams(query)}",
            login="lea.martin",
        )
    )["code"]
    with httpx.Client() as http:
        token = http.post(
            f"{provider.issuer(school_a)}/oidc/token",
            data={
                "grant_type": "authorization_code",
                "code": code,
                "redirect_uri": REDIRECT,
                "code_verifier": verifier,
            },
            auth=(module.client_id, module.client_secret),
        ).json()
        assert idp_cli("establishment", "disable", school_a).exit_code == 0
        info = http.get(
            f"{provider.issuer(school_a)}/oidc/userinfo",
            headers={"Authorization": f"Bearer {token['access_token']}"},
        )
        refused = http.post(
            f"{provider.issuer(school_a)}/oidc/token",
            data={"grant_type": "client_credentials"},
            auth=(module.client_id, module.client_secret),
        )
    assert info.status_code == 401 and "suspended" in info.headers["www-authenticate"]
    assert refused.status_code == 401 and refused.json()["error"] == "invalid_client"
    page = browser.http.get(f"{provider.issuer(school_a)}/login")
    assert page.status_code == 403 and "est suspendu" in page.text
