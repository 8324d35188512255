"""The authorization endpoint (RFC 6749 §3.1, §4.1; OIDC Core 3.1.2; RFC 7636; RFC 9207;
RFC 9700): errors that must never redirect, errors that must, and POST like GET."""

from __future__ import annotations

from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import pytest

from idp.services import clients
from oauth_support import REDIRECT, Provider, Registered, pkce

STATE = "st-4f2a_9"


def authorize_url(
    provider: Provider, client_id: str, code: str = "lp-a", **params: str | None
) -> str:
    query: dict[str, str | None] = {
        "response_type": "code",
        "client_id": client_id,
        "redirect_uri": REDIRECT,
        "scope": "openid",
        "state": STATE,
    }
    query.update(params)
    return f"{provider.issuer(code)}/oidc/authorize?" + urlencode(
        {k: v for k, v in query.items() if v is not None}
    )


def redirected_to_module(response: httpx.Response) -> dict[str, str]:
    """The parameters of a redirect to the module's exact registered redirect URI."""
    assert response.status_code == 302, (response.status_code, response.text[:300])
    location = response.headers["location"]
    assert location.startswith(REDIRECT + "?"), location
    query = parse_qs(urlsplit(location).query)
    assert all(len(v) == 1 for v in query.values()), query  # no parameter twice
    return {k: v[0] for k, v in query.items()}


def assert_error_page(response: httpx.Response) -> None:
    """RFC 6749 §4.1.2.1: inform the resource owner; MUST NOT redirect to the URI."""
    assert response.status_code == 400, (response.status_code, response.headers.get("location"))
    assert "location" not in response.headers
    assert response.headers["content-type"].startswith("text/html")
    assert response.headers["cache-control"] == "no-store"


def assert_error_redirect(
    provider: Provider, response: httpx.Response, error: str
) -> dict[str, str]:
    params = redirected_to_module(response)
    assert params["error"] == error, params
    assert params["state"] == STATE
    assert params["iss"] == provider.issuer("lp-a")  # RFC 9207 §2: in error responses too
    assert "code" not in params
    return params


@pytest.fixture
def public_app(provider, school_a) -> Registered:  # type: ignore[no-untyped-def]
    created = provider.rt.run(
        clients.add,
        school_a,
        name="Appli mobile",
        redirect_uris_=[REDIRECT],
        public=True,
    )
    assert created.secret is None
    return Registered(created.client.client_id, None)


@pytest.fixture
def partner(provider, school_a) -> Registered:  # type: ignore[no-untyped-def]
    created = provider.rt.run(
        clients.add,
        school_a,
        name="Éditeur partenaire",
        redirect_uris_=[REDIRECT],
        third_party=True,
    )
    return Registered(created.client.client_id, created.secret)


# -- errors shown to the user, never redirected -----------------------------------------------


def test_unknown_or_missing_client_gets_an_error_page(provider, school_a, module):
    response = httpx.get(authorize_url(provider, "no-such-client"))
    assert_error_page(response)
    assert "invalid_client" in response.text
    assert_error_page(httpx.get(authorize_url(provider, None)))  # type: ignore[arg-type]


NOT_REGISTERED = {
    "missing": None,  # OIDC Core 3.1.2.1: redirect_uri is REQUIRED
    "unregistered": "https://evil.example/callback",
    "extra-query": REDIRECT + "?next=/admin",  # exact match only (RFC 9700 §4.1.3)
    "other-path": REDIRECT + "/other",
    "prefix": "https://sti.cpro.example/callbac",
    "trailing-slash": REDIRECT + "/",
    "other-port": "https://sti.cpro.example:8443/callback",
    "http": "http://sti.cpro.example/callback",
    "other-case": "https://STI.cpro.example/callback",
    "fragment": REDIRECT + "#frag",
}


def test_a_redirect_uri_that_is_not_exactly_registered_gets_an_error_page(
    provider, school_a, module, subtests
):
    for case, redirect_uri in NOT_REGISTERED.items():
        with subtests.test(case, redirect_uri=redirect_uri):
            response = httpx.get(
                authorize_url(provider, module.client_id, redirect_uri=redirect_uri)
            )
            assert_error_page(response)


def test_an_unregistered_redirect_uri_gets_an_error_page_even_with_other_errors(
    provider, school_a, module
):
    # An unsupported response type must not leak to an unregistered redirect URI either.
    response = httpx.get(
        authorize_url(
            provider,
            module.client_id,
            response_type="token",
            redirect_uri="https://evil.example/cb",
        )
    )
    assert_error_page(response)


# -- errors redirected to the registered redirect URI ----------------------------------------


def test_unsupported_response_type_is_redirected(provider, school_a, module):
    response = httpx.get(authorize_url(provider, module.client_id, response_type="token"))
    assert_error_redirect(provider, response, "unsupported_response_type")


def test_missing_response_type_is_redirected(provider, school_a, module):
    response = httpx.get(authorize_url(provider, module.client_id, response_type=None))
    # RFC 6749 §4.1.2.1: a missing required parameter is invalid_request.
    assert_error_redirect(provider, response, "invalid_request")


def test_pkce_challenge_without_method_is_refused(provider, school_a, module):
    # Without a method the challenge would be `plain` (RFC 7636 §4.3), refused (RFC 9700 §2.1.1).
    _, challenge = pkce()
    response = httpx.get(authorize_url(provider, module.client_id, code_challenge=challenge))
    assert_error_redirect(provider, response, "invalid_request")


def test_pkce_method_plain_is_refused(provider, school_a, module):
    verifier, _ = pkce()
    response = httpx.get(
        authorize_url(
            provider, module.client_id, code_challenge=verifier, code_challenge_method="plain"
        )
    )
    assert_error_redirect(provider, response, "invalid_request")


def test_public_client_without_pkce_is_refused(provider, school_a, public_app):
    response = httpx.get(authorize_url(provider, public_app.client_id))
    assert_error_redirect(provider, response, "invalid_request")


def test_prompt_none_without_a_session_is_login_required(provider, school_a, module):
    response = httpx.get(authorize_url(provider, module.client_id, prompt="none"))
    assert_error_redirect(provider, response, "login_required")


def test_prompt_none_for_a_third_party_client_without_consent_is_consent_required(
    provider, school_a, module, partner, browser
):
    # Signed in (through a first-party module), but never consented to the partner.
    signed_in = browser.go(authorize_url(provider, module.client_id), login="lea.martin")
    assert "code" in redirected_to_module(signed_in)
    response = browser.http.get(authorize_url(provider, partner.client_id, prompt="none"))
    assert_error_redirect(provider, response, "consent_required")


def test_prompt_none_with_a_session_gives_a_code(provider, school_a, module, browser):
    browser.go(authorize_url(provider, module.client_id), login="lea.martin")
    response = browser.http.get(authorize_url(provider, module.client_id, prompt="none"))
    params = redirected_to_module(response)
    assert params["code"] and params["state"] == STATE
    assert params["iss"] == provider.issuer("lp-a")


def test_invalid_max_age_is_refused(provider, school_a, module, subtests):
    for max_age in ("-1", "ten", "1.5"):
        with subtests.test(max_age=max_age):
            response = httpx.get(authorize_url(provider, module.client_id, max_age=max_age))
            assert_error_redirect(provider, response, "invalid_request")


def test_claims_parameter_that_is_not_a_json_object_is_refused(
    provider, school_a, module, subtests
):
    for claims in ("{not json", '["email"]', '"email"'):
        with subtests.test(claims=claims):
            response = httpx.get(authorize_url(provider, module.client_id, claims=claims))
            assert_error_redirect(provider, response, "invalid_request")


# -- POST works like GET (OIDC Core 3.1.2.1) ---------------------------------------------------


def test_authorization_request_by_post_works_like_get(provider, school_a, module, browser):
    verifier, challenge = pkce()
    params = {
        "response_type": "code",
        "client_id": module.client_id,
        "redirect_uri": REDIRECT,
        "scope": "openid",
        "state": STATE,
        "code_challenge": challenge,
        "code_challenge_method": "S256",
    }
    endpoint = f"{provider.issuer('lp-a')}/oidc/authorize"
    to_login = browser.http.post(endpoint, data=params)
    assert to_login.status_code in (302, 303)
    assert urlsplit(to_login.headers["location"]).path == "/lp-a/login"
    after = browser.sign_in(
        provider.base_url + to_login.headers["location"],
        "lea.martin",
        "ma tortue verte lit le journal",
    )
    callback = browser.go(provider.base_url + after.headers["location"])
    got = redirected_to_module(callback)
    assert got["state"] == STATE and got["iss"] == provider.issuer("lp-a")
    token = httpx.post(
        f"{provider.issuer('lp-a')}/oidc/token",
        data={
            "grant_type": "authorization_code",
            "code": got["code"],
            "redirect_uri": REDIRECT,
            "code_verifier": verifier,
        },
        auth=(module.client_id, module.client_secret),
    )
    assert token.status_code == 200, token.text
    assert "id_token" in token.json()

    # Signed in now: a POST gives the code at once, and errors are redirected as for GET.
    again = browser.http.post(endpoint, data=params)
    assert redirected_to_module(again)["code"]
    refused = browser.http.post(endpoint, data={**params, "code_challenge_method": "plain"})
    assert_error_redirect(provider, refused, "invalid_request")
    unknown = browser.http.post(endpoint, data={**params, "client_id": "nope"})
    assert_error_page(unknown)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("redirect_uri", REDIRECT + '"x'),
        ("redirect_uri", REDIRECT + "é"),
        ("redirect_uri", REDIRECT + "\x01"),
        ("response_type", 'co"de'),
        ("response_type", "co\\de"),
        ("response_type", "codé"),
        ("response_type", "co\x01de"),
        ("scope", "openid\\"),
        ("client_id", 'x"'),
    ],
)
def test_characters_no_error_description_may_hold_get_a_page_not_a_500(
    provider: Provider, school_a: str, module: Registered, name: str, value: str
) -> None:
    if name == "client_id":
        url = authorize_url(provider, value)
    else:
        url = authorize_url(provider, module.client_id, **{name: value})
    assert_error_page(httpx.get(url))
