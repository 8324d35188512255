"""Hostile input found by the fuzz (tests/fuzz) that once answered 500: each case here,
spelled out, so that it stays fixed whatever the fuzz draws."""

from __future__ import annotations

import base64
import json

import pytest

from idp.services import clients
from oauth_support import REDIRECT


@pytest.fixture
def module(rt, school):  # type: ignore[no-untyped-def]
    return rt.run(clients.add, school, name="C Pro STI", redirect_uris_=[REDIRECT])


@pytest.mark.parametrize("endpoint", ["token", "introspect", "revoke"])
@pytest.mark.parametrize(
    "authorization",
    [
        "Basic ",  # a scheme and nothing after it
        "Basic \t",
        "Basic " + base64.b64encode(b"\xff\xfe:\xff").decode(),  # credentials that are no UTF-8
    ],
)
def test_a_malformed_basic_header_is_invalid_client(
    client, school, module, endpoint, authorization
):
    response = client.post(
        f"/{school}/oidc/{endpoint}",
        data={"grant_type": "client_credentials", "token": "x"},
        headers={"Authorization": authorization},
    )
    assert response.status_code == 401, response.text
    assert response.json()["error"] == "invalid_client"


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _with_header(header: dict, claims: dict) -> str:  # type: ignore[type-arg]
    """A JWT with this header and these claims, and a signature of nothing."""
    return ".".join(
        [_b64url(json.dumps(header).encode()), _b64url(json.dumps(claims).encode()), "c2ln"]
    )


# joserfc checks `crit` by iterating over it and joining its names: a `crit` that is no list
# of strings raised TypeError out of jwt.decode.
BAD_CRIT = [None, 5, True, 1.5, [5], {"a": 1}]


@pytest.mark.parametrize("crit", BAD_CRIT)
def test_an_access_token_with_a_malformed_crit_header_is_refused(client, school, module, crit):
    token = _with_header({"alg": "RS256", "typ": "at+jwt", "crit": crit}, {"sub": "x"})
    userinfo = client.get(f"/{school}/oidc/userinfo", headers={"Authorization": f"Bearer {token}"})
    assert userinfo.status_code == 401
    assert userinfo.json()["error"] == "invalid_token"
    for endpoint in ("introspect", "revoke"):
        response = client.post(
            f"/{school}/oidc/{endpoint}",
            data={"token": token},
            auth=(module.client.client_id, module.secret),
        )
        assert response.status_code == 200, response.text
    assert client.post(
        f"/{school}/oidc/introspect",
        data={"token": token},
        auth=(module.client.client_id, module.secret),
    ).json() == {"active": False}


@pytest.mark.parametrize("crit", BAD_CRIT)
def test_an_id_token_hint_with_a_malformed_crit_header_is_ignored(client, school, module, crit):
    hint = _with_header({"alg": "RS256", "crit": crit}, {"sub": "x"})
    response = client.get(f"/{school}/oidc/logout", params={"id_token_hint": hint})
    # As for any hint this issuer did not sign: the error page, not a 500.
    assert response.status_code == 400
    assert response.headers["content-type"].startswith("text/html")


def test_a_client_id_holding_nul_is_no_client(client, school, module):
    """PostgreSQL refuses NUL in text: the query used to raise, a 500 (found by the fuzz on
    PostgreSQL). No client id holds one: it is an unknown client, on either database."""
    weird = "a\x00b"
    token = client.post(
        f"/{school}/oidc/token",
        data={"grant_type": "client_credentials", "client_id": weird, "client_secret": "x"},
    )
    assert token.status_code in (400, 401) and token.json()["error"] == "invalid_client"
    basic = "Basic " + base64.b64encode(f"{weird}:x".encode()).decode()
    introspect = client.post(
        f"/{school}/oidc/introspect", data={"token": "x"}, headers={"Authorization": basic}
    )
    assert introspect.status_code == 401 and introspect.json()["error"] == "invalid_client"
    authorize = client.get(
        f"/{school}/oidc/authorize",
        params={"client_id": weird, "redirect_uri": REDIRECT, "response_type": "code"},
    )
    assert authorize.status_code == 400 and "<html" in authorize.text
    logout = client.get(f"/{school}/oidc/logout", params={"client_id": weird})
    assert logout.status_code < 500


def test_a_nul_anywhere_else_is_bad_input_not_a_fault(client, school):
    """What still reaches PostgreSQL with a NUL (an establishment code in the path) is a 400,
    a page for people and JSON for modules."""
    page = client.get("/lp%00a/login")
    assert page.status_code in (400, 404) and "<html" in page.text
    api = client.post("/lp%00a/oidc/token", data={"grant_type": "client_credentials"})
    assert api.status_code in (400, 401, 404)
    if api.status_code == 400:
        assert api.json()["error"] == "invalid_request"
