"""`idp user import` of SIECLE's « Élèves sans adresses »: the first import attaches the
register's identifiers to the accounts made before, later ones follow names, classes and
leavers without touching logins or passwords; the preview and `--dry-run --json`; all or
nothing. On SQLite and PostgreSQL (the fixtures run each test on both)."""

from __future__ import annotations

import hashlib
import json

from siecle_support import UAI, eleve, export, structures, zipped
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from helpers import sign_in
from idp.models import AuditEvent, SsoSession, User

PUPILS = [
    eleve("1001", "MARTIN", "Léa", "14/03/2009", ine="123456789AB"),
    eleve("1002", "DE LA FONTAINE", "Jean-Baptiste", "02/11/2008", ine="123456789AC"),
    eleve("1003", "N'DIAYE", "Éloïse", "30/06/2009", usage="N'DIAYE-DURAND"),
    eleve("1004", "BERNARD", "Lucas", "05/01/2009", ine="123456789AD"),
    eleve("1005", "BERNARD", "Lucas", "05/01/2009", ine="123456789AE"),
    eleve("1006", "LEFÈVRE", "Gaëlle", "21/12/2008", sortie="30/06/2026"),  # left
    eleve("1007", "ROUSSEAU", "Zoé", "08/08/2009", sortie="30/06/2027"),  # not yet
]
STRUCTURES = [
    structures("1001", ("2BAC-MELEC", "D"), ("2MELEC-GA", "G"), ("AP-MATHS", "G")),
    structures("1002", ("2BAC-MELEC", "D"), ("2MELEC-GB", "G")),
    structures("1003", ("1CAP-EBE", "D")),
    structures("1004", ("2BAC-MELEC", "D")),
    structures("1005", ("TBAC-MELEC", "D")),
    structures("1007", ("2BAC-MELEC", "D")),
]


def write(tmp_path, pupils=PUPILS, structs=STRUCTURES, *, name="ElevesSansAdresses.zip", uai=UAI):  # type: ignore[no-untyped-def]
    data = export(uai=uai, eleves="".join(pupils), structs="".join(structs))
    path = tmp_path / name
    path.write_bytes(zipped(data) if name.endswith(".zip") else data)
    return str(path)


def people(rt) -> dict[str, User]:  # type: ignore[no-untyped-def]
    with rt.database.session() as session:
        query = select(User).where(User.role != "admin").options(selectinload(User.groups))
        return {u.login: u for u in session.scalars(query)}


def counts(result) -> dict[str, int]:  # type: ignore[no-untyped-def]
    lines = result.stdout.splitlines()
    assert len(lines) == 1, result.stdout  # exactly one line, compact
    assert " " not in lines[0]
    return json.loads(lines[0])  # type: ignore[no-any-return]


def add(idp, school, first, last, born):  # type: ignore[no-untyped-def]
    result = idp("user", "add", school, "--first-name", first, "--last-name", last,
                 "--birth-date", born, "--role", "student", "--group", "CAP1")  # fmt: skip
    assert result.exit_code == 0, result.output
    return result.stdout.split()[-1]


def test_the_first_import_attaches_existing_accounts_and_creates_the_others(
    idp, school, rt, tmp_path, client
):  # type: ignore[no-untyped-def]
    # Made by a CSV import last year: Léa (whose password is now her own) and a pupil
    # who left in June and is not in the export.
    lea = add(idp, school, "Léa", "Martin", "2009-03-14")
    gone = add(idp, school, "Hugo", "Ancien", "2008-01-01")
    idp("user", "set-password", school, lea, "--password-stdin", input="un ciel bleu sans nuage")
    before = people(rt)[lea].password_hash
    idp("user", "set-password", school, gone, "--password-stdin", input="une mer calme et grise")
    assert sign_in(client, school, gone, "une mer calme et grise").status_code == 303

    path = write(tmp_path)
    dry = idp("user", "import", school, path, "--dry-run", "--json")
    assert dry.exit_code == 0, dry.output
    expected = {"created": 5, "updated": 1, "deactivated": 1, "unchanged": 0, "refused": 0}
    assert counts(dry) == expected
    assert set(people(rt)) == {lea, gone}  # nothing written
    assert "new: lucas.bernard2: Lucas BERNARD (TBAC-MELEC)" in dry.stderr
    assert f"leaving: {gone} (absent de l'export)" in dry.stderr
    assert "Classe: CAP1 -> 2BAC-MELEC" in dry.stderr

    done = idp("user", "import", school, path, "--json")
    assert done.exit_code == 0, done.output
    assert counts(done) == expected
    everyone = people(rt)
    # Léa keeps her login and password; she now carries the register's identifiers, the
    # class and the groups, and her name keeps its spelling (SIECLE writes MARTIN).
    kept = everyone[lea]
    assert (kept.eleve_id, kept.ine, kept.password_hash) == ("1001", "123456789AB", before)
    assert kept.last_name == "Martin"
    assert (kept.class_names, kept.group_names) == (["2BAC-MELEC"], ["2MELEC-GA", "AP-MATHS"])
    # Homonyms born the same day are two pupils, not a duplicate.
    assert (everyone["lucas.bernard"].eleve_id, everyone["lucas.bernard2"].eleve_id) == (
        "1004",
        "1005",
    )
    # The name in use makes the login (cut to 20 characters); Zoé leaves only next June; Gaëlle has left.
    assert everyone["eloise.n-diaye-duran"].ine is None
    assert everyone["zoe.rousseau"].active
    assert not any(u.first_name == "Gaëlle" for u in everyone.values())
    # The pupil absent from the export is deactivated (not deleted) and signed out.
    assert (everyone[gone].active, everyone[gone].left_at is not None) == (False, True)
    with rt.database.session() as session:
        ended = session.scalars(
            select(SsoSession.ended_at).where(SsoSession.user_id == everyone[gone].id)
        ).all()
        event = session.scalar(select(AuditEvent).where(AuditEvent.type == "users.imported"))
    assert ended and all(e is not None for e in ended)
    assert event.details == {"source": "siecle", **expected}


def test_the_next_import_follows_the_register(idp, school, rt, tmp_path):  # type: ignore[no-untyped-def]
    assert idp("user", "import", school, write(tmp_path)).exit_code == 0
    logins = {u.eleve_id: u.login for u in people(rt).values()}
    # September: Léa's usage name is corrected, Jean-Baptiste changes class, Lucas (1005)
    # leaves with a date, Éloïse is no longer in the export; the others are as they were.
    pupils = list(PUPILS)
    pupils[0] = eleve("1001", "MARTIN", "Léa", "14/03/2009", ine="123456789AB", usage="MARTIN-ROY")
    pupils[4] = eleve("1005", "BERNARD", "Lucas", "05/01/2009", sortie="01/07/2026")
    del pupils[2]
    structs = list(STRUCTURES)
    structs[1] = structures("1002", ("1BAC-MELEC", "D"))
    # Léa keeps her class and one group, leaves the other: the memberships that stay are
    # kept (a new row for the same name once broke the unique (user, name)).
    structs[0] = structures("1001", ("2BAC-MELEC", "D"), ("2MELEC-GA", "G"))
    result = idp("user", "import", school, write(tmp_path, pupils, structs, name="e.xml"), "--json")
    assert result.exit_code == 0, result.output
    assert counts(result) == {
        "created": 0,
        "updated": 2,
        "deactivated": 2,
        "unchanged": 2,
        "refused": 0,
    }
    everyone = {u.eleve_id: u for u in people(rt).values()}
    assert everyone["1001"].login == logins["1001"]  # the login stays
    assert everyone["1001"].last_name == "MARTIN-ROY"
    assert (everyone["1001"].class_names, everyone["1001"].group_names) == (
        ["2BAC-MELEC"],
        ["2MELEC-GA"],
    )
    assert everyone["1002"].class_names == ["1BAC-MELEC"] and everyone["1002"].group_names == []
    assert not everyone["1005"].active and not everyone["1003"].active
    # Back in the export: the account comes back as it was.
    again = idp("user", "import", school, write(tmp_path, PUPILS[:3], STRUCTURES[:3]), "--json")
    assert again.exit_code == 0, again.output
    back = {u.eleve_id: u for u in people(rt).values()}["1003"]
    assert (back.active, back.left_at, back.login) == (True, None, logins["1003"])


def test_a_refused_pupil_imports_nothing(idp, school, rt, tmp_path):  # type: ignore[no-untyped-def]
    bad = [*PUPILS, eleve("1008", "PETIT", "Noé", "31/02/2009")]
    result = idp("user", "import", school, write(tmp_path, bad), "--json")
    assert result.exit_code == 2
    assert counts(result)["refused"] == 1
    assert "ELEVE_ID 1008" in result.stderr and "Date de naissance illisible" in result.stderr
    assert result.stderr.strip().endswith("1 pupil(s) refused; nothing imported")
    assert people(rt) == {}


def test_an_ambiguous_match_is_refused_never_guessed(idp, school, rt, tmp_path):  # type: ignore[no-untyped-def]
    # Two accounts made before the register for two Lucas Bernard born the same day.
    first = add(idp, school, "Lucas", "Bernard", "2009-01-05")
    second = add(idp, school, "Lucas", "Bernard", "2009-01-05")
    result = idp("user", "import", school, write(tmp_path), "--json")
    assert result.exit_code == 2
    assert counts(result)["refused"] == 2
    assert f"plusieurs comptes pourraient être le sien ({first}, {second})" in result.stderr
    assert all(u.eleve_id is None for u in people(rt).values())


def test_another_schools_export_is_refused(idp, school, rt, tmp_path):  # type: ignore[no-untyped-def]
    result = idp("user", "import", school, write(tmp_path, uai="0750656F"))
    assert result.exit_code == 2
    assert "UAJ '0750656F' is not '0750655E'" in result.stderr
    assert people(rt) == {}


def test_a_leaver_is_purged_after_the_retention_and_the_audit_keeps_a_pseudonym(
    idp, school, rt, tmp_path, clock
):  # type: ignore[no-untyped-def]
    gone = add(idp, school, "Hugo", "Ancien", "2008-01-01")
    idp("user", "set-password", school, gone, "--password-stdin", input="une mer calme et grise")
    assert idp("user", "import", school, write(tmp_path)).exit_code == 0
    assert not people(rt)[gone].active

    sub = people(rt)[gone].sub
    clock.advance(days=89, hours=23)
    assert "leavers: 0" in idp("purge").stdout
    assert gone in people(rt)
    clock.advance(hours=1)
    result = idp("purge")
    assert result.exit_code == 0 and "leavers: 1" in result.stdout
    assert gone not in people(rt)
    with rt.database.session() as session:
        events = session.scalars(select(AuditEvent).order_by(AuditEvent.id)).all()
    # What was recorded about him stays, under a pseudonym; his login is nowhere.
    assert all(gone not in (e.subject, e.actor) for e in events)
    purged = [e for e in events if e.type == "user.purged"]
    assert len(purged) == 1 and purged[0].subject.startswith("parti-")
    # Keyed: the modules knew his sub, and cannot recompute the pseudonym from it.
    assert purged[0].subject[len("parti-") :] not in hashlib.sha256(sub.encode()).hexdigest()
    assert [e.type for e in events if e.subject == purged[0].subject][:2] == [
        "user.created",
        "password.set",
    ]
    # The login is free again, for a new pupil of the same name.
    assert add(idp, school, "Hugo", "Ancien", "2010-05-05") == gone


def test_a_pupil_back_before_the_purge_is_kept(idp, school, rt, tmp_path, clock):  # type: ignore[no-untyped-def]
    assert idp("user", "import", school, write(tmp_path)).exit_code == 0
    assert idp("user", "import", school, write(tmp_path, PUPILS[1:], STRUCTURES[1:])).exit_code == 0
    clock.advance(days=30)
    assert idp("user", "import", school, write(tmp_path)).exit_code == 0
    clock.advance(days=90)
    assert "leavers: 0" in idp("purge").stdout
    assert {u.eleve_id: u for u in people(rt).values()}["1001"].active


def test_an_account_brought_back_by_hand_is_no_leaver(idp, school, rt, tmp_path, clock):  # type: ignore[no-untyped-def]
    from idp.purge import purge
    from idp.services import accounts

    gone = add(idp, school, "Hugo", "Ancien", "2008-01-01")
    assert idp("user", "import", school, write(tmp_path)).exit_code == 0
    rt.run(accounts.set_active, school, gone, True, actor="0750655e")  # he is still here
    assert people(rt)[gone].left_at is None
    clock.advance(days=100)
    rt.run(accounts.set_active, school, gone, False, actor="0750655e")  # suspended
    assert purge(rt).counts["leavers"] == 0
    assert gone in people(rt)


def test_an_ine_is_one_pupils_and_group_order_is_no_change(idp, school, rt, tmp_path):  # type: ignore[no-untyped-def]
    assert idp("user", "import", school, write(tmp_path)).exit_code == 0
    # The register lists Léa's groups in another order: nothing changed.
    structs = list(STRUCTURES)
    structs[0] = structures("1001", ("AP-MATHS", "G"), ("2BAC-MELEC", "D"), ("2MELEC-GA", "G"))
    same = idp("user", "import", school, write(tmp_path, PUPILS, structs), "--json")
    assert counts(same)["unchanged"] == 6 and counts(same)["updated"] == 0
    # A new pupil with Léa's INE, then two new pupils sharing one: refused, not a crash.
    for extra in (
        [eleve("1009", "NOUVEAU", "Paul", "01/01/2009", ine="123456789AB")],
        [eleve("1010", "UN", "Paul", "01/01/2009", ine="99999999999"),
         eleve("1011", "DEUX", "Paul", "01/01/2009", ine="99999999999")],
    ):  # fmt: skip
        result = idp("user", "import", school, write(tmp_path, [*PUPILS, *extra]), "--json")
        assert result.exit_code == 2, result.output
        assert counts(result)["refused"] == 1 and "INE" in result.stderr
    bad = idp("user", "import", school,
              write(tmp_path, [*PUPILS, eleve("1012", "X", "Y", "01/01/2009", ine="TROP-LONG-POUR-UN-INE")]))  # fmt: skip
    assert bad.exit_code == 2 and "INE illisible" in bad.stderr


def test_a_partial_export_does_not_retire_the_school_without_full(idp, school, rt, tmp_path):  # type: ignore[no-untyped-def]
    everyone = [eleve(str(2000 + i), "ELEVE", f"Prenom{i}", "01/01/2009") for i in range(40)]
    assert idp("user", "import", school, write(tmp_path, everyone, [])).exit_code == 0
    one_class = everyone[:12]
    held = idp("user", "import", school, write(tmp_path, one_class, []), "--json")
    assert held.exit_code == 2 and "import it again with --full" in held.stderr
    assert counts(held)["deactivated"] == 28
    assert all(u.active for u in people(rt).values())  # nothing written
    done = idp("user", "import", school, write(tmp_path, one_class, []), "--json", "--full")
    assert done.exit_code == 0 and sum(u.active for u in people(rt).values()) == 12
