"""Bulk import of accounts from the CSV files school administration tools and spreadsheets
export: `;`, `,` or tabs, UTF-8 (with or without BOM), UTF-16 with its BOM (Excel's « Texte
Unicode ») or Windows-1252 (Excel's « CSV (séparateur : point-virgule) »), French headers
matched without regard to case and accents (`Nom`, `Prénom`, `Date de naissance` as
jj/mm/aaaa or aaaa-mm-jj, `Classe`, `Email`, `Rôle`).

A file that cannot be read as such (a workbook, a binary file, an encoding we cannot tell,
a cell left open by a quote) is one InvalidInput saying what to do: nothing is imported.

This module only reads and checks; idp.services.imports.apply writes, in one transaction.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date

from idp import spreadsheets
from idp.accounts import emails, logins, names
from idp.accounts.roles import Role
from idp.errors import InvalidInput

MAX_BYTES = 10 * 1024 * 1024
MAX_ROWS = 20_000

_HEADERS = {
    "nom": "last_name",
    "nomdefamille": "last_name",
    "lastname": "last_name",
    "prenom": "first_name",
    "firstname": "first_name",
    "datedenaissance": "birth_date",
    "datenaissance": "birth_date",
    "naissance": "birth_date",
    "nele": "birth_date",
    "birthdate": "birth_date",
    "classe": "group",
    "classes": "group",
    "division": "group",
    "groupe": "group",
    "group": "group",
    "email": "email",
    "courriel": "email",
    "mail": "email",
    "adressemail": "email",
    "adresseelectronique": "email",
    "emailaddress": "email",
    "role": "role",
    "profil": "role",
    "statut": "role",
}
_ROLES = {
    "eleve": Role.STUDENT,
    "eleves": Role.STUDENT,
    "etudiant": Role.STUDENT,
    "student": Role.STUDENT,
    "apprenti": Role.STUDENT,
    "enseignant": Role.TEACHER,
    "professeur": Role.TEACHER,
    "prof": Role.TEACHER,
    "teacher": Role.TEACHER,
    "formateur": Role.TEACHER,
    "personnel": Role.STAFF,
    "staff": Role.STAFF,
    "administratif": Role.STAFF,
}
_FRENCH_DATE = re.compile(r"(\d{1,2})[/.-](\d{1,2})[/.-](\d{4})")
_ISO_DATE = re.compile(r"(\d{4})-(\d{1,2})-(\d{1,2})")
REQUIRED = ("last_name", "first_name", "birth_date")
_LABELS = {
    "last_name": "Nom",
    "first_name": "Prénom",
    "birth_date": "Date de naissance",
    "group": "Classe",
    "email": "Email",
    "role": "Rôle",
}


@dataclass(frozen=True)
class Row:
    line: int
    first_name: str
    last_name: str
    birth_date: date
    role: Role
    groups: tuple[str, ...]
    email: str | None

    @property
    def identity(self) -> tuple[str, str, date]:
        """Same person: same names (case and accents aside) and same birth date."""
        return (fold(self.first_name), fold(self.last_name), self.birth_date)


@dataclass(frozen=True)
class Refused:
    line: int
    reason: str
    text: str


@dataclass
class Parsed:
    rows: list[Row] = field(default_factory=list)
    refused: list[Refused] = field(default_factory=list)
    encoding: str = "utf-8"
    delimiter: str = ";"


def fold(text: str) -> str:
    return " ".join(logins.ascii_fold(text).split())


# How to make a file we can read, from the spreadsheet most schools use.
_SAVE_AS = (
    "Dans le tableur, enregistrez la liste au format « CSV UTF-8 (délimité par des virgules) »."
)
_WORKBOOKS = (b"PK\x03\x04", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1")  # xlsx/ods (zip), xls
_UTF8_BOM = b"\xef\xbb\xbf"
_UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")
_DELIMITERS = (";", ",", "\t")


def _line_of(data: bytes, offset: int) -> int:
    return data.count(b"\n", 0, offset) + 1


def decode(data: bytes) -> tuple[str, str]:
    """The text and the name of its encoding. UTF-8 is told apart from Windows-1252 reliably
    (text with accents in Windows-1252 is almost never valid UTF-8); a byte that
    Windows-1252 leaves undefined, or a NUL, means it is neither, nor text at all."""
    if data.startswith(_WORKBOOKS):
        raise InvalidInput(
            "Ce fichier est un classeur (Excel ou LibreOffice), pas un fichier CSV. " + _SAVE_AS,
            detail="a spreadsheet workbook (xlsx, ods or xls), not CSV: save it as CSV UTF-8",
        )
    if b"\x00" in data and not data.startswith(_UTF16_BOMS):
        raise _binary()  # before decoding: a binary file may well decode as Windows-1252
    if data.startswith(_UTF16_BOMS):
        try:
            text, encoding = data.decode("utf-16"), "utf-16"
        except UnicodeDecodeError as exc:
            raise InvalidInput(
                "Le fichier commence comme un texte UTF-16 mais n'en est pas un. " + _SAVE_AS,
                detail=f"invalid UTF-16 after a UTF-16 byte-order mark ({exc.reason})",
            ) from None
    elif data.startswith(_UTF8_BOM):
        try:
            text, encoding = data[3:].decode("utf-8"), "utf-8-sig"
        except UnicodeDecodeError as exc:
            line = _line_of(data, exc.start + 3)
            raise InvalidInput(
                "Le fichier s'annonce en UTF-8 mais ne l'est pas (ligne %(line)s). " + _SAVE_AS,
                {"line": line},
                detail=f"not UTF-8 at line {line}, after a UTF-8 byte-order mark: "
                "save the file again as CSV UTF-8",
            ) from None
    else:
        try:
            text, encoding = data.decode("utf-8"), "utf-8"
        except UnicodeDecodeError:
            try:
                text, encoding = data.decode("cp1252"), "windows-1252"
            except UnicodeDecodeError as exc:
                line = _line_of(data, exc.start)
                raise InvalidInput(
                    "Le fichier n'est ni en UTF-8 ni en Windows-1252 (ligne %(line)s). " + _SAVE_AS,
                    {"line": line},
                    detail=f"neither UTF-8 nor Windows-1252 (line {line}): "
                    "save the file as CSV UTF-8",
                ) from None
    if "\x00" in text:
        raise _binary()
    return text, encoding


def _binary() -> InvalidInput:
    return InvalidInput(
        "Ce fichier n'est pas un fichier texte (CSV). " + _SAVE_AS,
        detail="a binary file (it holds NUL bytes), not CSV: save it as CSV UTF-8",
    )


def parse_date(value: str, today: date) -> date | None:
    value = value.strip()
    try:
        if match := _FRENCH_DATE.fullmatch(value):
            day, month, year = (int(g) for g in match.groups())
        elif match := _ISO_DATE.fullmatch(value):
            year, month, day = (int(g) for g in match.groups())
        else:
            return None
        born = date(year, month, day)
    except ValueError:
        return None
    return born if date(1900, 1, 1) <= born <= today else None


def parse(data: bytes, *, default_role: Role, today: date) -> Parsed:
    """Every line either becomes a Row or is refused with a reason."""
    if len(data) > MAX_BYTES:
        raise InvalidInput(
            "Le fichier est trop volumineux (10 Mo au plus).", detail="file over 10 MiB"
        )
    text, encoding = decode(data)
    lines = text.splitlines()
    if not lines or not lines[0].strip():
        raise InvalidInput("Le fichier est vide.", detail="empty file")
    counts = {d: lines[0].count(d) for d in _DELIMITERS}
    delimiter = max(_DELIMITERS, key=lambda d: counts[d])  # the first of a tie
    if not counts[delimiter]:
        raise InvalidInput(
            "Les colonnes de la première ligne doivent être séparées par « ; », « , » "
            "ou des tabulations. " + _SAVE_AS,
            detail="no ';', ',' or tab in the header line: save the file as CSV",
        )
    # newline="": the reader sees line ends as they are (\r\n, \n or a lone \r).
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    try:
        return _read(reader, default_role, today, encoding, delimiter)
    except csv.Error as exc:
        # In practice a quote that opens a cell and is never closed: the cell runs on
        # through the file until it passes the csv module's field limit.
        raise InvalidInput(
            "Ligne %(line)s : une cellule ne se termine pas. Un guillemet « \" » n'est sans "
            "doute pas fermé ; corrigez-le dans le tableur et enregistrez à nouveau le fichier.",
            {"line": reader.line_num},
            detail=f"unreadable CSV at line {reader.line_num} ({exc}): an unclosed quote?",
        ) from None


def _read(
    reader: Iterator[list[str]], default_role: Role, today: date, encoding: str, delimiter: str
) -> Parsed:
    header = next(reader)
    columns: dict[str, int] = {}
    for index, name in enumerate(header):
        key = re.sub(r"[^a-z]", "", logins.ascii_fold(name))
        if key in _HEADERS and _HEADERS[key] not in columns:
            columns[_HEADERS[key]] = index
    missing = [c for c in REQUIRED if c not in columns]
    if missing:
        wanted = ", ".join(_LABELS[m] for m in missing)
        raise InvalidInput(
            "Colonnes manquantes : %(columns)s.",
            {"columns": wanted},
            detail=f"missing columns: {', '.join(missing)}",
        )
    parsed = Parsed(encoding=encoding, delimiter=delimiter)
    seen: dict[tuple[str, str, date], int] = {}
    for number, record in enumerate(reader, start=2):
        if not any(cell.strip() for cell in record):
            continue
        if number > MAX_ROWS + 1:
            raise InvalidInput("Trop de lignes (20 000 au plus).", detail="more than 20000 rows")
        checked = _row(number, record, columns, default_role, today)
        if isinstance(checked, Row) and checked.identity in seen:
            checked = f"doublon de la ligne {seen[checked.identity]}"
        if isinstance(checked, str):
            parsed.refused.append(Refused(number, checked, delimiter.join(record)[:200]))
            continue
        seen[checked.identity] = number
        parsed.rows.append(checked)
    if not parsed.rows and not parsed.refused:
        # An export that lost its lines must not retire a whole school (--deactivate-missing).
        raise InvalidInput(
            "Le fichier ne contient aucun compte : rien que la ligne des titres.",
            detail="no line under the header",
        )
    return parsed


def _row(
    number: int, record: list[str], columns: dict[str, int], default_role: Role, today: date
) -> Row | str:
    """A valid row, or the reason it is refused (in French, for the admin)."""

    def cell(name: str) -> str:
        index = columns.get(name)
        if index is None or index >= len(record):
            return ""
        # A file we exported and the admin edited: our quote before a formula comes off.
        return " ".join(spreadsheets.restore(record[index]).split())

    used = {column: record[i] for column, i in columns.items() if i < len(record)}
    if any("\n" in value or "\r" in value for value in used.values()):
        return (
            "une cellule tient sur plusieurs lignes : un guillemet « \" » n'est sans doute "
            "pas fermé"
        )
    for column, value in used.items():
        if found := names.hidden_character(value.strip(" \t")):
            return f"caractère invisible ou de contrôle ({found}) dans la colonne {_LABELS[column]}"
    first, last, born_text = cell("first_name"), cell("last_name"), cell("birth_date")
    labelled = (("Nom", last), ("Prénom", first), ("Date de naissance", born_text))
    if absent := [label for label, value in labelled if not value]:
        return f"champ manquant : {', '.join(absent)}"
    born = parse_date(born_text, today)
    if born is None:
        return f"date de naissance invalide : {born_text} (jj/mm/aaaa ou aaaa-mm-jj)"
    if len(first) > 100 or len(last) > 100:
        return "nom ou prénom trop long (100 caractères au plus)"
    try:
        logins.base_login(first, last)
    except InvalidInput:
        return "nom ou prénom sans lettre utilisable"
    role: Role | None = default_role
    if role_text := cell("role"):
        role = _ROLES.get(re.sub(r"[^a-z]", "", logins.ascii_fold(role_text)))
        if role is None:
            return f"rôle inconnu : {role_text} (élève, enseignant ou personnel)"
    email = None
    if email_text := cell("email"):
        try:
            email = emails.normalise(email_text)
        except InvalidInput:
            return f"adresse électronique invalide : {email_text}"
    groups = tuple(g.strip()[:100] for g in re.split(r"[,|]", cell("group")) if g.strip())
    return Row(number, first, last, born, role, groups, email)
