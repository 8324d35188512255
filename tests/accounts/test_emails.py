"""Email addresses typed by operators and admins."""

from __future__ import annotations

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from idp.accounts.emails import normalise
from idp.errors import InvalidInput


@pytest.mark.parametrize(
    ("typed", "stored"),
    [
        ("secretariat@lp-a.example", "secretariat@lp-a.example"),
        ("a@b.fr", "a@b.fr"),
        ("jean.dupont+cpro@ac-paris.fr", "jean.dupont+cpro@ac-paris.fr"),
        ("ce.0750655E@ac-paris.fr", "ce.0750655E@ac-paris.fr"),
        ("prenom.nom@sub.domaine.gouv.fr", "prenom.nom@sub.domaine.gouv.fr"),
        # surrounding whitespace from a copy-paste
        ("  jean.dupont@exemple.fr\n", "jean.dupont@exemple.fr"),
        # the domain is lower-cased, the local part is kept as typed
        ("Jean.Dupont@Exemple.FR", "Jean.Dupont@exemple.fr"),
        ("JEAN@AC-LYON.FR", "JEAN@ac-lyon.fr"),
        ("élève@école.fr", "élève@école.fr"),
    ],
)
def test_addresses_are_accepted_and_normalised(typed: str, stored: str) -> None:
    assert normalise(typed) == stored


@pytest.mark.parametrize(
    "typed",
    [
        "",
        "   ",
        "jean",
        "jean@",
        "@exemple.fr",
        "jean@exemple",  # no dot in the domain
        "jean@exemple.",  # nothing after the last dot
        "jean@@exemple.fr",
        "jean@ex@emple.fr",
        "jean dupont@exemple.fr",
        "jean@exem ple.fr",
        "Jean Dupont <jean@exemple.fr>",
        "<jean@exemple.fr>",
        "jean@exemple.fr, paul@exemple.fr",
        "jean@exemple.fr;paul@exemple.fr",
        '"jean"@exemple.fr',
        "jean@exemple.fr (secrétariat)",
        # header injection: a line break inside the address
        "jean@exemple.fr\nBcc: attaquant@exemple.com",
        "jean@exemple.fr\r\nBcc: attaquant@exemple.com",
    ],
)
def test_non_addresses_are_refused(typed: str) -> None:
    with pytest.raises(InvalidInput, match="Adresse électronique invalide") as caught:
        normalise(typed)
    assert caught.value.status_code == 400


def test_addresses_longer_than_254_characters_are_refused() -> None:
    domain = "@" + "d" * 60 + ".fr"
    longest = "a" * (254 - len(domain)) + domain
    assert len(longest) == 254
    assert normalise(longest) == longest
    with pytest.raises(InvalidInput):
        normalise("a" + longest)
    # surrounding spaces do not count
    assert normalise(f"  {longest}  ") == longest


@given(st.emails())
def test_every_ordinary_address_is_accepted_with_its_domain_lower_cased(address: str) -> None:
    assume(len(address) <= 254)
    local, domain = address.rsplit("@", 1)
    stored = normalise(address)
    assert stored == f"{local}@{domain.lower()}"
    assert normalise(stored) == stored
