"""Refresh tokens (RFC 6749 §6, OIDC Core 11 and 12, RFC 9700 §4.14.2): only for
offline_access, rotated at each use, a reused one revokes its family, bound to their client,
30 days long."""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import pytest
from authlib.integrations.httpx_client import OAuth2Client
from joserfc import jwt
from joserfc.jwk import KeySet

from idp.services import clients
from oauth_support import REDIRECT, Browser, Provider, Registered, pkce

OFFLINE = "openid profile offline_access"


def endpoint(provider: Provider, name: str) -> str:
    return f"{provider.issuer('lp-a')}/oidc/{name}"


@pytest.fixture
def relying_party():  # type: ignore[no-untyped-def]
    made: list[OAuth2Client] = []

    def make(client: Registered) -> OAuth2Client:
        rp = OAuth2Client(client.client_id, client.client_secret, redirect_uri=REDIRECT)
        made.append(rp)
        return rp

    yield make
    for rp in made:
        rp.close()


def sign_in_tokens(
    provider: Provider, browser: Browser, rp: OAuth2Client, scope: str = OFFLINE
) -> dict[str, Any]:
    verifier, challenge = pkce()
    query = {
        "response_type": "code",
        "client_id": rp.client_id,
        "redirect_uri": REDIRECT,
        "scope": scope,
        "state": "st-r",
        "code_challenge": challenge,
        "code_challenge_method": "S256",
    }
    response = browser.go(
        f"{endpoint(provider, 'authorize')}?{urlencode(query)}", login="lea.martin"
    )
    code = parse_qs(urlsplit(response.headers["location"]).query)["code"][0]
    return dict(rp.fetch_token(endpoint(provider, "token"), code=code, code_verifier=verifier))


def refresh(
    provider: Provider, client: Registered, refresh_token: str, **extra: str
) -> httpx.Response:
    response = httpx.post(
        endpoint(provider, "token"),
        data={"grant_type": "refresh_token", "refresh_token": refresh_token, **extra},
        auth=(client.client_id, client.client_secret),
    )
    assert response.headers.get("cache-control") == "no-store"
    assert response.headers.get("pragma") == "no-cache"
    return response


def assert_invalid_grant(response: httpx.Response) -> None:
    assert response.status_code == 400, response.text
    assert response.json()["error"] == "invalid_grant"
    assert "access_token" not in response.json()


def userinfo_status(provider: Provider, access_token: str) -> int:
    response = httpx.get(
        endpoint(provider, "userinfo"), headers={"Authorization": f"Bearer {access_token}"}
    )
    if response.status_code == 401:
        assert 'error="invalid_token"' in response.headers["www-authenticate"]
    return response.status_code


def test_a_refresh_token_only_with_offline_access(
    provider, school_a, module, browser, relying_party
):
    without = sign_in_tokens(provider, browser, relying_party(module), scope="openid profile")
    assert "refresh_token" not in without
    with_offline = sign_in_tokens(provider, browser, relying_party(module))
    assert with_offline["refresh_token"]
    assert with_offline["scope"] == OFFLINE


def test_refresh_rotates_the_refresh_token(provider, school_a, module, browser, relying_party):
    rp = relying_party(module)
    first = sign_in_tokens(provider, browser, rp)
    second = rp.refresh_token(endpoint(provider, "token"), refresh_token=first["refresh_token"])
    assert second["refresh_token"] not in (None, first["refresh_token"])
    assert second["access_token"] != first["access_token"]
    assert second["scope"] == OFFLINE
    assert second["expires_in"] == 600
    assert "id_token" in second
    assert userinfo_status(provider, second["access_token"]) == 200
    third = rp.refresh_token(endpoint(provider, "token"), refresh_token=second["refresh_token"])
    assert third["refresh_token"] not in (first["refresh_token"], second["refresh_token"])

    assert_invalid_grant(refresh(provider, module, first["refresh_token"]))


def test_reusing_a_rotated_refresh_token_revokes_the_family(
    provider, school_a, module, browser, relying_party
):
    rp = relying_party(module)
    first = sign_in_tokens(provider, browser, rp)
    current = refresh(provider, module, first["refresh_token"]).json()
    assert userinfo_status(provider, current["access_token"]) == 200

    # The old refresh token again: a theft (RFC 9700 §4.14.2).
    assert_invalid_grant(refresh(provider, module, first["refresh_token"]))
    assert_invalid_grant(refresh(provider, module, current["refresh_token"]))
    assert userinfo_status(provider, current["access_token"]) == 401
    assert userinfo_status(provider, first["access_token"]) == 401


def test_a_refresh_token_is_bound_to_its_client(provider, school_a, module, browser, relying_party):
    other = provider.rt.run(clients.add, "lp-a", name="C Pro Vente", redirect_uris_=[REDIRECT])
    other_client = Registered(other.client.client_id, other.secret)
    tokens = sign_in_tokens(provider, browser, relying_party(module))

    assert_invalid_grant(refresh(provider, other_client, tokens["refresh_token"]))
    # Nothing was revoked or rotated on the owner's behalf.
    assert userinfo_status(provider, tokens["access_token"]) == 200
    owner = refresh(provider, module, tokens["refresh_token"])
    assert owner.status_code == 200, owner.text


def test_an_id_token_from_a_refresh_keeps_the_original_auth_time(
    provider, school_a, module, browser, clock, relying_party
):
    rp = relying_party(module)
    signed_in_at = int(clock.now().timestamp())
    first = sign_in_tokens(provider, browser, rp)
    keys = KeySet.import_key_set(httpx.get(endpoint(provider, "jwks")).json())
    original = jwt.decode(first["id_token"], keys, algorithms=["RS256"]).claims
    clock.advance(hours=3)

    later = refresh(provider, module, first["refresh_token"]).json()
    claims = jwt.decode(later["id_token"], keys, algorithms=["RS256"]).claims
    now = int(clock.now().timestamp())
    assert claims["auth_time"] == original["auth_time"] == signed_in_at
    assert claims["iat"] == now and claims["exp"] == now + 600
    assert (claims["iss"], claims["sub"], claims["aud"]) == (
        original["iss"],
        original["sub"],
        original["aud"],
    )


def test_refresh_tokens_expire_after_30_days(
    provider, school_a, module, browser, clock, relying_party
):
    tokens = sign_in_tokens(provider, browser, relying_party(module))
    clock.advance(timedelta(days=30) - timedelta(minutes=1))
    renewed = refresh(provider, module, tokens["refresh_token"])
    assert renewed.status_code == 200, renewed.text
    clock.advance(timedelta(days=30) + timedelta(seconds=1))
    assert_invalid_grant(refresh(provider, module, renewed.json()["refresh_token"]))


def test_a_refresh_asking_more_scope_is_refused_and_the_token_still_works(
    provider, school_a, module, browser, relying_party
):
    tokens = sign_in_tokens(provider, browser, relying_party(module))
    wider = refresh(provider, module, tokens["refresh_token"], scope=OFFLINE + " email")
    assert wider.status_code == 400, wider.text
    assert wider.json()["error"] == "invalid_scope"  # RFC 6749 §6
    # A refused request issues nothing and must not spend the refresh token (RFC 6749 §6).
    again = refresh(provider, module, tokens["refresh_token"])
    assert again.status_code == 200, again.text
    assert userinfo_status(provider, again.json()["access_token"]) == 200
