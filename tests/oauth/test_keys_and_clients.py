"""Key rotation, private_key_jwt, ES256 ID tokens, purge."""

from __future__ import annotations

import json
import time
import uuid
from datetime import timedelta

import httpx
from joserfc import jwt
from joserfc.jwk import ECKey, KeySet, RSAKey
from sqlalchemy import func, select

from idp.models import AuditEvent, AuthorizationCode, SigningKey, Token
from idp.purge import purge
from idp.services import clients
from oauth_support import REDIRECT, callback_params, pkce


def jwks_of(provider, school) -> KeySet:  # type: ignore[no-untyped-def]
    with httpx.Client() as http:
        return KeySet.import_key_set(http.get(f"{provider.issuer(school)}/oidc/jwks").json())


def code_for(provider, browser, school, client_id, scope="openid"):  # type: ignore[no-untyped-def]
    verifier, challenge = pkce()
    query = httpx.QueryParams(
        {
            "response_type": "code",
            "client_id": client_id,
            "redirect_uri": REDIRECT,
            "scope": scope,
            "code_challenge": challenge,
            "code_challenge_method": "S256",
            "nonce": "n",
        }
    )
    params = callback_params(
        browser.go(f"{provider.issuer(school)}/oidc/authorize?{query}", login="lea.martin")
    )
    return params["code"], verifier


def redeem(provider, school, code, verifier, **auth):  # type: ignore[no-untyped-def]
    with httpx.Client() as http:
        return http.post(
            f"{provider.issuer(school)}/oidc/token",
            data={
                "grant_type": "authorization_code",
                "code": code,
                "redirect_uri": REDIRECT,
                "code_verifier": verifier,
                **auth.pop("data", {}),
            },
            **auth,
        )


def test_key_rotation_keeps_old_tokens_verifiable(
    provider, school_a, module, browser, clock, idp_cli
):
    code, verifier = code_for(provider, browser, school_a, module.client_id)
    old = redeem(
        provider, school_a, code, verifier, auth=(module.client_id, module.client_secret)
    ).json()
    old_kid = jwt.decode(old["id_token"], jwks_of(provider, school_a)).header["kid"]

    result = idp_cli("keys", "rotate", school_a)
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith(f"{school_a}: rs256-")
    provider.rt.keys.forget_all()
    published = jwks_of(provider, school_a)
    assert len(published.keys) == 4  # the new keys are published at once
    # …but do not sign before the JWKS cache lifetime has passed.
    code, verifier = code_for(provider, browser, school_a, module.client_id)
    during = redeem(
        provider, school_a, code, verifier, auth=(module.client_id, module.client_secret)
    ).json()
    assert jwt.decode(during["id_token"], published).header["kid"] == old_kid

    clock.advance(hours=1, seconds=1)
    code, verifier = code_for(provider, browser, school_a, module.client_id)
    after = redeem(
        provider, school_a, code, verifier, auth=(module.client_id, module.client_secret)
    ).json()
    new_kid = jwt.decode(after["id_token"], jwks_of(provider, school_a)).header["kid"]
    assert new_kid != old_kid
    # The old key stays published while tokens it signed may live, then leaves.
    assert old_kid in {k.kid for k in jwks_of(provider, school_a).keys}
    clock.advance(minutes=16)
    provider.rt.keys.forget_all()
    assert old_kid not in {k.kid for k in jwks_of(provider, school_a).keys}


def test_es256_id_tokens(provider, school_a, browser):
    created = provider.rt.run(
        clients.add,
        school_a,
        name="EC",
        redirect_uris_=[REDIRECT],
        id_token_alg="ES256",
    )
    code, verifier = code_for(provider, browser, school_a, created.client.client_id)
    token = redeem(
        provider, school_a, code, verifier, auth=(created.client.client_id, created.secret)
    ).json()
    decoded = jwt.decode(token["id_token"], jwks_of(provider, school_a), algorithms=["ES256"])
    assert decoded.header["alg"] == "ES256"
    assert jwt.decode(token["access_token"], jwks_of(provider, school_a)).header["alg"] == "ES256"


def _assertion(key, client_id, audience, jti=None):  # type: ignore[no-untyped-def]
    now = int(time.time())  # assertions are checked against the wall clock
    claims = {
        "iss": client_id,
        "sub": client_id,
        "aud": audience,
        "iat": now,
        "exp": now + 120,
        "jti": jti or uuid.uuid4().hex,
    }
    return jwt.encode({"alg": "ES256", "kid": key.kid}, claims, key)


def test_private_key_jwt(provider, school_a, browser):
    key = ECKey.generate_key("P-256", parameters={"kid": "module-key-1"}, private=True)
    created = provider.rt.run(
        clients.add,
        school_a,
        name="PKJ",
        redirect_uris_=[REDIRECT],
        auth_method="private_key_jwt",
        jwks={"keys": [key.as_dict(private=False)]},
    )
    client_id = created.client.client_id
    assert created.secret is None
    audience = f"{provider.issuer(school_a)}/oidc/token"
    assertion = _assertion(key, client_id, audience)
    kind = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
    code, verifier = code_for(provider, browser, school_a, client_id)
    ok = redeem(
        provider,
        school_a,
        code,
        verifier,
        data={"client_assertion_type": kind, "client_assertion": assertion},
    )
    assert ok.status_code == 200, ok.text
    # The same assertion twice is refused, as is one signed by another key.
    code, verifier = code_for(provider, browser, school_a, client_id)
    replay = redeem(
        provider,
        school_a,
        code,
        verifier,
        data={"client_assertion_type": kind, "client_assertion": assertion},
    )
    assert replay.status_code in (400, 401) and replay.json()["error"] == "invalid_client"
    stranger = ECKey.generate_key("P-256", parameters={"kid": "module-key-1"}, private=True)
    forged = redeem(
        provider,
        school_a,
        code,
        verifier,
        data={
            "client_assertion_type": kind,
            "client_assertion": _assertion(stranger, client_id, audience),
        },
    )
    assert forged.json()["error"] == "invalid_client"
    # Nor can this client fall back to a secret-less request.
    bare = redeem(provider, school_a, code, verifier, data={"client_id": client_id})
    assert bare.json()["error"] == "invalid_client"


def test_purge_removes_what_is_over(provider, school_a, module, browser, clock, idp_cli):
    code, verifier = code_for(provider, browser, school_a, module.client_id)
    redeem(provider, school_a, code, verifier, auth=(module.client_id, module.client_secret))
    with provider.rt.database.session() as session:
        session.add(
            AuditEvent(
                establishment_id=None, at=clock.now() - timedelta(days=400), type="old", details={}
            )
        )
    clock.advance(days=2)
    result = idp_cli("purge")
    assert result.exit_code == 0, result.output
    assert (
        "codes: 1" in result.stdout
        and "tokens: 1" in result.stdout
        and "audit events: 1" in result.stdout
    )
    with provider.rt.database.session() as session:
        assert session.scalar(select(func.count()).select_from(AuthorizationCode)) == 0
        assert session.scalar(select(func.count()).select_from(Token)) == 0
        assert session.scalar(select(func.count()).select_from(SigningKey)) == 2  # still in use
        assert (
            session.scalar(
                select(func.count()).select_from(AuditEvent).where(AuditEvent.type == "old")
            )
            == 0
        )
    assert purge(provider.rt).counts["codes"] == 0


def test_client_add_options(idp_cli, school_a, tmp_path):
    key = RSAKey.generate_key(2048, parameters={"kid": "k"}, private=True)
    good = tmp_path / "jwks.json"
    good.write_text(json.dumps({"keys": [key.as_dict(private=False)]}))
    private = tmp_path / "private.json"
    private.write_text(json.dumps({"keys": [key.as_dict(private=True)]}))
    ok = idp_cli(
        "client",
        "add",
        school_a,
        "--name",
        "M",
        "--redirect-uri",
        REDIRECT,
        "--auth-method",
        "private_key_jwt",
        "--jwks-file",
        str(good),
        "--id-token-alg",
        "ES256",
        "--json",
    )
    assert ok.exit_code == 0, ok.output
    assert json.loads(ok.stdout)["client_secret"] is None
    for args, fragment in [
        (["--auth-method", "private_key_jwt"], "needs exactly one of --jwks-uri and --jwks-file"),
        (["--auth-method", "private_key_jwt", "--jwks-file", str(private)], "private key material"),
        (["--jwks-uri", "https://m.example/jwks"], "go with --auth-method private_key_jwt"),
        (
            ["--public", "--auth-method", "client_secret_post"],
            "--public goes with --auth-method none",
        ),
        (["--auth-method", "private_key_jwt", "--jwks-uri", "http://m.example/jwks"], "machine locale"),
        (
            ["--auth-method", "private_key_jwt", "--jwks-file", str(tmp_path / "none.json")],
            "cannot read",
        ),
    ]:
        bad = idp_cli("client", "add", school_a, "--name", "M", "--redirect-uri", REDIRECT, *args)
        assert bad.exit_code == 2, (args, bad.output)
        assert fragment in bad.stderr, (args, bad.stderr)
