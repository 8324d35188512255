"""Attacks found in review of the protocol and console code: claims beyond the granted
scopes, consent for wider scopes, SSRF through registered URIs, token confusion, replayed
stored requests, disabled clients, and inputs that used to answer 500."""

from __future__ import annotations

import base64
import json
import threading
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from sqlalchemy import func, select

from idp.errors import InvalidRedirectUri
from idp.models import AuthorizationCode
from idp.oauth.redirect_uris import validate_outbound
from idp.security.outbound import Outbound
from idp.services import clients
from oauth_support import (
    PASSWORD,
    REDIRECT,
    Registered,
    authorize,
    callback_params,
    pkce,
    redeem,
)


def userinfo(provider, school, token):  # type: ignore[no-untyped-def]
    with httpx.Client() as http:
        return http.get(
            f"{provider.issuer(school)}/oidc/userinfo", headers={"Authorization": f"Bearer {token}"}
        )


def test_the_claims_parameter_stays_within_the_granted_scopes(provider, school_a, browser):
    created = provider.rt.run(
        clients.add,
        school_a,
        name="Limité",
        redirect_uris_=[REDIRECT],
        allowed_scopes=["openid"],
    )
    claims = {
        "userinfo": {"email": None, "groups": None, "name": None},
        "id_token": {"email": None},
    }
    response, verifier = authorize(
        browser,
        provider,
        school_a,
        created.client.client_id,
        scope="openid email profile cpro",
        claims=json.dumps(claims),
    )
    token = redeem(
        provider,
        school_a,
        Registered(created.client.client_id, created.secret),
        callback_params(response)["code"],
        verifier,
    )
    assert token["scope"] == "openid"
    assert set(userinfo(provider, school_a, token["access_token"]).json()) == {"sub"}


def test_consent_is_asked_again_for_wider_scopes(provider, school_a, browser):
    created = provider.rt.run(
        clients.add, school_a, name="Tiers", redirect_uris_=[REDIRECT], third_party=True
    )
    first, _ = authorize(browser, provider, school_a, created.client.client_id)
    assert first.status_code == 200 and 'value="approve"' in first.text
    handle = first.text.split('name="request" value="')[1].split('"')[0]
    csrf = first.text.split('name="csrf_token" value="')[1].split('"')[0]
    approved = browser.http.post(
        f"{provider.issuer(school_a)}/oidc/authorize/consent",
        data={"csrf_token": csrf, "request": handle, "decision": "approve"},
    )
    assert "code" in callback_params(browser.go(provider.base_url + approved.headers["location"]))
    same, _ = authorize(browser, provider, school_a, created.client.client_id)
    assert "code" in callback_params(same)  # remembered for this scope
    wider, _ = authorize(
        browser, provider, school_a, created.client.client_id, scope="openid email offline_access"
    )
    assert wider.status_code == 200 and 'value="approve"' in wider.text


@pytest.mark.parametrize(
    "uri",
    [
        "http://127.0.0.1:5432/",
        "https://127.0.0.1/x",
        "https://10.0.0.8/x",
        "https://169.254.169.254/latest",
        "https://[::1]/x",
        "http://modules.example/bc",
        "https://intranet/bc",
        "https://db.internal/bc",
    ],
)
def test_outbound_addresses_never_reach_the_providers_network(uri):
    with pytest.raises(InvalidRedirectUri):
        validate_outbound(uri, Outbound(allow_loopback=False, resolver=public_dns))


# Stands in for DNS, which this machine may not reach: every name is a public address.
def public_dns(host: str, port: int) -> list[str]:
    return ["192.0.32.10"]


def test_outbound_addresses_allowed():
    production = Outbound(allow_loopback=False, resolver=public_dns)
    assert validate_outbound("https://sti.cpro.example/bc", production)
    development = Outbound(allow_loopback=True, resolver=public_dns)
    assert validate_outbound("http://127.0.0.1:8001/bc", development)


def test_an_access_token_is_no_id_token_hint(provider, school_a, module, browser):
    response, verifier = authorize(browser, provider, school_a, module.client_id)
    token = redeem(provider, school_a, module, callback_params(response)["code"], verifier)
    logout = browser.http.get(
        f"{provider.issuer(school_a)}/oidc/logout",
        params={
            "id_token_hint": token["access_token"],
            "post_logout_redirect_uri": "https://sti.cpro.example/",
        },
    )
    assert logout.status_code == 400
    assert userinfo(provider, school_a, token["access_token"]).status_code == 200  # still signed in
    hinted, _ = authorize(
        browser,
        provider,
        school_a,
        module.client_id,
        prompt="none",
        id_token_hint=token["access_token"],
    )
    assert callback_params(hinted)["error"] == "invalid_request"


def test_a_stored_request_answers_once(provider, school_a, module, browser):
    _, challenge = pkce()
    query = {
        "response_type": "code",
        "client_id": module.client_id,
        "redirect_uri": REDIRECT,
        "scope": "openid",
        "code_challenge": challenge,
        "code_challenge_method": "S256",
        "prompt": "login",
    }
    first = browser.http.get(
        f"{provider.issuer(school_a)}/oidc/authorize?{httpx.QueryParams(query)}"
    )
    resume = httpx.QueryParams(first.headers["location"].split("?", 1)[1])["next"]
    signed_in = browser.sign_in(
        provider.base_url + first.headers["location"], "lea.martin", PASSWORD
    )
    assert "code" in callback_params(browser.go(provider.base_url + signed_in.headers["location"]))
    replay = browser.http.get(provider.base_url + resume)
    assert replay.status_code == 400 and "a expiré" in replay.text


def test_a_stored_request_resumed_many_times_at_once_gives_one_code(
    provider, school_a, module, browser
):
    """The same resume link opened in parallel (a double click, a retrying phone): one
    answer carries a code, the others say the request has expired; never a 500, and one
    code only (on PostgreSQL the second DELETE used to find nothing and raise)."""
    _, challenge = pkce()
    query = {
        "response_type": "code",
        "client_id": module.client_id,
        "redirect_uri": REDIRECT,
        "scope": "openid",
        "state": "st",
        "code_challenge": challenge,
        "code_challenge_method": "S256",
    }
    first = browser.http.get(
        f"{provider.issuer(school_a)}/oidc/authorize?{httpx.QueryParams(query)}"
    )
    signed_in = browser.sign_in(
        provider.base_url + first.headers["location"], "lea.martin", PASSWORD
    )
    resume = provider.base_url + signed_in.headers["location"]
    cookies = dict(browser.http.cookies)
    barrier = threading.Barrier(8)

    def open_it() -> httpx.Response:
        with httpx.Client(cookies=cookies, follow_redirects=False, timeout=10) as http:
            barrier.wait()
            return http.get(resume)

    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(lambda _: open_it(), range(8)))
    statuses = sorted(a.status_code for a in answers)
    assert statuses == [302] + [400] * 7, [a.text[:200] for a in answers]
    [granted] = [a for a in answers if a.status_code == 302]
    assert "code" in callback_params(granted)
    assert all("a expiré" in a.text for a in answers if a.status_code == 400)
    with provider.rt.database.session() as session:
        assert session.scalar(select(func.count()).select_from(AuthorizationCode)) == 1


def test_a_disabled_clients_tokens_stop_working(provider, school_a, module, browser):
    response, verifier = authorize(
        browser, provider, school_a, module.client_id, scope="openid offline_access"
    )
    token = redeem(provider, school_a, module, callback_params(response)["code"], verifier)
    provider.rt.run(clients.set_enabled, school_a, module.client_id, False, actor="test")
    assert userinfo(provider, school_a, token["access_token"]).status_code == 401
    # Re-enabling it revives nothing: its grants ended when it was disabled.
    provider.rt.run(clients.set_enabled, school_a, module.client_id, True, actor="test")
    assert userinfo(provider, school_a, token["access_token"]).status_code == 401
    with httpx.Client() as http:
        refreshed = http.post(
            f"{provider.issuer(school_a)}/oidc/token",
            data={"grant_type": "refresh_token", "refresh_token": token["refresh_token"]},
            auth=(module.client_id, module.client_secret),
        )
    assert refreshed.status_code == 400 and refreshed.json()["error"] == "invalid_grant"


def test_malformed_inputs_get_answers_not_500(provider, school_a, module, browser):
    issuer = provider.issuer(school_a)
    nested, _ = authorize(browser, provider, school_a, module.client_id, claims="[" * 3000)
    assert callback_params(nested)["error"] == "invalid_request"
    huge, _ = authorize(browser, provider, school_a, module.client_id, max_age="9" * 30)
    assert callback_params(huge)["error"] == "invalid_request"
    bad_basic = "Basic " + base64.b64encode(b"\xff\xfe:\xff").decode()
    with httpx.Client() as http:
        for path in ("token", "revoke", "introspect"):
            answer = http.post(
                f"{issuer}/oidc/{path}",
                data={"grant_type": "client_credentials", "token": "x"},
                headers={"Authorization": bad_basic},
            )
            assert answer.status_code == 401 and answer.json()["error"] == "invalid_client", path
