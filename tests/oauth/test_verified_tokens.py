"""KeyRing.verified: a signature checked once is remembered, and what it remembers never
lets through a token that a full check would refuse: another establishment's, another
algorithm than the caller allows, a key no longer published, a token changed by one byte."""

from __future__ import annotations

import pytest
from joserfc import jwt
from joserfc.errors import BadSignatureError, JoseError

from idp.store import establishments

CLAIMS = {"iss": "x", "sub": "s", "jti": "j1", "exp": 2_000_000_000}


def _ids(rt, *codes):  # type: ignore[no-untyped-def]
    with rt.database.session() as session:
        return [establishments.by_code(session, code).id for code in codes]


def _signed(rt, establishment_id: int, alg: str = "ES256") -> str:  # type: ignore[no-untyped-def]
    with rt.database.session() as session:
        key = rt.keys.signing_key(session, establishment_id, alg)
        return jwt.encode({"alg": alg, "kid": key.kid, "typ": "at+jwt"}, CLAIMS, key)


def _verify(rt, establishment_id: int, token: str, algorithms=("RS256", "ES256")):  # type: ignore[no-untyped-def]
    with rt.database.session() as session:
        return rt.keys.verified(session, establishment_id, token, list(algorithms))


@pytest.fixture
def two(rt, school, idp):  # type: ignore[no-untyped-def]
    result = idp("establishment", "create", "lp-b", "--name", "Lycée B", "--uai", "0750002V",
                 "--email", "b@lp-b.example")  # fmt: skip
    assert result.exit_code == 0, result.output
    return _ids(rt, school, "lp-b")


def test_a_remembered_token_is_still_refused_elsewhere_and_for_another_algorithm(rt, two):  # type: ignore[no-untyped-def]
    a, b = two
    token = _signed(rt, a)
    for _ in range(2):  # the second answer comes from what the first remembered
        header, claims = _verify(rt, a, token)
        assert claims == CLAIMS and header["typ"] == "at+jwt"
    with pytest.raises(JoseError):
        _verify(rt, b, token)
    with pytest.raises(JoseError):
        _verify(rt, a, token, algorithms=("RS256",))
    head, payload, signature = token.split(".")
    tampered = ".".join([head, payload, signature[:-2] + ("AA" if signature[-2:] != "AA" else "BB")])
    with pytest.raises(BadSignatureError):
        _verify(rt, a, tampered)
    # Callers may change what they get without changing what is remembered.
    _verify(rt, a, token)[1]["sub"] = "changed"
    assert _verify(rt, a, token)[1]["sub"] == "s"


def test_a_remembered_token_dies_with_its_key(rt, two, clock):  # type: ignore[no-untyped-def]
    a, _ = two
    token = _signed(rt, a, "RS256")
    with rt.database.session() as session:
        rt.keys.rotate(session, establishments.by_code(session, "lp-a"))
    assert _verify(rt, a, token)[1] == CLAIMS  # the old key is published until its tokens expire
    policy = rt.keys.policy
    clock.advance(seconds=(policy.jwks_cache + policy.longest_token).total_seconds() + 1)
    # No cache was dropped by hand: the ring reads the keys again when one stops being
    # published, and what it remembered of the old key's tokens no longer counts.
    with pytest.raises(JoseError):
        _verify(rt, a, token)
