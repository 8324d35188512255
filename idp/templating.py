"""Jinja2 environments for pages and emails: autoescape on, i18n extension, one per language."""

from __future__ import annotations

from pathlib import Path

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from idp.i18n import LOCALES, translations

TEMPLATES_DIR = Path(__file__).resolve().parent.parent / "templates"


class Templates:
    def __init__(self, directory: Path = TEMPLATES_DIR) -> None:
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
    return env
