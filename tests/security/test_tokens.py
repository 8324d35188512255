"""High-entropy secrets: random, URL-safe, stored as SHA-256, compared in constant time."""

from __future__ import annotations

import base64
import hashlib
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from idp.security import tokens
from idp.security.tokens import new_secret, secret_hash, secret_matches

URLSAFE = re.compile(r"[A-Za-z0-9_-]+")
SECRETS = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)))


def decoded_length(secret: str) -> int:
    return len(base64.urlsafe_b64decode(secret + "=" * (-len(secret) % 4)))


def test_a_new_secret_carries_256_bits_by_default() -> None:
    secret = new_secret()
    assert URLSAFE.fullmatch(secret), secret
    assert decoded_length(secret) == 32


@pytest.mark.parametrize("nbytes", [16, 24, 32, 48, 64])
def test_a_new_secret_carries_the_requested_bytes(nbytes: int) -> None:
    secret = new_secret(nbytes)
    assert URLSAFE.fullmatch(secret), secret
    assert decoded_length(secret) == nbytes


def test_new_secrets_are_random() -> None:
    secrets_ = [new_secret() for _ in range(2000)]
    assert len(set(secrets_)) == len(secrets_)
    assert len({s[:8] for s in secrets_}) == len(secrets_)


def test_new_secrets_come_from_the_secrets_module(monkeypatch: pytest.MonkeyPatch) -> None:
    asked: list[int] = []

    def token_urlsafe(nbytes: int) -> str:
        asked.append(nbytes)
        return "from-secrets"

    monkeypatch.setattr(tokens.secrets, "token_urlsafe", token_urlsafe)
    assert new_secret() == "from-secrets"
    assert new_secret(16) == "from-secrets"
    assert asked == [32, 16]


def test_secret_hash_is_hex_sha256() -> None:
    # FIPS 180-2 test vector
    assert secret_hash("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    assert secret_hash("é") == hashlib.sha256("é".encode()).hexdigest()


@given(SECRETS)
def test_secret_hash_is_deterministic_hex_and_hides_the_secret(secret: str) -> None:
    digest = secret_hash(secret)
    assert re.fullmatch(r"[0-9a-f]{64}", digest)
    assert secret_hash(secret) == digest
    assert len(secret) < 8 or secret not in digest


def test_secret_matches_the_secret_it_was_made_from() -> None:
    secret = new_secret()
    stored = secret_hash(secret)
    assert secret_matches(stored, secret)


@pytest.mark.parametrize(
    "presented",
    ["", "x", " {secret}", "{secret} ", "{secret}x", "{upper}", "{head}", "{hash}"],
)
def test_secret_matches_nothing_else(presented: str) -> None:
    secret = new_secret()
    stored = secret_hash(secret)
    other = presented.format(secret=secret, upper=secret.upper(), head=secret[:-1], hash=stored)
    assert other != secret
    assert not secret_matches(stored, other)


@given(SECRETS, SECRETS)
def test_secret_matches_exactly_its_own_secret(secret: str, other: str) -> None:
    stored = secret_hash(secret)
    assert secret_matches(stored, secret)
    assert secret_matches(stored, other) is (other == secret)


def test_secret_matches_compares_in_constant_time(monkeypatch: pytest.MonkeyPatch) -> None:
    compared: list[tuple[str, str]] = []

    def compare_digest(a: str, b: str) -> bool:
        compared.append((a, b))
        return a == b

    monkeypatch.setattr(tokens.hmac, "compare_digest", compare_digest)
    stored = secret_hash("s3cret")
    assert secret_matches(stored, "s3cret")
    assert compared == [(stored, stored)]
