"""Names typed by operators and admins: people's, groups', establishments', modules'.

A name holds no control or invisible character: none of Unicode's categories Cc (C0 and C1
controls, NUL, DEL), Cf (format: bidirectional overrides and isolates, zero-width spaces and
joiners, soft hyphen, BOM), Cs (lone surrogates) or Co (private use). The names of French
school registers need none of them, while they let a name look like another one (the teacher
resetting « Léa » would not see the zero-width space), reorder how a list displays (U+202E),
or be refused by PostgreSQL (NUL). The provider holds minors' data: such a name is refused
with a message naming the character, never silently cleaned, so the school fixes its source.
Tabs and line ends around a name (a spreadsheet's copy-paste) are still dropped.
"""

from __future__ import annotations

import unicodedata

from idp.errors import InvalidInput

MAX_LENGTH = 100
REFUSED_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Co"})


def hidden_character(value: str) -> str | None:
    """The first control or invisible character of `value`, as `U+202E`, or None."""
    for character in value:
        if unicodedata.category(character) in REFUSED_CATEGORIES:
            return f"U+{ord(character):04X}"
    return None


def check(value: str, label: str) -> str:
    """`value` without the whitespace around it; InvalidInput if it holds a control or
    invisible character."""
    core = value.strip(" \t\r\n")
    if found := hidden_character(core):
        raise InvalidInput(
            "Le champ « %(label)s » contient un caractère invisible ou de contrôle (%(code)s) : "
            "retapez-le.",
            {"label": label, "code": found},
            detail=f"{label} holds the control or format character {found}",
        )
    return core


def clean(value: str, label: str, limit: int = MAX_LENGTH) -> str:
    """One line, runs of spaces collapsed; required, and at most `limit` characters, with
    no control or invisible character. `label` is the field's name in the form (« Prénom »),
    for the message."""
    cleaned = " ".join(check(value, label).split())
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
