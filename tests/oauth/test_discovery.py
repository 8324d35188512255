"""Discovery (OpenID Connect Discovery 1.0 §3-4, RFC 8414 §2-3) and the JWKS (RFC 7517),
one issuer per establishment."""

from __future__ import annotations

import httpx
from joserfc.jwk import KeySet

from oauth_support import Provider

# Members that only a private key has (RFC 7518 §6.2.2, §6.3.2, §6.4).
PRIVATE_MEMBERS = {"d", "p", "q", "dp", "dq", "qi", "oth", "k"}


def well_known_urls(provider: Provider, code: str) -> list[str]:
    return [
        f"{provider.issuer(code)}/.well-known/openid-configuration",  # OIDC Discovery §4
        f"{provider.base_url}/.well-known/oauth-authorization-server/{code}",  # RFC 8414 §3
    ]


def test_discovery_document_describes_the_establishments_issuer(provider, school_a, subtests):
    for url in well_known_urls(provider, school_a):
        with subtests.test(url=url):
            check_discovery(provider, school_a, httpx.get(url))


def check_discovery(provider: Provider, school_a: str, response: httpx.Response) -> None:
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    cache = [d.strip() for d in response.headers["cache-control"].split(",")]
    assert "public" in cache
    assert any(d.startswith("max-age=") and int(d[8:]) > 0 for d in cache)

    meta = response.json()
    issuer = provider.issuer(school_a)
    assert meta["issuer"] == issuer  # RFC 8414 §3.3: identical to the issuer in the URL
    assert meta["authorization_endpoint"] == f"{issuer}/oidc/authorize"
    assert meta["token_endpoint"] == f"{issuer}/oidc/token"
    assert meta["userinfo_endpoint"] == f"{issuer}/oidc/userinfo"
    assert meta["jwks_uri"] == f"{issuer}/oidc/jwks"
    for name, value in meta.items():
        if name.endswith(("_endpoint", "_uri")):
            assert value.startswith(f"{issuer}/"), (name, value)

    assert meta["response_types_supported"] == ["code"]
    assert set(meta["response_modes_supported"]) == {"query", "form_post"}
    assert set(meta["grant_types_supported"]) == {
        "authorization_code",
        "refresh_token",
        "client_credentials",
    }
    assert meta["subject_types_supported"] == ["public"]
    assert set(meta["id_token_signing_alg_values_supported"]) == {"RS256", "ES256"}
    assert {"client_secret_basic", "client_secret_post", "none"} <= set(
        meta["token_endpoint_auth_methods_supported"]
    )
    assert meta["code_challenge_methods_supported"] == ["S256"]
    assert {"openid", "profile", "email", "offline_access", "cpro"} <= set(meta["scopes_supported"])
    assert {
        "sub",
        "preferred_username",
        "given_name",
        "family_name",
        "name",
        "email",
        "email_verified",
        "establishment",
        "role",
        "classes",
        "groups",
        "iss",
        "aud",
        "exp",
        "iat",
        "auth_time",
        "nonce",
        "sid",
    } <= set(meta["claims_supported"])
    assert (
        "birth_date" not in meta["claims_supported"] and "birthdate" not in meta["claims_supported"]
    )
    assert meta["claims_parameter_supported"] is True
    assert meta["authorization_response_iss_parameter_supported"] is True  # RFC 9207 §3
    assert "token" not in meta["response_types_supported"]


def test_both_well_known_addresses_give_the_same_document(provider, school_a):
    first, second = (httpx.get(url).json() for url in well_known_urls(provider, school_a))
    assert first == second


def test_each_establishment_is_its_own_issuer(provider, school_a, school_b):
    meta_a = httpx.get(well_known_urls(provider, school_a)[0]).json()
    meta_b = httpx.get(well_known_urls(provider, school_b)[1]).json()
    assert meta_a["issuer"] == provider.issuer("lp-a")
    assert meta_b["issuer"] == provider.issuer("lp-b")
    for name in ("authorization_endpoint", "token_endpoint", "userinfo_endpoint", "jwks_uri"):
        assert meta_b[name].startswith(provider.issuer("lp-b") + "/")
        assert meta_a[name] != meta_b[name]


def test_no_discovery_for_an_unknown_establishment(provider, school_a):
    for url in well_known_urls(provider, "lp-zz"):
        assert httpx.get(url).status_code == 404


def test_jwks_publishes_public_rs256_and_es256_keys(provider, school_a):
    meta = httpx.get(well_known_urls(provider, school_a)[0]).json()
    response = httpx.get(meta["jwks_uri"])
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    cache = [d.strip() for d in response.headers["cache-control"].split(",")]
    assert "public" in cache
    assert any(d.startswith("max-age=") and int(d[8:]) > 0 for d in cache)

    keys = response.json()["keys"]
    by_alg = {k["alg"]: k for k in keys}
    assert set(by_alg) == {"RS256", "ES256"}
    assert by_alg["RS256"]["kty"] == "RSA"
    assert {"n", "e"} <= set(by_alg["RS256"])
    assert by_alg["ES256"]["kty"] == "EC"
    assert by_alg["ES256"]["crv"] == "P-256"
    assert {"x", "y"} <= set(by_alg["ES256"])
    for key in keys:
        assert key["use"] == "sig"
        assert isinstance(key.get("kid"), str) and key["kid"]
        assert not PRIVATE_MEMBERS & set(key), (
            f"private members published: {set(key) & PRIVATE_MEMBERS}"
        )
    assert len({k["kid"] for k in keys}) == len(keys)
    # The set imports as public keys only.
    for key in KeySet.import_key_set(response.json()).keys:
        assert not key.is_private


def test_establishments_share_no_key(provider, school_a, school_b):
    kids_a = {k["kid"] for k in httpx.get(f"{provider.issuer('lp-a')}/oidc/jwks").json()["keys"]}
    keys_b = httpx.get(f"{provider.issuer('lp-b')}/oidc/jwks").json()["keys"]
    kids_b = {k["kid"] for k in keys_b}
    assert kids_a and kids_b
    assert not kids_a & kids_b
    material_a = {
        k.get("n") or k.get("x")
        for k in httpx.get(f"{provider.issuer('lp-a')}/oidc/jwks").json()["keys"]
    }
    assert not material_a & {k.get("n") or k.get("x") for k in keys_b}
