"""Languages. French is the default of every page and email; message ids are the French
texts themselves (the help page's wording is the source), so French needs no catalogue and
English is a translation in `idp/locale/en`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from babel.support import NullTranslations, Translations

LOCALES = ("fr", "en")
DEFAULT_LOCALE = "fr"
LOCALE_DIR = Path(__file__).parent / "locale"


@lru_cache(maxsize=len(LOCALES))
def translations(locale: str) -> NullTranslations:
    if locale == DEFAULT_LOCALE or locale not in LOCALES:
        return NullTranslations()
    return Translations.load(str(LOCALE_DIR), [locale], domain="messages")


def supported(requested: str | None) -> str | None:
    """The first supported language of a space- or comma-separated list, if any."""
    for tag in (requested or "").replace(",", " ").split():
        language = tag.split(";")[0].split("-")[0].strip().lower()
        if language in LOCALES:
            return language
    return None


def negotiate(requested: str | None) -> str:
    """The first supported language of a space- or comma-separated list, else French."""
    return supported(requested) or DEFAULT_LOCALE


def N_(text: str) -> str:
    """Marks a message for extraction; it is translated where it is displayed."""
    return text


@dataclass(frozen=True)
class Message:
    """A message for a person: a French message id (marked with N_) and its parameters.
    Templates show it with `{{ say(message) }}` (idp.templating), not with `_()`, which
    takes the text for markup and always %-formats it."""

    text: str
    params: Mapping[str, object] = field(default_factory=dict)

    def __str__(self) -> str:
        """The French text with its parameters (a terminal, a log line, a test)."""
        return self.text % {k: str(v) for k, v in self.params.items()} if self.params else self.text
