"""Hostile input on the protocol endpoints: never a 5xx, never a stack trace in the log, and
the endpoints modules call answer an RFC error code in JSON."""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

import httpx
from fuzz.conftest import REDIRECT, SCHOOL, World
from fuzz.hostile import (
    BUDGET,
    assertion_claims,
    basic_headers,
    body,
    header_text,
    jwts,
    params,
    urlencoded,
    value,
)
from hypothesis import given, settings
from hypothesis import strategies as st

from idp.web.body_limit import FORM_LIMIT

KIND = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
TOKEN_ERRORS = {
    "invalid_request",
    "invalid_client",
    "invalid_grant",
    "unauthorized_client",
    "unsupported_grant_type",
    "invalid_scope",
}
BEARER_ERRORS = {"invalid_request", "invalid_token", "insufficient_scope"}
ENDPOINT_ERRORS = {"invalid_request", "invalid_client", "unsupported_token_type"}


def send(
    browser: httpx.Client,
    method: str,
    path: str,
    query: list[tuple[bytes, bytes]] | None = None,
    content: bytes | None = None,
    headers: dict[str, bytes] | None = None,
) -> httpx.Response:
    url = f"/{SCHOOL}/{path}" if not path.startswith("/") else path
    if query:
        url += "?" + urlencoded(query).decode()
    return browser.request(method, url, content=content, headers=headers or {})


def check(world: World, response: httpx.Response, errors: set[str] | None = None) -> None:
    """No 5xx, no stack trace logged; with `errors`, a JSON error among them (or success)."""
    traces = world.traces.take()
    assert response.status_code < 500, (response.status_code, response.text[:500], traces)
    assert not traces, traces
    if errors is not None and response.status_code >= 400:
        assert response.headers["content-type"].startswith("application/json"), response.text
        assert response.json()["error"] in errors, response.text


@st.composite
def client_auth(draw, world: World, audience: str):  # type: ignore[no-untyped-def]
    """How the request authenticates its client: each method, broken in each way."""
    method = draw(st.sampled_from(["none", "basic", "post", "jwt", "public", "mixed"]))
    headers: dict[str, bytes] = {}
    pairs: list[tuple[bytes, bytes]] = []
    basic, post = world.basic, world.post
    if method in ("basic", "mixed"):
        headers["authorization"] = draw(basic_headers(basic.client_id, basic.secret or ""))
    if method in ("post", "mixed"):
        pairs += [
            (b"client_id", draw(st.one_of(st.just(post.client_id.encode()), value))),
            (b"client_secret", draw(st.one_of(st.just((post.secret or "").encode()), value))),
        ]
    if method == "public":
        pairs.append((b"client_id", world.public.client_id.encode()))
    if method == "jwt":
        assert world.jwt.key is not None
        claims = assertion_claims(world.jwt.client_id, audience)
        pairs += [
            (b"client_assertion_type", draw(st.one_of(st.just(KIND.encode()), value))),
            (b"client_assertion", draw(jwts(world.jwt.key, "ES256", claims))),
        ]
        if draw(st.booleans()):
            pairs.append(
                (b"client_id", draw(st.one_of(st.just(world.jwt.client_id.encode()), value)))
            )
    return headers, pairs


def post_form(data: st.DataObject, pairs: list[tuple[bytes, bytes]], headers: dict[str, bytes]):  # type: ignore[no-untyped-def]
    """Mostly a proper form (so that the hostile values reach the protocol code), sometimes
    another encoding or content type."""
    if data.draw(st.integers(0, 3)):
        return urlencoded(pairs), {"content-type": b"application/x-www-form-urlencoded", **headers}
    content, content_headers = data.draw(body(pairs))
    return content, {**content_headers, **headers}


# -- discovery, keys, health, the global pages -----------------------------------------------

GET_PAGES = [
    "/",
    "/healthz",
    "/readyz",
    "/favicon.ico",
    f"/.well-known/oauth-authorization-server/{SCHOOL}",
    f"/{SCHOOL}",
    f"/{SCHOOL}/.well-known/openid-configuration",
    f"/{SCHOOL}/oidc/jwks",
]


@BUDGET
@given(data=st.data())
def test_discovery_keys_and_health(world: World, data: st.DataObject) -> None:
    path = data.draw(st.sampled_from(GET_PAGES))
    method = data.draw(st.sampled_from(["GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS"]))
    query = data.draw(params(["lang", "code", "x"]))
    response = send(world.anonymous, method, path, query)
    check(world, response)


@BUDGET
@given(
    segment=st.binary(min_size=1, max_size=40),
    tail=st.sampled_from(
        [
            "",
            "/login",
            "/oidc/token",
            "/oidc/jwks",
            "/.well-known/openid-configuration",
            "/admin/users",
            "/password/forgot",
            "/oidc/authorize",
        ]
    ),
)
def test_hostile_establishment_codes(world: World, segment: bytes, tail: str) -> None:
    path = "/" + urlencoded([(segment, b"")])[:-1].decode() + tail
    response = world.anonymous.get(path)
    check(world, response)
    response = world.anonymous.post(path, content=b"a=b")
    check(world, response)


# -- authorization ---------------------------------------------------------------------------

AUTHORIZE_KEYS = [
    "response_type",
    "client_id",
    "redirect_uri",
    "scope",
    "state",
    "nonce",
    "code_challenge",
    "code_challenge_method",
    "prompt",
    "max_age",
    "login_hint",
    "id_token_hint",
    "ui_locales",
    "response_mode",
    "request",
    "request_uri",
    "claims",
    "acr_values",
    "display",
]


def authorize_values(world: World) -> dict[str, st.SearchStrategy[bytes]]:
    id_token = jwts(
        world.server_key,
        "RS256",
        {
            "iss": world.issuer,
            "sub": world.student_sub,
            "aud": world.basic.client_id,
            "exp": int(time.time()) + 600,
            "iat": int(time.time()),
        },
    )
    return {
        "response_type": st.sampled_from([b"code", b"token", b"id_token", b"code id_token", b""]),
        "client_id": st.sampled_from(
            [world.basic.client_id.encode(), world.public.client_id.encode()]
        ),
        "redirect_uri": st.just(REDIRECT.encode()),
        "scope": st.sampled_from([b"openid", b"openid email cpro", b"openid offline_access"]),
        "code_challenge": st.just(b"E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"),
        "code_challenge_method": st.sampled_from([b"S256", b"plain", b"S512"]),
        "prompt": st.sampled_from(
            [b"none", b"login", b"consent", b"select_account", b"none login"]
        ),
        "max_age": st.sampled_from([b"0", b"-1", b"99999999999999999999999", b"1.5", b"x"]),
        "response_mode": st.sampled_from([b"query", b"form_post", b"fragment"]),
        "ui_locales": st.sampled_from([b"en", b"fr-FR", b"en;q=x", b"\xff"]),
        "id_token_hint": id_token,
    }


def authorize_params(world: World):  # type: ignore[no-untyped-def]
    """Mostly a plausible request with one thing wrong, sometimes anything at all."""
    values = authorize_values(world)
    base = st.fixed_dictionaries(
        {
            k: values[k]
            for k in (
                "response_type",
                "client_id",
                "redirect_uri",
                "scope",
                "code_challenge",
                "code_challenge_method",
            )
        }
    ).map(lambda d: [(k.encode(), v) for k, v in d.items()])
    return st.one_of(
        st.tuples(base, params(AUTHORIZE_KEYS, values)).map(lambda t: t[0] + t[1]),
        params(AUTHORIZE_KEYS, values),
    )


@BUDGET
@given(data=st.data())
def test_authorize(world: World, data: st.DataObject) -> None:
    who = data.draw(st.sampled_from(["anonymous", "student"]))
    browser = world.signed_in(who)
    pairs = data.draw(authorize_params(world))
    if data.draw(st.booleans()):
        response = send(browser, "GET", "oidc/authorize", pairs)
    else:
        content, headers = post_form(data, pairs, {})
        response = send(browser, "POST", "oidc/authorize", None, content, headers)
    check(world, response)
    if response.status_code == 303 and "/authorize/resume" in response.headers["location"]:
        # Where the sign-in or consent would resume it: resumed with the same browser.
        check(world, browser.get(response.headers["location"]))


@BUDGET
@given(data=st.data())
def test_resume_and_consent(world: World, data: st.DataObject) -> None:
    browser = world.signed_in(data.draw(st.sampled_from(["anonymous", "student"])))
    who = "student" if browser is world.student else "anonymous"
    check(world, send(browser, "GET", "oidc/authorize/resume", data.draw(params(["request"]))))
    pairs = data.draw(
        params(
            ["request", "decision", "csrf_token"],
            {
                "decision": st.sampled_from([b"approve", b"deny"]),
                "csrf_token": st.just(world.csrf[who].encode()),
            },
        )
    )
    content, headers = post_form(data, pairs, {})
    check(world, send(browser, "POST", "oidc/authorize/consent", None, content, headers))


# -- token -----------------------------------------------------------------------------------

TOKEN_KEYS = [
    "grant_type",
    "code",
    "redirect_uri",
    "code_verifier",
    "refresh_token",
    "scope",
    "client_id",
    "client_secret",
    "client_assertion",
    "client_assertion_type",
    "resource",
]
GRANTS = st.sampled_from(
    [
        b"authorization_code",
        b"refresh_token",
        b"client_credentials",
        b"password",
        b"implicit",
        b"urn:ietf:params:oauth:grant-type:jwt-bearer",
        b"",
        b"\xff",
    ]
)


@BUDGET
@given(data=st.data())
def test_token(world: World, data: st.DataObject) -> None:
    headers, auth_pairs = data.draw(client_auth(world, f"{world.issuer}/oidc/token"))
    pairs = [(b"grant_type", data.draw(GRANTS))] if data.draw(st.integers(0, 4)) else []
    pairs += data.draw(
        params(
            TOKEN_KEYS,
            {
                "grant_type": GRANTS,
                "redirect_uri": st.just(REDIRECT.encode()),
                "scope": st.sampled_from([b"openid", b"cpro", b"openid openid"]),
            },
        )
    )
    pairs += auth_pairs
    content, all_headers = post_form(data, pairs, headers)
    response = send(world.anonymous, "POST", "oidc/token", None, content, all_headers)
    check(world, response, TOKEN_ERRORS)
    method = data.draw(st.sampled_from(["GET", "PUT"]))
    check(world, send(world.anonymous, method, "oidc/token", pairs))


# -- userinfo --------------------------------------------------------------------------------


def access_tokens(world: World):  # type: ignore[no-untyped-def]
    now = int(time.time())
    claims: dict[str, Any] = {
        "iss": world.issuer,
        "sub": world.student_sub,
        "aud": world.basic.client_id,
        "client_id": world.basic.client_id,
        "exp": now + 600,
        "iat": now,
        "jti": str(uuid.uuid4()),
        "scope": "openid",
    }
    return jwts(world.server_key, "RS256", claims, typ="at+jwt")


@BUDGET
@given(data=st.data())
def test_userinfo(world: World, data: st.DataObject) -> None:
    token = data.draw(access_tokens(world))
    scheme = data.draw(
        st.sampled_from([b"Bearer ", b"bearer ", b"Bearer  ", b"Bearer", b"Basic ", b"DPoP ", b""])
    )
    where = data.draw(st.sampled_from(["header", "form", "query", "both", "garbage"]))
    headers: dict[str, bytes] = {}
    pairs = data.draw(params(["access_token", "schema"]))
    if where in ("header", "both"):
        headers["authorization"] = scheme + token
    if where in ("form", "both", "query"):
        pairs.append((b"access_token", token))
    if where == "garbage":
        headers["authorization"] = data.draw(header_text)
    if where == "query" or data.draw(st.booleans()):
        response = send(world.anonymous, "GET", "oidc/userinfo", pairs, None, headers)
    else:
        content, headers = post_form(data, pairs, headers)
        response = send(world.anonymous, "POST", "oidc/userinfo", None, content, headers)
    check(world, response, BEARER_ERRORS)
    assert response.status_code != 200, "no token the fuzz makes is valid"


# -- introspection and revocation ------------------------------------------------------------


@BUDGET
@given(data=st.data(), endpoint=st.sampled_from(["introspect", "revoke"]))
def test_introspection_and_revocation(world: World, data: st.DataObject, endpoint: str) -> None:
    headers, auth_pairs = data.draw(client_auth(world, f"{world.issuer}/oidc/{endpoint}"))
    pairs = [(b"token", data.draw(st.one_of(access_tokens(world), value)))]
    pairs += data.draw(
        params(
            ["token", "token_type_hint"],
            {
                "token_type_hint": st.sampled_from(
                    [b"access_token", b"refresh_token", b"id_token"]
                ),
            },
        )
    )
    pairs += auth_pairs
    data.draw(st.randoms())  # shuffling the order of the pairs is part of the input
    content, all_headers = post_form(data, pairs, headers)
    response = send(world.anonymous, "POST", f"oidc/{endpoint}", None, content, all_headers)
    check(world, response, ENDPOINT_ERRORS)
    if response.status_code == 200 and endpoint == "introspect":
        assert json.loads(response.text)["active"] is False


# -- RP-initiated logout ---------------------------------------------------------------------


@BUDGET
@given(data=st.data())
def test_end_session(world: World, data: st.DataObject) -> None:
    who = data.draw(st.sampled_from(["anonymous", "student"]))
    browser = world.signed_in(who)
    now = int(time.time())
    hint = jwts(
        world.server_key,
        "RS256",
        {
            "iss": world.issuer,
            "sub": world.student_sub,
            "aud": world.basic.client_id,
            "exp": now + 600,
            "iat": now,
            "sid": "x",
        },
    )
    pairs = data.draw(
        params(
            [
                "id_token_hint",
                "client_id",
                "post_logout_redirect_uri",
                "state",
                "logout_hint",
                "ui_locales",
                "decision",
                "csrf_token",
            ],
            {
                "id_token_hint": hint,
                "client_id": st.just(world.basic.client_id.encode()),
                "post_logout_redirect_uri": st.sampled_from(
                    [b"https://sti.cpro.example/", REDIRECT.encode()]
                ),
                "decision": st.sampled_from([b"logout", b"cancel"]),
                "csrf_token": st.just(world.csrf[who].encode()),
            },
        )
    )
    if data.draw(st.booleans()):
        response = send(browser, "GET", "oidc/logout", pairs)
    else:
        content, headers = post_form(data, pairs, {})
        response = send(browser, "POST", "oidc/logout", None, content, headers)
    check(world, response)


# -- oversized bodies ------------------------------------------------------------------------

PROTOCOL_POSTS = ["oidc/token", "oidc/userinfo", "oidc/revoke", "oidc/introspect"]
PAGE_POSTS = [
    "oidc/authorize",
    "oidc/authorize/consent",
    "oidc/logout",
    "login",
    "password/change",
    "password/forgot",
    "students/reset",
    "logout",
    "admin/users/new",
    "admin/clients/new",
    "admin/sessions/end",
    "admin/import/confirm",
]


@settings(BUDGET, max_examples=min(BUDGET.max_examples, 30))
@given(
    path=st.sampled_from(PROTOCOL_POSTS + PAGE_POSTS),
    size=st.integers(FORM_LIMIT + 1, 4 * FORM_LIMIT),
    streamed=st.booleans(),
    who=st.sampled_from(["anonymous", "student", "admin"]),
)
def test_oversized_bodies(world: World, path: str, size: int, streamed: bool, who: str) -> None:
    content = b"a=" + b"b" * (size - 2)
    # A generator goes chunked, with no Content-Length: the limit counts what arrives.
    sent = iter([content]) if streamed else content
    response = world.browser(who).post(
        f"/{SCHOOL}/{path}",
        content=sent,
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    check(world, response)
    if streamed and response.status_code in (303, 403):
        return  # answered without reading the body (not signed in, not allowed): fine
    assert response.status_code == 413
    if path in PROTOCOL_POSTS:
        assert response.json()["error"] == "invalid_request"
    else:
        assert "trop volumineuses" in response.text
