"""Writing SIECLE « Élèves sans adresses » exports for tests: the XML as SIECLE writes it
(ISO-8859-15), and the zip it is delivered in."""

from __future__ import annotations

import io
import zipfile

UAI = "0750655E"


def eleve(eleve_id, nom, prenom, naiss, *, usage="", ine="", mef="24723010110", sortie=""):  # type: ignore[no-untyped-def]
    return f"""
      <ELEVE ELEVE_ID="{eleve_id}" ELENOET="{eleve_id[-4:]}">
        <ID_NATIONAL>{ine}</ID_NATIONAL>
        <NOM_DE_FAMILLE>{nom}</NOM_DE_FAMILLE>
        <NOM_USAGE>{usage}</NOM_USAGE>
        <PRENOM>{prenom}</PRENOM>
        <PRENOM2></PRENOM2>
        <DATE_NAISS>{naiss}</DATE_NAISS>
        <CODE_SEXE>1</CODE_SEXE>
        <CODE_MEF>{mef}</CODE_MEF>
        <DATE_ENTREE>01/09/2025</DATE_ENTREE>
        <DATE_SORTIE>{sortie}</DATE_SORTIE>
      </ELEVE>"""


def structures(eleve_id, *codes):  # type: ignore[no-untyped-def]
    inner = "".join(
        f"<STRUCTURE><CODE_STRUCTURE>{code}</CODE_STRUCTURE>"
        f"<TYPE_STRUCTURE>{kind}</TYPE_STRUCTURE></STRUCTURE>"
        for code, kind in codes
    )
    return f'<STRUCTURES_ELEVE ELEVE_ID="{eleve_id}" ELENOET="{eleve_id[-4:]}">{inner}</STRUCTURES_ELEVE>'


def export(*, uai: str = UAI, eleves: str | None = None, structs: str | None = None) -> bytes:
    if eleves is None:
        eleves = "".join(
            [
                eleve("1001", "MARTIN", "Léa", "14/03/2009", ine="123456789AB"),
                eleve("1002", "DE LA FONTAINE", "Jean-Baptiste", "02/11/2008", ine="123456789AC"),
                eleve("1003", "N'DIAYE", "Éloïse", "30/06/2009", usage="N'DIAYE-DURAND"),
                eleve("1004", "BERNARD", "Lucas", "05/01/2009", ine="123456789AD"),
                eleve("1005", "BERNARD", "Lucas", "05/01/2009", ine="123456789AE"),
                eleve("1006", "LEFÈVRE", "Gaëlle", "21/12/2008", sortie="15/10/2026"),
                eleve("1007", "ROUSSEAU", "Zoé", "08/08/2009", sortie="30/06/2027"),
                eleve("1008", "PETIT", "Noé", "31/02/2009"),
            ]
        )
    if structs is None:
        structs = "".join(
            [
                structures("1001", ("2BAC-MELEC", "D"), ("2MELEC-GA", "G"), ("AP-MATHS", "G")),
                structures("1002", ("2BAC-MELEC", "D"), ("2MELEC-GB", "G")),
                structures("1003", ("1CAP-EBE", "D")),
                structures("1004", ("2BAC-MELEC", "D")),
                structures("1005", ("TBAC-MELEC", "D")),
                structures("1006", ("Inactifs", "D")),
                structures("1007", ("2BAC-MELEC", "D"), ("2MELEC-GA", "G"), ("2MELEC-GA", "G")),
            ]
        )
    text = f"""<?xml version="1.0" encoding="ISO-8859-15"?>
<BEE_ELEVES VERSION="3.1">
  <PARAMETRES>
    <UAJ>{uai}</UAJ>
    <ANNEE_SCOLAIRE>2026</ANNEE_SCOLAIRE>
    <DATE_EXPORT>05/12/2026</DATE_EXPORT>
    <HORODATAGE>05/12/2026 10:12:41</HORODATAGE>
  </PARAMETRES>
  <DONNEES>
    <ELEVES>{eleves}
    </ELEVES>
    <STRUCTURES>{structs}</STRUCTURES>
  </DONNEES>
</BEE_ELEVES>
"""
    return text.encode("iso-8859-15")


def zipped(data: bytes, name: str = "ElevesSansAdresses.xml") -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(name, data)
    return out.getvalue()
