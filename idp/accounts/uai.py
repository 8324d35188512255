"""UAI (formerly RNE) codes of French establishments: 7 digits and a check letter, the letter
being `ABCDEFGHJKLMNPRSTUVWXYZ`[number mod 23] (e.g. `0750655E`).
"""

from __future__ import annotations

import re

from idp.errors import InvalidInput

_CHECK_LETTERS = "ABCDEFGHJKLMNPRSTUVWXYZ"
# [0-9], not \d: \d also matches Arabic-Indic, fullwidth, … digits, which int() accepts.
_SHAPE = re.compile(r"([0-9]{7})([A-Z])")


def check_letter(digits: str) -> str:
    return _CHECK_LETTERS[int(digits) % 23]


def is_valid(code: str) -> bool:
    match = _SHAPE.fullmatch(code.strip().upper())
    return bool(match) and check_letter(match.group(1)) == match.group(2)


def normalise(code: str) -> str:
    """The UAI in its canonical upper-case form, or InvalidInput."""
    candidate = code.strip().upper()
    match = _SHAPE.fullmatch(candidate)
    if not match:
        raise InvalidInput(
            "Code UAI invalide : 7 chiffres suivis d'une lettre (ex. 0750655E).",
            detail=f"invalid UAI {code!r}: expected 7 digits and a check letter",
        )
    expected = check_letter(match.group(1))
    if match.group(2) != expected:
        raise InvalidInput(
            "Code UAI invalide : la lettre de contrôle ne correspond pas.",
            detail=f"invalid UAI {code!r}: the check letter should be {expected}",
        )
    return candidate


def admin_login(uai: str) -> str:
    """The establishment admin signs in with the UAI code, stored in lower case."""
    return normalise(uai).lower()
