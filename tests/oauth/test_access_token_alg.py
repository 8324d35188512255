"""IDP_ACCESS_TOKEN_ALG=RS256: access tokens signed with the establishment's RSA key, for a
network whose modules cannot verify ES256. Every endpoint that checks access tokens accepts
both algorithms, so tokens signed before the setting changed stay good until they expire."""

from __future__ import annotations

from dataclasses import replace

import httpx
import pytest
from joserfc import jwt
from joserfc.jwk import KeySet

from idp.settings import Settings
from oauth_support import Browser, Provider, Registered, authorize, callback_params, redeem


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return replace(settings, access_token_alg="RS256")


def test_rs256_access_tokens_when_configured(
    provider: Provider, school_a: str, module: Registered, browser: Browser
) -> None:
    answer, verifier = authorize(browser, provider, school_a, module.client_id)
    tokens = redeem(provider, school_a, module, callback_params(answer)["code"], verifier)
    issuer = provider.issuer(school_a)
    published = KeySet.import_key_set(httpx.get(f"{issuer}/oidc/jwks").json())
    access = jwt.decode(tokens["access_token"], published, algorithms=["RS256"])
    assert access.header["typ"] == "at+jwt"
    assert access.header["kid"] in {k.kid for k in published if k.key_type == "RSA"}
    # Checked, not only issued: userinfo and introspection take it.
    bearer = {"Authorization": f"Bearer {tokens['access_token']}"}
    assert httpx.get(f"{issuer}/oidc/userinfo", headers=bearer).status_code == 200
    introspected = httpx.post(
        f"{issuer}/oidc/introspect",
        data={"token": tokens["access_token"]},
        auth=(module.client_id, module.client_secret or ""),
    ).json()
    assert introspected["active"] is True
