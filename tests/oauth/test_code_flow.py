"""The authorization code flow end to end, with Authlib's client as the relying party and an
independent check of every token with joserfc against the published JWKS."""

from __future__ import annotations

import re

import httpx
import pytest
from authlib.integrations.httpx_client import OAuth2Client
from joserfc import jwt
from joserfc.jwk import KeySet

from oauth_support import REDIRECT, authorize, callback_params, redeem


def discover(provider, code):  # type: ignore[no-untyped-def]
    return httpx.get(f"{provider.issuer(code)}/.well-known/openid-configuration").json()


def jwks(provider, code) -> KeySet:  # type: ignore[no-untyped-def]
    return KeySet.import_key_set(httpx.get(discover(provider, code)["jwks_uri"]).json())


@pytest.fixture
def relying_party():  # type: ignore[no-untyped-def]
    made = []

    def make(module, scope):  # type: ignore[no-untyped-def]
        client = OAuth2Client(
            module.client_id,
            module.client_secret,
            scope=scope,
            redirect_uri=REDIRECT,
            code_challenge_method="S256",
        )
        made.append(client)
        return client

    yield make
    for client in made:
        client.close()


def test_a_module_signs_a_user_in_with_authlib(
    provider, school_a, module, browser, clock, relying_party
):
    meta = discover(provider, school_a)
    rp = relying_party(module, "openid profile email cpro")
    verifier = "v" * 30 + "-verifier-" + "x" * 20
    url, state = rp.create_authorization_url(
        meta["authorization_endpoint"], code_verifier=verifier, nonce="n-0S6_WzA2Mj"
    )
    callback = browser.go(url, login="lea.martin")
    params = callback_params(callback)
    assert params["state"] == state
    assert params["iss"] == provider.issuer(school_a)  # RFC 9207
    token = rp.fetch_token(
        meta["token_endpoint"],
        authorization_response=callback.headers["location"],
        code_verifier=verifier,
    )
    assert token["token_type"] == "Bearer"
    assert token["expires_in"] == 600
    assert "refresh_token" not in token  # no offline_access asked

    keys = jwks(provider, school_a)
    now = int(clock.now().timestamp())
    id_token = jwt.decode(token["id_token"], keys, algorithms=["RS256"])
    claims = id_token.claims
    assert claims["iss"] == provider.issuer(school_a)
    assert claims["aud"] == module.client_id
    assert claims["nonce"] == "n-0S6_WzA2Mj"
    assert claims["iat"] == now and claims["exp"] == now + 600
    assert claims["auth_time"] <= now
    assert {"sub", "sid", "at_hash"} <= set(claims)
    assert id_token.header["kid"] in {k.kid for k in keys}

    access = jwt.decode(token["access_token"], keys, algorithms=["ES256"])
    assert access.header["typ"] == "at+jwt"
    assert access.header["alg"] == "ES256"  # IDP_ACCESS_TOKEN_ALG's default
    assert access.claims["client_id"] == module.client_id
    assert access.claims["aud"] == module.client_id
    assert access.claims["sub"] == claims["sub"]
    assert access.claims["scope"] == "openid profile email cpro"
    assert access.claims["iss"] == provider.issuer(school_a)

    info = rp.get(meta["userinfo_endpoint"]).json()
    assert info == {
        "sub": claims["sub"],
        "preferred_username": "lea.martin",
        "given_name": "Léa",
        "family_name": "Martin",
        "name": "Léa Martin",
        "email": "lea@lp-a.example",
        "email_verified": False,
        "establishment": {"code": "lp-a", "name": "Lycée professionnel A", "uai": "0750655E"},
        "role": "student",
        "profile": "National_ELV",
        # The class (since the school-year release; `groups` holds the other groups).
        "classes": ["CAP-MELEC-1"],
        "groups": [],
    }


@pytest.mark.parametrize("scope", ["openid", "openid email"])
def test_userinfo_gives_only_what_the_scope_allows(
    provider, school_a, module, browser, scope, relying_party
):
    meta = discover(provider, school_a)
    rp = relying_party(module, scope)
    verifier = "w" * 50
    url, _ = rp.create_authorization_url(meta["authorization_endpoint"], code_verifier=verifier)
    callback = browser.go(url, login="lea.martin")
    rp.fetch_token(
        meta["token_endpoint"],
        authorization_response=callback.headers["location"],
        code_verifier=verifier,
    )
    info = rp.get(meta["userinfo_endpoint"]).json()
    expected = {"sub"} | ({"email", "email_verified"} if "email" in scope else set())
    assert set(info) == expected


def test_codes_are_url_safe_and_redeem_whatever_their_characters(provider, school_a, module, browser):  # type: ignore[no-untyped-def]
    """Codes are 48 characters of the URL-safe alphabet, each one new; a code with `-` or
    `_` in it (most of them) goes through the redirect and the token request unchanged."""
    for _ in range(40):
        answer, verifier = authorize(browser, provider, school_a, module.client_id)
        code = callback_params(answer)["code"]
        assert re.fullmatch(r"[A-Za-z0-9_-]{48}", code), code
        if set(code) & {"-", "_"}:
            break
    else:
        pytest.fail("40 codes without a '-' or a '_': not drawn from the URL-safe alphabet")
    assert "id_token" in redeem(provider, school_a, module, code, verifier)
