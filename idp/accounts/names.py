"""Names typed by operators and admins: people's, groups', establishments', modules'."""

from __future__ import annotations

from idp.errors import InvalidInput

MAX_LENGTH = 100


def clean(value: str, label: str, limit: int = MAX_LENGTH) -> str:
    """One line, runs of spaces collapsed; required, and at most `limit` characters.
    `label` is the field's name in the form (« Prénom »), for the message."""
    cleaned = " ".join(value.split())
    if not cleaned:
        raise InvalidInput(
            "Le champ « %(label)s » est obligatoire.", {"label": label}, detail=f"{label} is empty"
        )
    if len(cleaned) > limit:
        raise InvalidInput(
            "Le champ « %(label)s » dépasse %(limit)s caractères.",
            {"label": label, "limit": limit},
            detail=f"{label} is longer than {limit} characters",
        )
    return cleaned
