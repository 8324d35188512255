"""Every user-facing string goes through the catalogues; French needs none, English has one."""

from __future__ import annotations

import io
import re
from pathlib import Path

from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

from idp.i18n import LOCALE_DIR, negotiate, translations

ROOT = Path(__file__).resolve().parent.parent


def _extracted_ids() -> set[str]:
    method_map = [
        ("idp/**.py", "python"),
        ("templates/**.html", "jinja2"),
        ("templates/**.txt", "jinja2"),
    ]
    options = {
        "templates/**.html": {
            "extensions": "jinja2.ext.i18n",
            "trim_blocks": "true",
            "lstrip_blocks": "true",
        },
        "templates/**.txt": {
            "extensions": "jinja2.ext.i18n",
            "trim_blocks": "true",
            "lstrip_blocks": "true",
        },
    }
    ids = set()
    for _file, _line, message, _comments, _context in extract_from_dir(
        str(ROOT), method_map=method_map, options_map=options
    ):
        ids.add(message if isinstance(message, str) else message[0])
    return ids


def test_english_catalogue_is_up_to_date():
    po = (LOCALE_DIR / "en" / "LC_MESSAGES" / "messages.po").read_bytes()
    catalogue = read_po(io.BytesIO(po))
    known = {m.id for m in catalogue if m.id}
    missing = _extracted_ids() - known
    assert not missing, f"run `make i18n` and translate: {sorted(missing)[:5]}"


# Words a page may show untranslated: the brand, and the protocol's own name for a field.
UNTRANSLATED = {"CPRO", "éducation", "client_id"}
_TRANS = re.compile(r"\{%-?\s*trans\b.*?%\}.*?\{%-?\s*endtrans\s*-?%\}", re.S)
_JINJA = re.compile(r"\{\{.*?\}\}|\{%.*?%\}|\{#.*?#\}", re.S)
_ATTRIBUTE = re.compile(r'\b(?:placeholder|alt|title|aria-label)="([^"]*)"')


def test_no_template_shows_text_outside_the_catalogue():
    """Text between tags, and the attributes people read (placeholder, alt, title,
    aria-label), come from `{% trans %}` or an expression, so that English is complete."""
    found = {}
    for path in sorted((ROOT / "templates").rglob("*.html")):
        source = re.sub(r"<!--.*?-->|<(script|style)\b.*?</\1>", " ", path.read_text(), flags=re.S)
        source = _TRANS.sub(" ", source)
        words = [
            value
            for value in _ATTRIBUTE.findall(source)
            if re.search(r"[^\W\d_]{2,}", _JINJA.sub("", value))
        ]
        text = re.sub(r"<[^>]*>", " ", _JINJA.sub(" ", source))
        words += [
            w for w in text.split() if re.search(r"[^\W\d_]{2,}", w) and w not in UNTRANSLATED
        ]
        if words:
            found[str(path.relative_to(ROOT))] = words
    assert not found, found


def test_every_message_has_its_english_translation():
    po = (LOCALE_DIR / "en" / "LC_MESSAGES" / "messages.po").read_bytes()
    untranslated = [m.id for m in read_po(io.BytesIO(po)) if m.id and not m.string]
    assert not untranslated, f"translate in idp/locale/en: {untranslated[:5]}"


def test_french_is_the_default_and_english_translates():
    assert negotiate(None) == "fr"
    assert negotiate("de-DE") == "fr"
    assert negotiate("en-GB,en;q=0.9") == "en"
    assert translations("fr").gettext("Page introuvable") == "Page introuvable"
    assert translations("en").gettext("Page introuvable") == "Page not found"
