"""Establishment codes: the `{code}` of `{base}/{code}`, a slug that is not a reserved path."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from idp.accounts.establishment_codes import RESERVED, validate
from idp.errors import InvalidInput

SLUG = re.compile(r"[a-z0-9][a-z0-9-]{1,39}")


@pytest.mark.parametrize(
    "code",
    [
        "lp-a",
        "ab",
        "42",
        "lycee-jean-moulin",
        "0750655e",
        "lp-les-iris-villeurbanne",
        "a" * 40,
        "a" + "-" * 39,
    ],
)
def test_slugs_are_accepted(code: str) -> None:
    assert validate(code) == code


def test_surrounding_spaces_are_removed() -> None:
    assert validate("  lp-a\n") == "lp-a"


@pytest.mark.parametrize(
    "code",
    [
        "",
        "a",  # too short
        "a" * 41,  # too long
        "-lp",  # starts with a hyphen
        "LP-A",  # not lower case: refused, not silently lowered
        "Lp-a",
        "lp_a",
        "lp a",
        "lp.a",
        "lp/a",
        "lycée",
        "lp-a?x=1",
        "../admin",
        "%61dmin",
        "lp-\u0430",  # Cyrillic a
        "\uff4c\uff50",  # fullwidth lp
    ],
)
def test_non_slugs_are_refused(code: str) -> None:
    with pytest.raises(InvalidInput, match="Code d'établissement invalide") as caught:
        validate(code)
    assert caught.value.status_code == 400


@pytest.mark.parametrize(
    "code",
    # the provider's own top-level paths (design, URL map), then the other reserved names
    ["admin", "static", "healthz", "readyz", "metrics", "well-known", "oidc", "oauth",
     "oauth2", "api", "login", "logout", "password", "account", "auth", "authorize", "token",
     "userinfo", "jwks", "assets", "docs", "help", "aide", "www", "demo-admin", "cpro", "root",
     "system", "status"],
)  # fmt: skip
def test_reserved_names_are_refused(code: str) -> None:
    with pytest.raises(InvalidInput, match="réservé"):
        validate(code)
    with pytest.raises(InvalidInput, match="réservé"):
        validate(f" {code} ")


def test_every_top_level_path_of_the_provider_is_reserved() -> None:
    for path in ("admin", "static", "healthz", "readyz", "metrics", ".well-known"):
        assert path in RESERVED


@given(st.from_regex(SLUG, fullmatch=True))
def test_every_unreserved_slug_is_accepted(code: str) -> None:
    if code in RESERVED:
        with pytest.raises(InvalidInput):
            validate(code)
    else:
        assert validate(code) == code


@given(st.text(max_size=45))
def test_anything_else_is_refused(text: str) -> None:
    candidate = text.strip()
    if SLUG.fullmatch(candidate) and candidate not in RESERVED:
        assert validate(text) == candidate
    else:
        with pytest.raises(InvalidInput):
            validate(text)
