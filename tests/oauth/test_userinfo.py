"""The UserInfo endpoint (OIDC Core 5.3, RFC 6750 §2-3) and the `claims` request parameter
(OIDC Core 5.5)."""

from __future__ import annotations

import base64
import json
import secrets
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import pytest
from joserfc import jwt
from joserfc.jwk import KeySet
from sqlalchemy import select

from idp.models import Establishment
from oauth_support import REDIRECT, Browser, Provider, Registered, pkce


def endpoint(provider: Provider, name: str) -> str:
    return f"{provider.issuer('lp-a')}/oidc/{name}"


def tokens_for(
    provider: Provider, browser: Browser, client: Registered, scope: str = "openid", **params: str
) -> dict[str, Any]:
    verifier, challenge = pkce()
    query = {
        "response_type": "code",
        "client_id": client.client_id,
        "redirect_uri": REDIRECT,
        "scope": scope,
        "state": "st-u",
        "code_challenge": challenge,
        "code_challenge_method": "S256",
        **params,
    }
    response = browser.go(
        f"{endpoint(provider, 'authorize')}?{urlencode(query)}", login="lea.martin"
    )
    code = parse_qs(urlsplit(response.headers["location"]).query)["code"][0]
    token = httpx.post(
        endpoint(provider, "token"),
        data={
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": REDIRECT,
            "code_verifier": verifier,
        },
        auth=(client.client_id, client.client_secret),
    )
    assert token.status_code == 200, token.text
    return token.json()


def assert_invalid_token(response: httpx.Response) -> None:
    """RFC 6750 §3.1: 401 with a Bearer challenge carrying error="invalid_token"."""
    assert response.status_code == 401, response.text
    challenge = response.headers["www-authenticate"]
    assert challenge.startswith("Bearer "), challenge
    assert 'error="invalid_token"' in challenge
    assert "sub" not in response.json()


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_userinfo_by_get_post_header_or_form(provider, school_a, module, browser):
    access = tokens_for(provider, browser, module, scope="openid profile")["access_token"]
    by_get = httpx.get(endpoint(provider, "userinfo"), headers=bearer(access))
    by_post = httpx.post(endpoint(provider, "userinfo"), headers=bearer(access))
    by_form = httpx.post(endpoint(provider, "userinfo"), data={"access_token": access})
    for response in (by_get, by_post, by_form):
        assert response.status_code == 200, response.text
        assert response.headers["content-type"].startswith("application/json")
    assert by_get.json() == by_post.json() == by_form.json()
    assert by_get.json()["preferred_username"] == "lea.martin"
    assert set(by_get.json()) == {"sub", "preferred_username", "given_name", "family_name", "name"}


def test_userinfo_without_a_token_asks_for_one(provider, school_a, module):
    for response in (
        httpx.get(endpoint(provider, "userinfo")),
        httpx.post(endpoint(provider, "userinfo")),
        httpx.get(endpoint(provider, "userinfo"), headers={"Authorization": "Basic Zm9vOmJhcg=="}),
    ):
        assert response.status_code == 401
        challenge = response.headers["www-authenticate"]
        # RFC 6750 §3.1: no credentials at all, so a bare challenge with no error code.
        assert challenge.split()[0] == "Bearer"
        assert "error=" not in challenge


def test_an_expired_access_token_is_refused(provider, school_a, module, browser, clock):
    access = tokens_for(provider, browser, module)["access_token"]
    clock.advance(minutes=9)
    assert httpx.get(endpoint(provider, "userinfo"), headers=bearer(access)).status_code == 200
    clock.advance(minutes=2)
    assert_invalid_token(httpx.get(endpoint(provider, "userinfo"), headers=bearer(access)))
    assert_invalid_token(httpx.post(endpoint(provider, "userinfo"), data={"access_token": access}))


def test_a_tampered_access_token_is_refused(provider, school_a, module, browser):
    access = tokens_for(provider, browser, module)["access_token"]
    header, payload, signature = access.split(".")
    i = len(signature) // 2
    flipped = signature[:i] + ("A" if signature[i] != "A" else "B") + signature[i + 1 :]
    assert_invalid_token(
        httpx.get(endpoint(provider, "userinfo"), headers=bearer(f"{header}.{payload}.{flipped}"))
    )
    # A payload changed (more scope) with the original signature: refused too.
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["scope"] = "openid profile email cpro"
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    assert_invalid_token(
        httpx.get(endpoint(provider, "userinfo"), headers=bearer(f"{header}.{forged}.{signature}"))
    )


def test_an_unknown_access_token_is_refused(provider, school_a, module, browser):
    assert_invalid_token(
        httpx.get(endpoint(provider, "userinfo"), headers=bearer(secrets.token_urlsafe(32)))
    )
    # Well signed by the establishment's own key, but never issued: refused as well.
    real = tokens_for(provider, browser, module)["access_token"]
    claims = jwt.decode(
        real,
        KeySet.import_key_set(httpx.get(endpoint(provider, "jwks")).json()),
        algorithms=["ES256"],
    ).claims
    with provider.rt.database.session() as session:
        establishment_id = session.scalars(
            select(Establishment.id).where(Establishment.code == "lp-a")
        ).one()
        key = provider.rt.keys.signing_key(session, establishment_id, "RS256")
    never_issued = jwt.encode(
        {"alg": "RS256", "kid": key.kid, "typ": "at+jwt"},
        {**claims, "jti": secrets.token_hex(16)},
        key,
        algorithms=["RS256"],
    )
    assert_invalid_token(httpx.get(endpoint(provider, "userinfo"), headers=bearer(never_issued)))


def test_an_id_token_is_not_an_access_token(provider, school_a, module, browser):
    tokens = tokens_for(provider, browser, module)
    assert_invalid_token(
        httpx.get(endpoint(provider, "userinfo"), headers=bearer(tokens["id_token"]))
    )


def test_the_claims_parameter_puts_a_granted_claim_in_the_id_token(
    provider, school_a, module, browser
):
    tokens = tokens_for(
        provider,
        browser,
        module,
        scope="openid email",
        claims=json.dumps({"id_token": {"email": None}}),
    )
    keys = KeySet.import_key_set(httpx.get(endpoint(provider, "jwks")).json())
    id_token = jwt.decode(tokens["id_token"], keys, algorithms=["RS256"]).claims
    assert id_token["email"] == "lea@lp-a.example"
    # Only the claim asked for, not the rest of its scope.
    assert "email_verified" not in id_token and "given_name" not in id_token


@pytest.mark.parametrize("member", ["userinfo", "id_token"])
def test_the_claims_parameter_never_goes_beyond_the_granted_scopes(
    provider, school_a, module, browser, member
):
    tokens = tokens_for(
        provider, browser, module, scope="openid", claims=json.dumps({member: {"email": None}})
    )
    info = httpx.get(endpoint(provider, "userinfo"), headers=bearer(tokens["access_token"])).json()
    keys = KeySet.import_key_set(httpx.get(endpoint(provider, "jwks")).json())
    id_token = jwt.decode(tokens["id_token"], keys, algorithms=["RS256"]).claims
    assert "email" not in info and "email" not in id_token


def test_claims_asked_for_the_id_token_stay_after_a_refresh(
    provider, school_a, module, browser, clock
):
    tokens = tokens_for(
        provider,
        browser,
        module,
        scope="openid cpro offline_access",
        claims=json.dumps({"id_token": {"classes": None}}),
    )
    clock.advance(timedelta(minutes=20))
    renewed = httpx.post(
        endpoint(provider, "token"),
        data={"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]},
        auth=(module.client_id, module.client_secret),
    ).json()
    keys = KeySet.import_key_set(httpx.get(endpoint(provider, "jwks")).json())
    assert jwt.decode(renewed["id_token"], keys, algorithms=["RS256"]).claims["classes"] == [
        "CAP-MELEC-1"
    ]
