"""The token endpoint (RFC 6749 §3.2, §4.1.3, §4.4, §5; RFC 7636 §4.6; RFC 9068; RFC 9700):
codes used once, bound to their client and redirect URI, client authentication, the
client_credentials grant, and ES256 ID tokens."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import pytest
from authlib.integrations.httpx_client import OAuth2Client
from authlib.oidc.core.util import create_half_hash
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet
from sqlalchemy import update

from idp.models import Client
from idp.services import clients
from idp.store import tokens as token_store
from oauth_support import REDIRECT, Browser, Provider, Registered, pkce

STATE = "st-tokens-3"


# -- helpers -----------------------------------------------------------------------------------


def endpoint(provider: Provider, name: str, code: str = "lp-a") -> str:
    return f"{provider.issuer(code)}/oidc/{name}"


def keys(provider: Provider, code: str = "lp-a") -> KeySet:
    return KeySet.import_key_set(httpx.get(endpoint(provider, "jwks", code)).json())


def authorize(
    browser: Browser, provider, client_id: str, *, scope: str = "openid", **params: str
) -> tuple[str, str]:
    """Sign in (or use the session) and return (code, code_verifier)."""
    verifier, challenge = pkce()
    query = {
        "response_type": "code",
        "client_id": client_id,
        "redirect_uri": REDIRECT,
        "scope": scope,
        "state": STATE,
        "code_challenge": challenge,
        "code_challenge_method": "S256",
        **params,
    }
    response = browser.go(
        f"{endpoint(provider, 'authorize')}?{urlencode(query)}", login="lea.martin"
    )
    assert response.status_code == 302, (response.status_code, response.text[:300])
    assert response.headers["location"].startswith(REDIRECT + "?")
    got = {k: v[0] for k, v in parse_qs(urlsplit(response.headers["location"]).query).items()}
    assert got["state"] == STATE
    return got["code"], verifier


def assert_no_store(response: httpx.Response) -> None:
    """RFC 6749 §5.1: every token response, and (RFC 9700) every error, is not cached."""
    assert response.headers.get("cache-control") == "no-store", response.headers
    assert response.headers.get("pragma") == "no-cache", response.headers
    assert response.headers["content-type"].startswith("application/json")


def token_request(
    provider: Provider,
    data: dict[str, str],
    auth: tuple[str, str] | None = None,
    code: str = "lp-a",
) -> httpx.Response:
    response = httpx.post(endpoint(provider, "token", code), data=data, auth=auth)
    assert_no_store(response)
    return response


def redeem(
    provider: Provider, client: Registered, code: str, verifier: str | None, **extra: str
) -> httpx.Response:
    data = {"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT}
    if verifier is not None:
        data["code_verifier"] = verifier
    data.update(extra)
    auth = (client.client_id, client.client_secret) if client.client_secret else None
    if auth is None:
        data["client_id"] = client.client_id
    return token_request(provider, data, auth)


def assert_error(response: httpx.Response, error: str, status: int = 400) -> None:
    assert response.status_code == status, (response.status_code, response.text)
    assert response.json()["error"] == error, response.text


def assert_400_or_401(response: httpx.Response) -> None:
    """RFC 6749 §5.2: 400, or 401, which then carries a challenge (RFC 9110 §15.5.2)."""
    assert response.status_code in (400, 401), response.status_code
    if response.status_code == 401:
        assert response.headers.get("www-authenticate")


def userinfo(provider: Provider, access_token: str, code: str = "lp-a") -> httpx.Response:
    return httpx.get(
        endpoint(provider, "userinfo", code), headers={"Authorization": f"Bearer {access_token}"}
    )


def assert_invalid_token(response: httpx.Response) -> None:
    assert response.status_code == 401, response.text
    challenge = response.headers["www-authenticate"]
    assert challenge.startswith("Bearer ") and 'error="invalid_token"' in challenge


def add_client(provider: Provider, name: str, **options: Any) -> Registered:
    options.setdefault("redirect_uris_", [REDIRECT])
    created = provider.rt.run(clients.add, "lp-a", name=name, **options)
    return Registered(created.client.client_id, created.secret)


@pytest.fixture
def other_module(provider, school_a) -> Registered:  # type: ignore[no-untyped-def]
    return add_client(provider, "C Pro Vente")


@pytest.fixture
def public_app(provider, school_a) -> Registered:  # type: ignore[no-untyped-def]
    return add_client(provider, "Appli mobile", public=True)


# -- authorization codes ----------------------------------------------------------------------


def test_a_code_is_used_once_and_its_replay_revokes_its_tokens(provider, school_a, module, browser):
    code, verifier = authorize(browser, provider, module.client_id)
    first = redeem(provider, module, code, verifier)
    assert first.status_code == 200, first.text
    access_token = first.json()["access_token"]
    assert userinfo(provider, access_token).status_code == 200

    second = redeem(provider, module, code, verifier)
    assert_error(second, "invalid_grant")
    assert "access_token" not in second.json()
    # RFC 6749 §4.1.2: the tokens issued from the code are revoked.
    assert_invalid_token(userinfo(provider, access_token))


def test_a_code_and_its_tokens_commit_together(provider, school_a, module, browser, monkeypatch):
    """A failure while the tokens are saved leaves the code unused: one unit of work."""
    code, verifier = authorize(browser, provider, module.client_id)
    real = token_store.add

    def fail_once(*args, **kwargs):  # type: ignore[no-untyped-def]
        monkeypatch.setattr(token_store, "add", real)
        raise RuntimeError("the database went away while the tokens were saved")

    monkeypatch.setattr(token_store, "add", fail_once)
    data = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": REDIRECT,
        "code_verifier": verifier,
    }
    failed = httpx.post(
        endpoint(provider, "token"), data=data, auth=(module.client_id, module.client_secret)
    )
    assert failed.status_code == 500
    retried = redeem(provider, module, code, verifier)
    assert retried.status_code == 200, retried.text
    assert userinfo(provider, retried.json()["access_token"]).status_code == 200


def test_a_code_is_bound_to_its_client(provider, school_a, module, other_module, browser):
    code, verifier = authorize(browser, provider, module.client_id)
    stolen = redeem(provider, other_module, code, verifier)
    assert_error(stolen, "invalid_grant")
    assert "access_token" not in stolen.json()
    # Another client presenting the code does not spend it for its own client.
    assert redeem(provider, module, code, verifier).status_code == 200


def test_a_used_code_presented_by_another_client_revokes_nothing(
    provider, school_a, module, other_module, browser
):
    code, verifier = authorize(browser, provider, module.client_id)
    first = redeem(provider, module, code, verifier)
    assert first.status_code == 200, first.text
    access_token = first.json()["access_token"]
    # Only a replay by the code's own client may revoke what the code issued: another
    # client (one that merely saw the code) gets invalid_grant and changes nothing.
    assert_error(redeem(provider, other_module, code, verifier), "invalid_grant")
    assert userinfo(provider, access_token).status_code == 200
    assert_error(redeem(provider, module, code, verifier), "invalid_grant")
    assert_invalid_token(userinfo(provider, access_token))


def test_a_code_is_bound_to_its_redirect_uri(provider, school_a, browser):
    second_uri = "https://sti.cpro.example/callback2"
    client = add_client(provider, "Deux adresses", redirect_uris_=[REDIRECT, second_uri])
    code, verifier = authorize(browser, provider, client.client_id)
    # Registered for the client, but not the one of the authorization request.
    assert_error(redeem(provider, client, code, verifier, redirect_uri=second_uri), "invalid_grant")

    code, verifier = authorize(browser, provider, client.client_id)
    assert_error(
        redeem(provider, client, code, verifier, redirect_uri=REDIRECT + "?x=1"), "invalid_grant"
    )


def test_a_code_expires_after_60_seconds(provider, school_a, module, browser, clock):
    fresh, fresh_verifier = authorize(browser, provider, module.client_id)
    late, late_verifier = authorize(browser, provider, module.client_id)
    clock.advance(seconds=59)
    assert redeem(provider, module, fresh, fresh_verifier).status_code == 200
    clock.advance(seconds=2)
    assert_error(redeem(provider, module, late, late_verifier), "invalid_grant")


def test_a_wrong_code_verifier_is_invalid_grant(provider, school_a, module, browser):
    code, _ = authorize(browser, provider, module.client_id)
    other_verifier, _ = pkce()
    assert_error(redeem(provider, module, code, other_verifier), "invalid_grant")


def test_a_missing_code_verifier_is_invalid_grant(provider, school_a, module, browser):
    # RFC 7636 §4.6 and OAuth 2.1: the grant is what is wrong, as for a wrong verifier.
    code, _ = authorize(browser, provider, module.client_id)
    assert_error(redeem(provider, module, code, None), "invalid_grant")


def test_a_code_verifier_without_a_challenge_is_refused(provider, school_a, module, browser):
    # RFC 9700 §4.8.2: PKCE downgrade.
    query = {
        "response_type": "code",
        "client_id": module.client_id,
        "redirect_uri": REDIRECT,
        "scope": "openid",
        "state": STATE,
    }
    response = browser.go(
        f"{endpoint(provider, 'authorize')}?{urlencode(query)}", login="lea.martin"
    )
    code = parse_qs(urlsplit(response.headers["location"]).query)["code"][0]
    verifier, _ = pkce()
    assert_error(redeem(provider, module, code, verifier), "invalid_grant")


# -- client authentication --------------------------------------------------------------------


def test_invalid_client_with_basic_auth_is_401_with_www_authenticate(
    provider, school_a, module, browser, subtests
):
    code, verifier = authorize(browser, provider, module.client_id)
    for who, auth in {
        "wrong-secret": (module.client_id, "not-the-secret"),
        "unknown-client": ("nobody", "x"),
    }.items():
        with subtests.test(who):
            response = token_request(
                provider,
                {
                    "grant_type": "authorization_code",
                    "code": code,
                    "redirect_uri": REDIRECT,
                    "code_verifier": verifier,
                },
                auth,
            )
            # RFC 6749 §5.2: the Authorization header was used: 401 and a Basic challenge.
            assert_error(response, "invalid_client", 401)
            assert response.headers["www-authenticate"].startswith("Basic")
    # The code was not spent by the failed authentications.
    assert redeem(provider, module, code, verifier).status_code == 200


def test_invalid_client_with_client_secret_post(provider, school_a, module, browser):
    code, verifier = authorize(browser, provider, module.client_id)
    response = token_request(
        provider,
        {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": REDIRECT,
            "code_verifier": verifier,
            "client_id": module.client_id,
            "client_secret": "wrong",
        },
    )
    # RFC 6749 §5.2 allows 400 or 401 here; the server answers 401, and a 401 must carry a
    # WWW-Authenticate challenge (RFC 9110 §15.5.2).
    assert_error(response, "invalid_client", 401)
    assert response.headers["www-authenticate"].startswith("Basic")


def test_no_client_authentication_at_all_is_invalid_client(provider, school_a, module, browser):
    code, verifier = authorize(browser, provider, module.client_id)
    # A confidential client presenting only its client_id (as a public client would).
    response = token_request(
        provider,
        {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": REDIRECT,
            "code_verifier": verifier,
            "client_id": module.client_id,
        },
    )
    assert response.json()["error"] == "invalid_client"
    assert_400_or_401(response)


def test_a_confidential_client_authenticates_either_way(
    provider, school_a, module, browser, subtests
):
    for method in ("client_secret_basic", "client_secret_post"):
        with subtests.test(method):
            code, verifier = authorize(browser, provider, module.client_id)
            seen: list[httpx.Request] = []
            with OAuth2Client(
                module.client_id,
                module.client_secret,
                token_endpoint_auth_method=method,
                redirect_uri=REDIRECT,
                event_hooks={"request": [seen.append]},
            ) as rp:
                token = rp.fetch_token(
                    endpoint(provider, "token"), code=code, code_verifier=verifier
                )
            assert token["token_type"] == "Bearer"
            assert {"access_token", "id_token", "expires_in", "scope"} <= set(token)
            sent = seen[-1]
            if method == "client_secret_basic":
                assert sent.headers["authorization"].startswith("Basic ")
            else:
                assert "authorization" not in sent.headers
                assert b"client_secret=" in sent.content


def test_a_public_client_gets_tokens_with_pkce_and_no_secret(
    provider, school_a, public_app, browser
):
    code, verifier = authorize(browser, provider, public_app.client_id)
    with OAuth2Client(
        public_app.client_id, token_endpoint_auth_method="none", redirect_uri=REDIRECT
    ) as rp:
        token = rp.fetch_token(endpoint(provider, "token"), code=code, code_verifier=verifier)
    claims = jwt.decode(token["id_token"], keys(provider), algorithms=["RS256"]).claims
    assert claims["aud"] == public_app.client_id


def test_a_public_client_must_send_its_code_verifier(provider, school_a, public_app, browser):
    code, _ = authorize(browser, provider, public_app.client_id)
    assert_error(redeem(provider, public_app, code, None), "invalid_grant")


def test_an_unsupported_grant_type_is_refused(provider, school_a, module):
    response = token_request(
        provider,
        {"grant_type": "password", "username": "lea.martin", "password": "x"},
        (module.client_id, module.client_secret),
    )
    assert_error(response, "unsupported_grant_type")


# -- client_credentials -----------------------------------------------------------------------


def test_client_credentials_gives_an_access_token_only(provider, school_a, module, clock):
    response = token_request(
        provider, {"grant_type": "client_credentials"}, (module.client_id, module.client_secret)
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 600
    assert "id_token" not in body
    assert "refresh_token" not in body
    access = jwt.decode(body["access_token"], keys(provider), algorithms=["ES256"])
    assert access.header["typ"] == "at+jwt"
    assert access.claims["iss"] == provider.issuer("lp-a")
    assert access.claims["client_id"] == module.client_id
    assert access.claims["sub"] == module.client_id  # RFC 9068 §2.2: no user, the client
    assert access.claims["exp"] == int(clock.now().timestamp()) + 600
    # No user behind it: nothing to say at userinfo.
    assert_invalid_token(userinfo(provider, body["access_token"]))


def test_client_credentials_with_offline_access_still_gives_no_refresh_token(
    provider, school_a, module
):
    response = token_request(
        provider,
        {"grant_type": "client_credentials", "scope": "openid offline_access"},
        (module.client_id, module.client_secret),
    )
    assert response.status_code == 200, response.text
    assert "refresh_token" not in response.json()
    assert "id_token" not in response.json()


def test_client_credentials_is_refused_to_a_public_client(provider, school_a, public_app):
    response = token_request(
        provider, {"grant_type": "client_credentials", "client_id": public_app.client_id}
    )
    assert response.json()["error"] in ("unauthorized_client", "invalid_client")
    assert_400_or_401(response)
    assert "access_token" not in response.json()


# -- ES256 ID tokens --------------------------------------------------------------------------


def test_an_es256_client_gets_es256_id_tokens(provider, school_a, module, browser):
    with provider.rt.database.session() as session:
        session.execute(
            update(Client)
            .where(Client.client_id == module.client_id)
            .values(id_token_signed_response_alg="ES256")
        )
    code, verifier = authorize(browser, provider, module.client_id, nonce="n-es256")
    response = redeem(provider, module, code, verifier)
    assert response.status_code == 200, response.text
    body = response.json()
    published = keys(provider)

    id_token = jwt.decode(body["id_token"], published, algorithms=["ES256"])
    assert id_token.header["alg"] == "ES256"
    ec_kids = {k.kid for k in published if k.key_type == "EC"}
    assert id_token.header["kid"] in ec_kids
    assert id_token.claims["aud"] == module.client_id
    assert id_token.claims["nonce"] == "n-es256"
    assert id_token.claims["iss"] == provider.issuer("lp-a")
    # at_hash with SHA-256, the hash of ES256 (OIDC Core 3.1.3.6).
    assert id_token.claims["at_hash"] == create_half_hash(body["access_token"], "ES256").decode()
    with pytest.raises(JoseError):
        jwt.decode(body["id_token"], published, algorithms=["RS256"])

    access = jwt.decode(body["access_token"], published, algorithms=["ES256"])
    assert access.header["kid"] in ec_kids
    assert userinfo(provider, body["access_token"]).status_code == 200
