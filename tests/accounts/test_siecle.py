"""Reading SIECLE's « Élèves sans adresses » export: a realistic file written here (accents,
hyphenated and compound names, usage names, homonyms, a pupil in several groups, an empty
INE, leavers), as XML and as the zip SIECLE delivers, and what is refused."""

from __future__ import annotations

from datetime import date

import pytest
from siecle_support import UAI, eleve, export, zipped

from idp.accounts import siecle
from idp.errors import InvalidInput


def by_id(found: siecle.Export) -> dict[str, siecle.Pupil]:
    return {p.eleve_id: p for p in found.pupils}


@pytest.mark.parametrize("wrap", [lambda d: d, zipped], ids=["xml", "zip"])
def test_every_pupil_is_read_as_the_register_has_them(wrap):  # type: ignore[no-untyped-def]
    data = wrap(export())
    assert siecle.looks_like_siecle(data)
    found = siecle.read(data, uai="0750655e")
    assert found.uai == UAI
    pupils = by_id(found)
    lea = pupils["1001"]
    assert (lea.first_name, lea.last_name, lea.birth_date) == ("Léa", "MARTIN", date(2009, 3, 14))
    assert lea.ine == "123456789AB" and lea.mef == "24723010110"
    assert lea.class_code == "2BAC-MELEC" and lea.groups == ("2MELEC-GA", "AP-MATHS")
    assert pupils["1002"].last_name == "DE LA FONTAINE"
    assert pupils["1002"].first_name == "Jean-Baptiste"
    # The name in use makes the login; the name of birth is kept beside it.
    eloise = pupils["1003"]
    assert (eloise.last_name, eloise.birth_name) == ("N'DIAYE-DURAND", "N'DIAYE")
    assert eloise.ine is None  # an empty INE
    assert eloise.first_name == "Éloïse"
    # Homonyms born the same day: two pupils, told apart by the register's ids.
    assert {pupils["1004"].ine, pupils["1005"].ine} == {"123456789AD", "123456789AE"}
    assert pupils["1005"].class_code == "TBAC-MELEC"
    # « Inactifs » is no class.
    assert pupils["1006"].class_code is None and pupils["1006"].last_name == "LEFÈVRE"
    # A group listed twice is one group.
    assert pupils["1007"].groups == ("2MELEC-GA",)


def test_leavers_are_those_whose_leaving_date_has_come():
    pupils = by_id(siecle.read(export(), uai=UAI))
    today = date(2026, 12, 7)
    assert pupils["1006"].has_left(today)  # left in October
    assert not pupils["1007"].has_left(today)  # leaves next June
    assert not pupils["1001"].has_left(today)


def test_an_unreadable_pupil_is_refused_with_its_reason_and_the_others_read():
    found = siecle.read(export(), uai=UAI)
    assert "1008" not in by_id(found)  # born on 31 February
    assert [(r.eleve_id, r.reason) for r in found.refused] == [
        ("1008", "Date de naissance illisible (jj/mm/aaaa attendu)")
    ]
    assert len(found.pupils) == 7


def test_a_pupil_without_a_first_name_or_with_a_hidden_character_is_refused():
    eleves = eleve("2001", "MARTIN", "", "14/03/2009") + eleve(
        "2002", "MAR\u00adTIN", "Léa", "14/03/2009"
    )
    found = siecle.read(export(eleves=eleves, structs=""), uai=UAI)
    assert found.pupils == ()
    reasons = dict((r.eleve_id, r.reason) for r in found.refused)
    assert "obligatoire" in reasons["2001"]
    assert "U+00AD" in reasons["2002"]  # a soft hyphen: invisible


def test_another_schools_export_imports_nothing():
    with pytest.raises(InvalidInput) as refused:
        siecle.read(export(uai="0999999F"), uai=UAI)
    assert "0999999F" in refused.value.message and UAI in refused.value.message


@pytest.mark.parametrize(
    "data",
    [
        b"Nom;Pr\xe9nom;Date de naissance\nMARTIN;L\xe9a;14/03/2009\n",
        b'<?xml version="1.0"?><AUTRE_EXPORT><PARAMETRES><UAJ>0750655E</UAJ></PARAMETRES></AUTRE_EXPORT>',
        b'<?xml version="1.0"?><BEE_ELEVES><PARAMETRES><UAJ>0750655E</UAJ>',
        zipped(b"<xml/>", "autre.txt"),
        b"PK\x03\x04 not really a zip",
    ],
    ids=["csv", "other root", "cut short", "zip without xml", "broken zip"],
)
def test_what_is_not_this_export_is_refused_whole(data):  # type: ignore[no-untyped-def]
    with pytest.raises(InvalidInput) as refused:
        siecle.read(data, uai=UAI)
    assert refused.value.text == siecle.NOT_SIECLE


def test_a_csv_is_not_taken_for_it():
    assert not siecle.looks_like_siecle(b"Nom;Prenom;Date de naissance\n")
    assert not siecle.looks_like_siecle(b"PK\x03\x04 not really a zip")


def test_entities_are_refused_before_parsing():
    bomb = (
        b'<?xml version="1.0"?><!DOCTYPE BEE_ELEVES [<!ENTITY a "aaaaaaaaaa">'
        b'<!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]>'
        b"<BEE_ELEVES><PARAMETRES><UAJ>&b;</UAJ></PARAMETRES></BEE_ELEVES>"
    )
    with pytest.raises(InvalidInput) as refused:
        siecle.read(bomb, uai=UAI)
    assert "DOCTYPE" in (refused.value.detail or "")


def test_a_zip_that_inflates_too_far_is_refused(monkeypatch):  # type: ignore[no-untyped-def]
    monkeypatch.setattr(siecle, "MAX_BYTES", 64 * 1024)
    padded = export().replace(b"</BEE_ELEVES>", b"<!--" + b" " * 200_000 + b"--></BEE_ELEVES>")
    data = zipped(padded)
    assert len(data) < 64 * 1024  # small on the wire
    with pytest.raises(InvalidInput) as refused:
        siecle.read(data, uai=UAI)
    assert "inflates" in (refused.value.detail or "")
