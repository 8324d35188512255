"""Jinja2 environments for pages and emails: autoescape on, i18n extension, one per language."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from babel.support import NullTranslations
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from markupsafe import Markup, escape

from idp.i18n import LOCALES, Message, translations

_PACKAGE = Path(__file__).resolve().parent


def _templates_dir() -> Path:
    """idp/templates in an installed wheel, where pyproject.toml's package-dir mapping puts
    the repository's templates/; that templates/ itself in a checkout or an editable install
    (setuptools' editable import hook cannot map a folder without __init__.py, so the
    mapped package is not importable there and importlib.resources cannot be used)."""
    shipped = _PACKAGE / "templates"
    return shipped if shipped.is_dir() else _PACKAGE.parent / "templates"


TEMPLATES_DIR = _templates_dir()


class Templates:
    def __init__(self, directory: Path = TEMPLATES_DIR) -> None:
        if not directory.is_dir():
            raise FileNotFoundError(f"no templates directory at {directory}")
        self._environments = {locale: _environment(directory, locale) for locale in LOCALES}

    def environment(self, locale: str) -> Environment:
        return self._environments.get(locale) or self._environments["fr"]

    def render(self, name: str, locale: str = "fr", **context: object) -> str:
        return self.environment(locale).get_template(name).render(locale=locale, **context)


def _environment(directory: Path, locale: str) -> Environment:
    env = Environment(
        loader=FileSystemLoader(directory),
        autoescape=select_autoescape(enabled_extensions=("html",), default_for_string=True),
        undefined=StrictUndefined,
        extensions=["jinja2.ext.i18n"],
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.install_gettext_translations(translations(locale), newstyle=True)  # type: ignore[attr-defined]
    env.globals["say"] = _sayer(translations(locale))
    return env


def _sayer(catalogue: NullTranslations) -> Callable[[Message], Markup]:
    """`{{ say(message) }}`: a Message as HTML. Unlike `_(text, **params)`, which takes the
    translated text for markup and always %-formats it, the text is escaped, and formatted
    only when the message has parameters, which go in escaped: a message that quotes what
    someone typed shows it as text, and a `%` in it cannot break the page."""

    def say(message: Message) -> Markup:
        text = escape(catalogue.gettext(message.text))
        if not message.params:
            return text
        # A parameter may be a message of its own (a word chosen by the code), said too.
        return text % {
            k: say(v) if isinstance(v, Message) else v for k, v in message.params.items()
        }

    return say
