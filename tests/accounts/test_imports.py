"""Reading school CSV exports: encodings, separators, French headers, refusals."""

from __future__ import annotations

from datetime import date

import pytest

from idp.accounts.imports import parse
from idp.accounts.roles import Role
from idp.errors import InvalidInput

TODAY = date(2026, 9, 1)


def read(text: str, encoding: str = "utf-8", role: Role = Role.STUDENT):  # type: ignore[no-untyped-def]
    return parse(text.encode(encoding), default_role=role, today=TODAY)


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "cp1252"])
@pytest.mark.parametrize("delimiter", [";", ","])
def test_encodings_and_separators(encoding, delimiter):
    text = delimiter.join(["NOM", "Prénom", "Date de naissance", "Classe"]) + "\r\n"
    text += (
        delimiter.join(
            ["Œuvray" if encoding != "cp1252" else "Oeuvray", "Éloïse", "14/03/2009", "CAP MELEC 1"]
        )
        + "\r\n"
    )
    parsed = read(text, encoding)
    assert parsed.refused == []
    [row] = parsed.rows
    assert row.first_name == "Éloïse"
    assert row.birth_date == date(2009, 3, 14)
    assert row.groups == ("CAP MELEC 1",)
    assert parsed.delimiter == delimiter
    assert (
        parsed.encoding
        == {"utf-8": "utf-8", "utf-8-sig": "utf-8-sig", "cp1252": "windows-1252"}[encoding]
    )


def test_headers_without_case_or_accents_and_in_any_order():
    parsed = read(
        "classe;DATE DE NAISSANCE;prenom;nom;Courriel;Rôle\nBTS1;2008-11-02;Hugo;Bernard;hugo@x.example;Enseignant\n"
    )
    [row] = parsed.rows
    assert (row.first_name, row.last_name, row.email, row.role) == (
        "Hugo",
        "Bernard",
        "hugo@x.example",
        Role.TEACHER,
    )


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ("Martin;;14/03/2009", "champ manquant : Prénom"),
        (";Léa;14/03/2009", "champ manquant : Nom"),
        ("Martin;Léa;", "champ manquant : Date de naissance"),
        ("Martin;Léa;31/02/2009", "date de naissance invalide"),
        ("Martin;Léa;14/03/2099", "date de naissance invalide"),
        ("Martin;Léa;2009/03/14", "date de naissance invalide"),
        ("Martin;???;14/03/2009", "sans lettre utilisable"),
        ("Martin;Léa;14/03/2009;;pas-une-adresse", "adresse électronique invalide"),
        ("Martin;Léa;14/03/2009;;;directeur", "rôle inconnu"),
    ],
)
def test_refused_lines_say_why(line, reason):
    parsed = read("Nom;Prénom;Date de naissance;Classe;Email;Rôle\n" + line + "\n")
    assert parsed.rows == []
    [refused] = parsed.refused
    assert refused.line == 2
    assert reason in refused.reason


def test_duplicates_in_the_file_are_refused():
    parsed = read(
        "Nom;Prénom;Date de naissance\nMartin;Léa;14/03/2009\nMARTIN;lea;2009-03-14\nMartin;Léa;15/03/2009\n"
    )
    assert [r.line for r in parsed.rows] == [2, 4]
    [duplicate] = parsed.refused
    assert (duplicate.line, duplicate.reason) == (3, "doublon de la ligne 2")


def test_blank_lines_are_skipped_and_missing_columns_are_an_error():
    assert len(read("Nom;Prénom;Date de naissance\n\nMartin;Léa;14/03/2009\n;;\n").rows) == 1
    with pytest.raises(InvalidInput) as raised:
        read("Nom;Classe\nMartin;CAP1\n")
    assert "Prénom" in raised.value.message and "Date de naissance" in raised.value.message
    with pytest.raises(InvalidInput):
        read("")


# Finding 7 of the outside review: files the reader could not read answered 500 in the
# console and a traceback in the CLI. Each is now one clear message, and nothing is read.
HEADER = "Nom;Prénom;Date de naissance\r\n"
UNREADABLE = {
    "oversized quoted cell": (
        (HEADER + 'Martin;"' + "a" * 200_000 + '";14/03/2009\r\n').encode(),
        "guillemet",
    ),
    "invalid UTF-8 after a UTF-8 BOM": (
        b"\xef\xbb\xbf" + (HEADER + "Martin;Léa;14/03/2009\r\n").encode("cp1252"),
        "UTF-8",
    ),
    "neither UTF-8 nor Windows-1252": (
        (HEADER + "Martin;Léa;14/03/2009\r\n").encode("cp1252") + b"Mar\x81tin;Lo;01/01/2010\r\n",
        "Windows-1252",
    ),
    "empty file": (b"", "vide"),
    "only a BOM and blank lines": (b"\xef\xbb\xbf\r\n \r\n", "vide"),
    "header only": (HEADER.encode(), "aucun compte"),
    "binary file": (
        b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)),
        "pas un fichier texte",
    ),
    "NUL in a text file": (
        (HEADER + "Mar\x00tin;Léa;14/03/2009\r\n").encode(),
        "pas un fichier texte",
    ),
    "an Excel workbook": (b"PK\x03\x04\x14\x00\x06\x00" + bytes(64), "classeur"),
    "an old Excel workbook": (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(64), "classeur"),
    "wrong delimiter": (
        "Nom|Prénom|Date de naissance\r\nMartin|Léa|14/03/2009\r\n".encode(),
        "séparées",
    ),
}


@pytest.mark.parametrize("data,fragment", UNREADABLE.values(), ids=list(UNREADABLE))
def test_an_unreadable_file_is_one_clear_message(data, fragment):
    with pytest.raises(InvalidInput) as raised:
        parse(data, default_role=Role.STUDENT, today=TODAY)
    assert fragment in raised.value.message
    assert "\n" not in raised.value.detail  # the CLI's one line


def test_a_utf8_bom_with_invalid_bytes_names_the_line():
    data = b"\xef\xbb\xbf" + HEADER.encode() + b"Martin;L\xe9a;14/03/2009\r\n"
    with pytest.raises(InvalidInput) as raised:
        parse(data, default_role=Role.STUDENT, today=TODAY)
    assert "ligne 2" in raised.value.message


@pytest.mark.parametrize(
    "data",
    [
        # Excel's « Texte Unicode »: UTF-16 with its BOM, tab-separated.
        "Nom\tPrénom\tDate de naissance\r\nŒuvray\tÉloïse\t14/03/2009\r\n".encode("utf-16"),
        "Nom\tPrénom\tDate de naissance\r\nŒuvray\tÉloïse\t14/03/2009\r\n".encode(),
        # Old Mac line ends.
        "Nom;Prénom;Date de naissance\rŒuvray;Éloïse;14/03/2009\r".encode(),
    ],
    ids=["utf-16 tabs", "utf-8 tabs", "carriage returns"],
)
def test_other_readable_exports(data):
    parsed = parse(data, default_role=Role.STUDENT, today=TODAY)
    assert [(r.first_name, r.last_name) for r in parsed.rows] == [("Éloïse", "Œuvray")]


def test_a_cell_over_several_lines_is_refused_with_a_hint():
    parsed = read('Nom;Prénom;Date de naissance\nMartin;"Léa\nMartin";14/03/2009\n')
    [refused] = parsed.refused
    assert "plusieurs lignes" in refused.reason


@pytest.mark.parametrize(
    ("line", "column"),
    [
        ("Mar\x01tin;Léa;14/03/2009;CAP1", "Nom"),
        ("Martin;\u202eLéa;14/03/2009;CAP1", "Prénom"),
        ("Martin;Léa;14/03/2009;CAP\u200b1", "Classe"),
        ("Martin;Lé\x85a;14/03/2009;CAP1", "Prénom"),
    ],
)
def test_a_line_with_a_control_character_is_refused(line, column):
    """Finding 12 of the outside review: these went into the database (NUL made PostgreSQL
    refuse the whole import)."""
    parsed = read("Nom;Prénom;Date de naissance;Classe\n" + line + "\n")
    [refused] = parsed.refused
    assert "caractère invisible ou de contrôle" in refused.reason
    assert refused.reason.endswith(f"dans la colonne {column}")


def test_a_control_character_in_a_column_not_read_is_no_reason_to_refuse():
    parsed = read('Nom;Prénom;Date de naissance;Remarque\nMartin;Léa;14/03/2009;"a\x01\nb"\n')
    assert parsed.refused == [] and len(parsed.rows) == 1
