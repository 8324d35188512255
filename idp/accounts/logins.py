"""Logins: `prenom.nom`, lower case, at most 20 characters (help page, « Où trouver mes
identifiants »).

We go further than the help page: accents are transliterated (é→e, œ→oe), spaces and
apostrophes become hyphens, every other character is dropped, and a collision gets a numeric
suffix that still fits in 20 characters. What a person types at sign-in is normalised the same
way (case, accents, surrounding spaces), so `Jean.Dupont ` finds `jean.dupont`.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable

from idp.errors import InvalidLogin

MAX_LENGTH = 20

# Letters that Unicode decomposition does not reduce to ASCII.
_SPECIAL = str.maketrans(
    {
        "œ": "oe",
        "æ": "ae",
        "ß": "ss",
        "ø": "o",
        "đ": "d",
        "ð": "d",
        "ł": "l",
        "þ": "th",
        "ı": "i",
        "ŀ": "l",
        "ħ": "h",
        "ŧ": "t",
        "ĸ": "k",
        "ŉ": "n",
    }
)
_SEPARATORS = re.compile(r"[\s'’‘`´ʼ_\-‐‑‒–—]+")
_NOT_ALLOWED = re.compile(r"[^a-z0-9-]")
_HYPHENS = re.compile(r"-{2,}")
_TYPED_SEPARATORS = re.compile(r"[\s'’‘`´ʼ]+")


def ascii_fold(text: str) -> str:
    """Lower case, accents removed: `Éloïse Œuvrard` → `eloise oeuvrard`."""
    lowered = unicodedata.normalize("NFKC", text).lower().translate(_SPECIAL)
    decomposed = unicodedata.normalize("NFKD", lowered)
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def name_part(name: str) -> str:
    """One name as it appears in a login: `Jean Pierre` → `jean-pierre`, `N'Diaye` → `n-diaye`."""
    folded = _SEPARATORS.sub("-", ascii_fold(name))
    kept = _NOT_ALLOWED.sub("", folded)
    return _HYPHENS.sub("-", kept).strip("-")


def truncate(login: str, length: int = MAX_LENGTH) -> str:
    """Cut to `length` characters without leaving a dangling `.` or `-`."""
    return _HYPHENS.sub("-", login)[:length].rstrip(".-")


def base_login(first_name: str, last_name: str) -> str:
    """The login before any collision suffix. Raises InvalidLogin for a name with no letter."""
    first, last = name_part(first_name), name_part(last_name)
    for label, raw, part in (("first name", first_name, first), ("last name", last_name, last)):
        if not part:
            raise InvalidLogin(
                "Impossible de créer un identifiant : le nom ou le prénom "
                "ne contient aucune lettre utilisable.",
                detail=f"the {label} {raw!r} has no letter or digit usable in a login",
            )
    return truncate(f"{first}.{last}")


def shortened(first_name: str, last_name: str) -> bool:
    """Whether `prenom.nom` is cut to fit the help page's 20 characters (the console points
    these logins out before an import: the person will not guess theirs)."""
    return len(_HYPHENS.sub("-", f"{name_part(first_name)}.{name_part(last_name)}")) > MAX_LENGTH


def with_suffix(base: str, number: int) -> str:
    """`jean.dupont` + 2 → `jean.dupont2`; the suffix replaces the last characters if needed."""
    suffix = str(number)
    return truncate(base, MAX_LENGTH - len(suffix)) + suffix


def unique_login(first_name: str, last_name: str, taken: Callable[[str], bool]) -> str:
    """The first free login among `base`, `base2`, `base3`, … (`taken` asks the store)."""
    base = base_login(first_name, last_name)
    if not taken(base):
        return base
    number = 2
    while taken(candidate := with_suffix(base, number)):
        number += 1
    return candidate


def normalise_typed(typed: str) -> str:
    """What a person typed in the login field, made comparable with stored logins.

    Case, accents and surrounding spaces are forgiven; inner spaces and apostrophes become
    hyphens as in generated logins (`n'golo.kante` finds `n-golo.kante`). Nothing else is
    dropped, so a wrong character still fails to match.
    """
    if any(unicodedata.category(c) == "Cc" and not c.isspace() for c in typed):
        return ""  # control characters (NUL…) match no login, and reach no database
    return _TYPED_SEPARATORS.sub("-", ascii_fold(typed).strip())[:100]
