"""Hostile input found by the fuzz (tests/fuzz) that once answered 500: each case here,
spelled out, so that it stays fixed whatever the fuzz draws."""

from __future__ import annotations

import base64

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
