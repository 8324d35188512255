"""idp/accounts/password_policy.py: the example a page once showed is refused, and no text a
password page or refusal shows offers a passphrase that could be copied."""

from __future__ import annotations

import re
from datetime import date

import pytest

from idp.accounts.password_policy import EXAMPLES, REFUSALS, PasswordOwner, PasswordPolicy
from idp.i18n import translations

OWNER = PasswordOwner("lea.martin", "Léa", "Martin", date(2009, 3, 14))
POLICY = PasswordPolicy()


@pytest.mark.parametrize(
    "typed",
    [
        "mon vélo rouge grimpe la colline",
        "Mon Velo Rouge Grimpe La Colline",
        "  mon   vélo rouge grimpe la colline !",
        "monvélorougegrimpelacolline",
        "mon-velo-rouge-grimpe-la-colline-2024",
        "my red bike climbs the hill",
    ],
)
def test_an_example_once_shown_is_refused_however_typed(typed: str) -> None:
    refusal = POLICY.check(typed, OWNER)
    assert refusal is not None and refusal.code == "example"


def test_a_passphrase_of_ones_own_is_accepted() -> None:
    assert POLICY.check("ma tortue verte lit le journal", OWNER) is None


QUOTED = re.compile(r"[«“\"]\s*([^»”\"]{8,}?)\s*[»”\"]")


@pytest.mark.parametrize("locale", ["fr", "en"])
def test_no_refusal_offers_a_passphrase_that_could_be_copied(locale: str) -> None:
    catalogue = translations(locale)
    for code, text in REFUSALS.items():
        shown = catalogue.gettext(text) % {"min_length": 8, "max_length": 128}
        for quoted in QUOTED.findall(shown):
            assert POLICY.check(quoted, OWNER) is not None, (code, quoted)
    for example in EXAMPLES:
        assert POLICY.check(example, OWNER) is not None
