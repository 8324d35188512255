"""UAI (RNE) codes: 7 digits and a check letter; the admin's login is the code in lower case."""

from __future__ import annotations

import string

import pytest
from hypothesis import given
from hypothesis import strategies as st

from idp.accounts.logins import normalise_typed
from idp.accounts.uai import admin_login, check_letter, is_valid, normalise
from idp.errors import InvalidInput

# Written out again here rather than imported: the test states the rule on its own.
LETTERS = "ABCDEFGHJKLMNPRSTUVWXYZ"

SEVEN_DIGITS = st.integers(min_value=0, max_value=9_999_999).map(lambda n: f"{n:07d}")


def expected_letter(digits: str) -> str:
    return LETTERS[int(digits) % 23]


def test_a_real_uai() -> None:
    assert check_letter("0750655") == "E"
    assert is_valid("0750655E")
    assert not is_valid("0750655F")


@pytest.mark.parametrize(
    ("digits", "letter"),
    [
        ("0000000", "A"),  # 0 mod 23
        ("0000008", "J"),  # 8: the alphabet skips I
        ("0000013", "P"),  # 13: ... O
        ("0000014", "R"),  # 14: ... and Q
        ("0000022", "Z"),  # 22: the last letter
        ("0000023", "A"),  # 23 wraps around
        ("9999999", LETTERS[9_999_999 % 23]),
    ],
)
def test_check_letter_is_the_number_mod_23_in_the_uai_alphabet(digits: str, letter: str) -> None:
    assert check_letter(digits) == letter
    assert is_valid(digits + letter)


@pytest.mark.parametrize("code", ["0750655e", "0750655E", " 0750655E ", "\t0750655e\n"])
def test_any_case_and_surrounding_spaces_are_accepted(code: str) -> None:
    assert is_valid(code)
    assert normalise(code) == "0750655E"
    assert admin_login(code) == "0750655e"


@pytest.mark.parametrize(
    "code",
    [
        "",
        "0750655",  # no letter
        "075065E",  # six digits
        "07506550E",  # eight digits
        "0750655EE",
        "E0750655",
        "0750 655E",
        "07506S5E",
        "0750655-E",
        "0750655É",
        # digits of other scripts, which int() would happily read
        "\u0660\u0667\u0665\u0660\u0666\u0665\u0665E",  # Arabic-Indic 0750655
        "\uff10\uff17\uff15\uff10\uff16\uff15\uff15E",  # fullwidth 0750655
        "\u0966\u096d\u096b\u0966\u096c\u096b\u096bE",  # Devanagari 0750655
    ],
)
def test_malformed_codes_are_invalid(code: str) -> None:
    assert not is_valid(code)
    with pytest.raises(InvalidInput, match="7 chiffres"):
        normalise(code)
    with pytest.raises(InvalidInput):
        admin_login(code)


def test_a_wrong_check_letter_is_reported_as_such() -> None:
    with pytest.raises(InvalidInput, match="lettre de contrôle") as caught:
        normalise("0750655F")
    assert "E" in caught.value.detail
    assert caught.value.status_code == 400
    with pytest.raises(InvalidInput):
        admin_login("0750655f")


@given(SEVEN_DIGITS)
def test_every_number_with_its_letter_is_valid_and_every_other_letter_is_not(
    digits: str,
) -> None:
    right = expected_letter(digits)
    assert check_letter(digits) == right
    for letter in string.ascii_uppercase:
        for code in (digits + letter, digits + letter.lower()):
            assert is_valid(code) is (letter == right), code
            if letter == right:
                assert normalise(code) == digits + right
                assert admin_login(code) == digits + right.lower()
            else:
                with pytest.raises(InvalidInput):
                    normalise(code)


@given(SEVEN_DIGITS, st.sampled_from(["{}", "{} ", " {}", "{}\n"]))
def test_the_admin_finds_their_login_however_they_type_the_uai(digits: str, shape: str) -> None:
    code = digits + expected_letter(digits)
    login = admin_login(code)
    assert login == login.lower()
    for typed in (code, code.lower(), code.upper()):
        assert normalise_typed(shape.format(typed)) == login


@given(st.text(max_size=12))
def test_anything_is_valid_only_if_it_has_the_uai_shape(text: str) -> None:
    candidate = text.strip().upper()
    shaped = (
        len(candidate) == 8
        and all(c in string.digits for c in candidate[:7])
        and candidate[7] == expected_letter(candidate[:7])
    )
    assert is_valid(text) is shaped
