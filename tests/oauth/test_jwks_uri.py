"""A client's jwks_uri, fetched for private_key_jwt through the outbound rules (finding 1 of
the outside review, SSRF): against a real provider and a real key server on loopback."""

from __future__ import annotations

import logging
import socket
import threading
import time
import uuid
from collections.abc import Iterator

import httpx
import pytest
import uvicorn
from joserfc import jwt
from joserfc.jwk import ECKey
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse
from starlette.routing import Route

from idp.security.outbound import Outbound
from idp.services import clients
from oauth_support import REDIRECT, Listener, free_port

KIND = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
PUBLIC = "93.184.215.14"


class KeyServer:
    """A module publishing its public key at /jwks; /moved redirects there."""

    def __init__(self, key: ECKey) -> None:
        self.hits: list[str] = []
        self.port = free_port()

        async def jwks(request: Request) -> JSONResponse:
            self.hits.append(request.url.path)
            return JSONResponse({"keys": [key.as_dict(private=False)]})

        async def moved(request: Request) -> RedirectResponse:
            self.hits.append(request.url.path)
            return RedirectResponse(f"http://127.0.0.1:{self.port}/jwks", status_code=302)

        self.server = uvicorn.Server(
            uvicorn.Config(
                Starlette(routes=[Route("/jwks", jwks), Route("/moved", moved)]),
                host="127.0.0.1",
                port=self.port,
                log_level="warning",
                lifespan="off",
            )
        )
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        while not self.server.started:
            time.sleep(0.02)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


@pytest.fixture
def key() -> ECKey:
    return ECKey.generate_key("P-256", parameters={"kid": "k1"}, private=True)


@pytest.fixture
def keys(key) -> Iterator[KeyServer]:  # type: ignore[no-untyped-def]
    server = KeyServer(key)
    yield server
    server.stop()


def register(provider, school: str, jwks_uri: str) -> str:  # type: ignore[no-untyped-def]
    created = provider.rt.run(
        clients.add,
        school,
        name="PKJ",
        redirect_uris_=[REDIRECT],
        auth_method="private_key_jwt",
        jwks_uri=jwks_uri,
    )
    return created.client.client_id


def token_request(provider, school: str, client_id: str, key: ECKey):  # type: ignore[no-untyped-def]
    now = int(time.time())  # assertions are checked against the wall clock
    claims = {
        "iss": client_id,
        "sub": client_id,
        "aud": f"{provider.issuer(school)}/oidc/token",
        "iat": now,
        "exp": now + 120,
        "jti": uuid.uuid4().hex,
    }
    assertion = jwt.encode({"alg": "ES256", "kid": key.kid}, claims, key)
    with httpx.Client() as http:
        response = http.post(
            f"{provider.issuer(school)}/oidc/token",
            data={
                "grant_type": "client_credentials",
                "client_assertion_type": KIND,
                "client_assertion": assertion,
            },
        )
    return response, assertion


def test_keys_at_a_loopback_jwks_uri_sign_a_module_in_development(provider, school_a, keys, key):
    client_id = register(provider, school_a, f"http://127.0.0.1:{keys.port}/jwks")
    response, _ = token_request(provider, school_a, client_id, key)
    assert response.status_code == 200, response.text
    assert keys.hits == ["/jwks"]


def test_a_redirecting_jwks_uri_is_invalid_client(provider, school_a, keys, key):
    client_id = register(provider, school_a, f"http://127.0.0.1:{keys.port}/moved")
    response, _ = token_request(provider, school_a, client_id, key)
    assert response.json()["error"] == "invalid_client", response.text
    assert keys.hits == ["/moved"], "the redirect's target was not asked"


def test_a_jwks_uri_resolving_inside_now_is_invalid_client_without_contact(
    provider, school_a, key, caplog
):
    """Public at registration, loopback at the token request; the provider here runs with
    production's rules (loopback refused) and a resolver seam for the changing name."""
    names = {"keys.cpro.example": [PUBLIC]}

    def resolve(name: str, port: int) -> list[str]:
        if name not in names:
            raise socket.gaierror(socket.EAI_NONAME, name)
        return names[name]

    provider.rt.outbound = Outbound(allow_loopback=False, resolver=resolve)
    listener = Listener()
    try:
        client_id = register(provider, school_a, f"https://keys.cpro.example:{listener.port}/k")
        names["keys.cpro.example"] = ["127.0.0.1"]
        with caplog.at_level(logging.WARNING, logger="idp.oauth.client_auth"):
            response, assertion = token_request(provider, school_a, client_id, key)
        assert response.json()["error"] == "invalid_client", response.text
        time.sleep(0.2)  # the listener's accept loop polls every 0.1 s
        assert listener.connections == 0
    finally:
        listener.close()
    [record] = [r for r in caplog.records if r.name == "idp.oauth.client_auth"]
    assert client_id in record.getMessage() and "resolves to 127.0.0.1" in record.getMessage()
    assert assertion not in caplog.text
