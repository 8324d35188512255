"""Email addresses typed by operators and admins."""

from __future__ import annotations

import re

from idp.accounts import names
from idp.errors import InvalidInput

# Deliberately simple: one @, a dotted domain, no spaces. Delivery is the real test.
_ADDRESS = re.compile(r"[^@\s<>(),;:\"]+@[^@\s<>(),;:\"]+\.[^@\s<>(),;:\".]+")


def normalise(address: str) -> str:
    candidate = address.strip()
    if (
        len(candidate) > 254
        or not _ADDRESS.fullmatch(candidate)
        or names.hidden_character(candidate)  # NUL, bidi overrides… (PostgreSQL refuses NUL)
    ):
        raise InvalidInput(
            "Adresse électronique invalide : « %(address)s ».",
            {"address": candidate},
            detail=f"invalid email address {candidate!r}",
        )
    local, domain = candidate.rsplit("@", 1)
    return f"{local}@{domain.lower()}"
