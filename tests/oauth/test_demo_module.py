"""The demo module as a resource server and a back-channel logout receiver, in-process
against a real provider (its JWKS fetched over HTTP), with the provider's clock set so that
tokens are fresh, or expired, by the module's wall clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from starlette.testclient import TestClient

from clients.demo_module.app import DemoSettings, create_app
from idp.oauth.logout import Notice
from idp.services import clients
from idp.store import establishments
from oauth_support import REDIRECT, Registered, authorize, callback_params, redeem


@pytest.fixture
def module_app(provider, school_a, module):  # type: ignore[no-untyped-def]
    settings = DemoSettings(
        name="C Pro STI",
        base_url="http://127.0.0.1:8001",
        issuer=provider.issuer(school_a),
        client_id=module.client_id,
        client_secret=module.client_secret or "",
        secret_key="k" * 32,
    )
    with TestClient(create_app(settings), base_url="http://127.0.0.1:8001") as c:
        yield c


def access_token(provider, school, module, browser):  # type: ignore[no-untyped-def]
    response, verifier = authorize(browser, provider, school, module.client_id)
    return redeem(provider, school, module, callback_params(response)["code"], verifier)[
        "access_token"
    ]


def test_the_api_accepts_a_fresh_token_and_refuses_tampered_or_expired(
    provider, school_a, module, browser, clock, module_app
):
    clock.set(datetime.now(UTC))
    token = access_token(provider, school_a, module, browser)
    ok = module_app.get("/api/me", headers={"Authorization": f"Bearer {token}"})
    assert ok.status_code == 200 and ok.json()["scope"] == "openid"
    tampered = token[:-3] + ("AAA" if token[-3:] != "AAA" else "BBB")
    refused = module_app.get("/api/me", headers={"Authorization": f"Bearer {tampered}"})
    assert (
        refused.status_code == 401
        and 'error="invalid_token"' in refused.headers["www-authenticate"]
    )
    clock.set(datetime.now(UTC) - timedelta(minutes=11))  # issued 11 minutes ago: expired now
    old = access_token(provider, school_a, module, browser)
    assert module_app.get("/api/me", headers={"Authorization": f"Bearer {old}"}).status_code == 401


def test_a_token_for_another_module_is_refused(
    provider, school_a, module, browser, clock, module_app
):
    clock.set(datetime.now(UTC))
    other = provider.rt.run(clients.add, school_a, name="Autre", redirect_uris_=[REDIRECT])
    token = access_token(
        provider, school_a, Registered(other.client.client_id, other.secret), browser
    )
    assert (
        module_app.get("/api/me", headers={"Authorization": f"Bearer {token}"}).status_code == 401
    )


def test_backchannel_logout_tokens_are_validated(provider, school_a, module, clock, module_app):
    clock.set(datetime.now(UTC))
    with provider.rt.database.session() as session:
        establishment_id = establishments.by_code(session, school_a).id
    notice = Notice(
        establishment_id,
        provider.issuer(school_a),
        module.client_id,
        "RS256",
        "http://127.0.0.1:8001/backchannel-logout",
        "sub-1",
        "sid-1",
    )
    good = provider.rt.logout.logout_token(notice, clock.now())
    assert module_app.post("/backchannel-logout", data={"logout_token": good}).status_code == 200
    assert (
        module_app.post(
            "/backchannel-logout", data={"logout_token": good[:-4] + "AAAA"}
        ).status_code
        == 400
    )
    stale = provider.rt.logout.logout_token(notice, clock.now() - timedelta(hours=1))
    assert module_app.post("/backchannel-logout", data={"logout_token": stale}).status_code == 400
    elsewhere = Notice(
        notice.establishment_id, notice.issuer, "another-client", "RS256", notice.uri, "s", "x"
    )
    wrong_audience = provider.rt.logout.logout_token(elsewhere, clock.now())
    assert (
        module_app.post("/backchannel-logout", data={"logout_token": wrong_audience}).status_code
        == 400
    )
