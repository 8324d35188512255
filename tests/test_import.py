"""`idp user import`: all or nothing, updates instead of duplicates, retiring last year's
students, and a full establishment's file."""

from __future__ import annotations

import csv
from datetime import date, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import selectinload

from idp.models import AuditEvent, User


def write(tmp_path, name, lines, encoding="utf-8"):  # type: ignore[no-untyped-def]
    path = tmp_path / name
    path.write_bytes(("\r\n".join(lines) + "\r\n").encode(encoding))
    return str(path)


def people(rt) -> dict[str, User]:  # type: ignore[no-untyped-def]
    with rt.database.session() as session:
        query = select(User).where(User.role != "admin").options(selectinload(User.groups))
        return {u.login: u for u in session.scalars(query)}


HEADER = "Nom;Prénom;Date de naissance;Classe;Email"


def test_a_refused_line_imports_nothing(idp, school, rt, tmp_path):
    path = write(
        tmp_path, "eleves.csv", [HEADER, "Martin;Léa;14/03/2009;CAP1;", "Dupont;;01/01/2009;CAP1;"]
    )
    result = idp("user", "import", school, path)
    assert result.exit_code == 2
    assert "line 3: champ manquant : Prénom" in result.stderr
    assert result.stderr.strip().splitlines()[-1].startswith("idp: error: 1 line(s) refused")
    assert people(rt) == {}


def test_skip_invalid_imports_the_rest_and_writes_the_logins(idp, school, rt, tmp_path):
    path = write(
        tmp_path,
        "eleves.csv",
        [
            HEADER,
            "Martin;Léa;14/03/2009;CAP1;",
            "Dupont;;01/01/2009;CAP1;",
            "N'Diaye;Aïssatou;2008-02-29;CAP2;",
        ],
        encoding="cp1252",
    )
    out = tmp_path / "logins.csv"
    result = idp("user", "import", school, path, "--skip-invalid", "--created-csv", str(out))
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == "created: 2, updated: 0, deactivated: 0, unchanged: 0, refused: 1"
    assert set(people(rt)) == {"lea.martin", "aissatou.n-diaye"}
    rows = list(csv.reader(out.read_text(encoding="utf-8-sig").splitlines(), delimiter=";"))
    assert rows == [
        ["Identifiant", "Nom", "Prénom", "Classe"],
        ["lea.martin", "Martin", "Léa", "CAP1"],
        ["aissatou.n-diaye", "N'Diaye", "Aïssatou", "CAP2"],
    ]
    assert "14032009" not in out.read_text(encoding="utf-8-sig")  # no passwords


def test_the_logins_file_carries_no_spreadsheet_formula(idp, school, rt, tmp_path):
    """Finding 6 of the outside review: a name beginning with = + - @ is written quoted."""
    path = write(tmp_path, "eleves.csv", [HEADER, "=1+1;@Léa;14/03/2009;-CAP1;"])
    out = tmp_path / "logins.csv"
    result = idp("user", "import", school, path, "--created-csv", str(out))
    assert result.exit_code == 0, result.output
    rows = list(csv.reader(out.read_text(encoding="utf-8-sig").splitlines(), delimiter=";"))
    assert rows[1] == ["lea.11", "'=1+1", "'@Léa", "'-CAP1"]


def test_the_same_person_is_updated_not_duplicated(idp, school, rt, tmp_path):
    idp("user", "import", school, write(tmp_path, "a.csv", [HEADER, "Martin;Léa;14/03/2009;CAP1;"]))
    again = idp(
        "user",
        "import",
        school,
        write(
            tmp_path,
            "b.csv",
            [HEADER, "MARTIN;Lea;2009-03-14;CAP2;lea@x.example", "Martin;Léa;15/03/2010;CAP1;"],
        ),
    )
    assert again.stdout.strip() == "created: 1, updated: 1, deactivated: 0, unchanged: 0, refused: 0"
    everyone = people(rt)
    assert set(everyone) == {"lea.martin", "lea.martin2"}
    assert everyone["lea.martin"].class_names == ["CAP2"]
    assert everyone["lea.martin"].email == "lea@x.example"


def test_deactivate_missing_retires_last_years_students(idp, school, rt, tmp_path):
    idp(
        "user",
        "import",
        school,
        write(
            tmp_path,
            "2025.csv",
            [HEADER, "Martin;Léa;14/03/2009;CAP1;", "Ancien;Élève;01/01/2007;CAP2;"],
        ),
    )
    idp(
        "user",
        "add",
        school,
        "--first-name",
        "Paul",
        "--last-name",
        "Durand",
        "--birth-date",
        "1985-09-02",
        "--role",
        "teacher",
    )
    result = idp(
        "user",
        "import",
        school,
        write(tmp_path, "2026.csv", [HEADER, "Martin;Léa;14/03/2009;CAP2;"]),
        "--deactivate-missing",
    )
    assert result.stdout.strip() == "created: 0, updated: 1, deactivated: 1, unchanged: 0, refused: 0"
    everyone = people(rt)
    assert everyone["eleve.ancien"].active is False
    assert everyone["eleve.ancien"].left_at is not None  # purged after the retention
    assert everyone["lea.martin"].active is True
    assert everyone["paul.durand"].active is True  # another role: untouched
    with rt.database.session() as session:
        event = session.scalar(
            select(AuditEvent)
            .where(AuditEvent.type == "users.imported")
            .order_by(AuditEvent.id.desc())
        )
    assert event.details == {"created": 0, "updated": 1, "deactivated": 1, "unchanged": 0, "refused": 0}


def test_refused_lines_never_retire_anyone(idp, school, rt, tmp_path):
    """With --deactivate-missing, the people of refused lines would be taken for leavers;
    an unclosed quote on the second line swallows the rest of the file into one refused
    cell, and the whole school would go. Refused at once, nothing changed."""
    pupils = [f"Eleve{i};Classe;{1 + i % 28:02d}/01/2009;CAP1;" for i in range(30)]
    idp("user", "import", school, write(tmp_path, "2025.csv", [HEADER, *pupils]))
    broken = [HEADER, 'Dupont;"Léa;01/02/2008;CAP1;', *pupils]
    result = idp(
        "user",
        "import",
        school,
        write(tmp_path, "2026.csv", broken),
        "--skip-invalid",
        "--deactivate-missing",
    )
    assert result.exit_code == 2
    assert "refused line(s) with deactivate_missing" in result.stderr.splitlines()[-1]
    assert all(user.active for user in people(rt).values())
    assert len(people(rt)) == 30


def test_a_whole_establishment(idp, school, rt, tmp_path):
    """5,000 lines with homonyms: every one gets an account and a distinct login."""
    lines = [HEADER]
    start = date(2007, 1, 1)
    for i in range(5000):
        # 50 families of 100 homonyms: logins need suffixes up to 100.
        lines.append(
            f"Nom{i % 50};Prénom;{(start + timedelta(days=i)).strftime('%d/%m/%Y')};CAP{i % 20};"
        )
    result = idp("user", "import", school, write(tmp_path, "all.csv", lines))
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == "created: 5000, updated: 0, deactivated: 0, unchanged: 0, refused: 0"
    with rt.database.session() as session:
        logins = list(session.scalars(select(User.login).where(User.role == "student")))
        assert len(logins) == len(set(logins)) == 5000
        assert all(len(login) <= 20 for login in logins)
        assert (
            session.scalar(
                select(func.count()).select_from(User).where(User.login == "prenom.nom7100")
            )
            == 1
        )


def test_an_unreadable_file_is_one_line_and_exit_2(idp, school, rt, tmp_path):
    """Finding 7 of the outside review: these were tracebacks; nothing is imported."""
    for name, data in {
        "long.csv": (
            'Nom;Prénom;Date de naissance\r\n"' + "a" * 200_000 + '";x;01/01/2010\r\n'
        ).encode(),
        "bom.csv": b"\xef\xbb\xbfNom;Pr\xe9nom;Date de naissance\r\nMartin;L\xe9a;14/03/2009\r\n",
        "empty.csv": b"",
        "binary.csv": bytes(range(256)) * 4,
        "pipes.csv": b"Nom|Prenom|Date de naissance\r\nMartin|Lea|14/03/2009\r\n",
    }.items():
        path = tmp_path / name
        path.write_bytes(data)
        result = idp("user", "import", school, str(path))
        assert result.exit_code == 2, name
        [line] = result.stderr.strip().splitlines()
        assert line.startswith("idp: error: ") and "Traceback" not in result.stderr, name
    assert people(rt) == {}


def test_a_login_taken_meanwhile_refuses_the_whole_import(idp, school, rt, tmp_path, monkeypatch):  # type: ignore[no-untyped-def]
    """Another import of the same establishment took a login between this one's choice and
    its write: one clear line, exit 2, nothing of this import written (on PostgreSQL too,
    where the failed statement aborts the transaction)."""
    import idp.services.imports as imports_service

    first = write(tmp_path, "a.csv", ["Nom;Prénom;Date de naissance", "Petit;Hugo;02/05/2009"])
    assert idp("user", "import", school, first).exit_code == 0
    # The race, made certain: this import sees no login taken.
    monkeypatch.setattr(imports_service.users, "all_logins", lambda session, school_: set())
    second = write(tmp_path, "b.csv", ["Nom;Prénom;Date de naissance",
                                       "Roux;Zoé;08/08/2009", "Petit;Hugo;03/03/2008"])  # fmt: skip
    result = idp("user", "import", school, second)
    assert result.exit_code == 2, result.output
    assert result.stderr.strip().splitlines()[-1].startswith("idp: error: a login or register")
    monkeypatch.undo()
    assert set(people(rt)) == {"hugo.petit"}  # Zoé was not written either
