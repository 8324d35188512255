"""Names refuse control and invisible characters (finding 12 of the outside review)."""

from __future__ import annotations

import pytest

from idp.accounts import emails, names
from idp.errors import InvalidInput


@pytest.mark.parametrize(
    ("value", "code"),
    [
        ("Lé\x00a", "U+0000"),
        ("Lé\x1ba", "U+001B"),
        ("Lé\x7fa", "U+007F"),
        ("Lé\x85a", "U+0085"),  # C1, and whitespace to str.split: refused, not collapsed
        ("Lé\x1ca", "U+001C"),
        ("Lé\ta", "U+0009"),  # inside a name: two spreadsheet cells pasted as one
        ("\u202eaéL", "U+202E"),
        ("Lé\u2066a", "U+2066"),
        ("Lé\u200ba", "U+200B"),
        ("Lé\u00ada", "U+00AD"),
        ("Lé\ufeffa", "U+FEFF"),
        ("Lé\ue000a", "U+E000"),
        ("Lé\ud800a", "U+D800"),
    ],
)
def test_a_control_or_invisible_character_is_refused_and_named(value, code):
    with pytest.raises(InvalidInput) as caught:
        names.clean(value, "Prénom")
    assert caught.value.message == (
        f"Le champ « Prénom » contient un caractère invisible ou de contrôle ({code}) : retapez-le."
    )
    assert code in caught.value.detail


@pytest.mark.parametrize(
    ("value", "cleaned"),
    [
        ("Éloïse", "Éloïse"),
        ("Jean-Pierre", "Jean-Pierre"),
        ("N'Diaye", "N'Diaye"),
        ("  Marie   Claire ", "Marie Claire"),
        ("Léa\r\n", "Léa"),  # a spreadsheet's copy-paste
        ("\tLéa\t", "Léa"),
        ("Lé\u00a0a", "Lé a"),
        ("Nguyễn", "Nguyễn"),
        ("Œuvray", "Œuvray"),
    ],
)
def test_names_people_have_are_kept(value, cleaned):
    assert names.clean(value, "Prénom") == cleaned


@pytest.mark.parametrize("address", ["a\x00b@x.example", "\u202eb@x.example", "a\u200b@x.example"])
def test_an_email_with_a_hidden_character_is_refused(address):
    with pytest.raises(InvalidInput):
        emails.normalise(address)
