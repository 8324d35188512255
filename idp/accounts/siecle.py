"""The SIECLE export « Élèves sans adresses » (`ElevesSansAdresses.xml`, ISO-8859-15, root
`BEE_ELEVES`), as the school's register delivers it: the XML itself, or a `.zip` holding
it. This module only reads and checks it; what the import does with it is elsewhere.

What it reads, per pupil (`DONNEES/ELEVES/ELEVE`): the register's `ELEVE_ID`, the national
identifier (`ID_NATIONAL`, the INE, sometimes empty), the family name and the name in use
(`NOM_USAGE` when present, else `NOM_DE_FAMILLE`: the one people use, which makes the login
and `family_name`), `PRENOM`, `DATE_NAISS` (jj/mm/aaaa), `CODE_MEF` and `DATE_SORTIE`; and
from `DONNEES/STRUCTURES/STRUCTURES_ELEVE`, the class (`TYPE_STRUCTURE` `D`) and the groups
(any other type), the pseudo-class « Inactifs » left out.

The file comes from outside: it is parsed by defusedxml, which accepts no DTD, entity or
external reference (SIECLE writes none), a zip
is opened only for its one XML member and read within a size limit, and a pupil that
cannot be read is a refused entry with its reason, never a guess.
"""

from __future__ import annotations

import io
import re
import zipfile
from dataclasses import dataclass
from datetime import date, datetime
from xml.etree import ElementTree

from defusedxml import DefusedXmlException
from defusedxml import ElementTree as DefusedElementTree

from idp.accounts import names
from idp.errors import InvalidInput
from idp.i18n import N_

MAX_BYTES = 50 * 1024 * 1024
ROOT = "BEE_ELEVES"
CLASS = "D"
INACTIVE = "inactifs"
_DATE = re.compile(r"(\d{2})/(\d{2})/(\d{4})")
# The national pupil identifier: 11 characters, digits and capital letters.
_INE = re.compile(r"[0-9A-Z]{11}")
# SIECLE's ELEVE_ID: digits (our column holds 20).
_ELEVE_ID = re.compile(r"[0-9A-Za-z]{1,20}")

NOT_SIECLE = N_(
    "Ce fichier n'est pas l'export SIECLE « Élèves sans adresses » : exportez-le de nouveau "
    "depuis SIECLE (fichier ElevesSansAdresses.xml, ou le .zip qui le contient)."
)
OTHER_SCHOOL = N_(
    "Cet export SIECLE est celui de l'établissement %(found)s, pas de celui-ci (%(expected)s) : "
    "rien n'a été importé."
)


@dataclass(frozen=True)
class Pupil:
    eleve_id: str
    ine: str | None
    first_name: str
    # The name in use (NOM_USAGE, else NOM_DE_FAMILLE), and the one of birth.
    last_name: str
    birth_name: str
    birth_date: date
    mef: str | None
    left_on: date | None
    class_code: str | None
    groups: tuple[str, ...]

    def has_left(self, today: date) -> bool:
        """A leaving date in the past makes a leaver; one still to come does not yet."""
        return self.left_on is not None and self.left_on <= today


@dataclass(frozen=True)
class Refused:
    eleve_id: str
    reason: str


@dataclass(frozen=True)
class Export:
    uai: str
    pupils: tuple[Pupil, ...]
    refused: tuple[Refused, ...]


def looks_like_siecle(data: bytes) -> bool:
    """Whether `data` is this export (or a zip of it), recognised from its content."""
    if data.startswith(b"PK\x03\x04"):
        try:
            return _member(data) is not None
        except InvalidInput:
            return False
    head = data[:4096].lstrip(b"\xef\xbb\xbf \t\r\n")
    return head.startswith(b"<?xml") and f"<{ROOT}".encode() in head


def read(data: bytes, *, uai: str) -> Export:
    """The export, checked to be the establishment `uai`'s; InvalidInput (nothing to
    import) when it is not this export, cannot be read, or is another school's."""
    xml = data
    if data.startswith(b"PK\x03\x04"):
        member = _member(data)
        if member is None:
            raise InvalidInput(NOT_SIECLE, detail="a zip without ElevesSansAdresses.xml")
        xml = member
    if len(xml) > MAX_BYTES:
        raise InvalidInput(NOT_SIECLE, detail=f"over {MAX_BYTES} bytes")
    try:
        # defusedxml: no DTD, no entity, no external reference (SIECLE writes none).
        root = DefusedElementTree.fromstring(xml, forbid_dtd=True)
    except DefusedXmlException as exc:
        raise InvalidInput(NOT_SIECLE, detail=f"a DOCTYPE or an entity: {exc!r}") from None
    except ElementTree.ParseError as exc:
        raise InvalidInput(NOT_SIECLE, detail=f"not well-formed XML: {exc}") from None
    if root.tag != ROOT:
        raise InvalidInput(NOT_SIECLE, detail=f"root {root.tag!r}, not {ROOT}")
    found = (root.findtext("PARAMETRES/UAJ") or "").strip().upper()
    if found != uai.strip().upper():
        raise InvalidInput(
            OTHER_SCHOOL,
            {"found": found or "?", "expected": uai.upper()},
            detail=f"UAJ {found!r} is not {uai!r}",
        )
    structures = _structures(root)
    pupils: list[Pupil] = []
    refused: list[Refused] = []
    seen: set[str] = set()
    for element in root.iterfind("DONNEES/ELEVES/ELEVE"):
        eleve_id = (element.get("ELEVE_ID") or "").strip()
        if not _ELEVE_ID.fullmatch(eleve_id) or eleve_id in seen:
            refused.append(Refused(eleve_id, N_("ELEVE_ID absent ou en double")))
            continue
        seen.add(eleve_id)
        try:
            pupils.append(_pupil(element, eleve_id, structures.get(eleve_id, (None, ()))))
        except InvalidInput as exc:
            refused.append(Refused(eleve_id, exc.message))
    return Export(found, tuple(pupils), tuple(refused))


def _member(data: bytes) -> bytes | None:
    """The one XML member of a zip, read within the size limit (a zip bomb says a small
    size and inflates: the reading stops at the limit)."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            candidates = [
                info
                for info in archive.infolist()
                if info.filename.lower().rsplit("/", 1)[-1].endswith(".xml")
            ]
            if len(candidates) != 1:
                return None
            with archive.open(candidates[0]) as member:
                content = member.read(MAX_BYTES + 1)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, NotImplementedError):
        raise InvalidInput(NOT_SIECLE, detail="a damaged or unsupported zip") from None
    if len(content) > MAX_BYTES:
        raise InvalidInput(NOT_SIECLE, detail=f"the XML inflates over {MAX_BYTES} bytes")
    return content


def _structures(root: ElementTree.Element) -> dict[str, tuple[str | None, tuple[str, ...]]]:
    """ELEVE_ID → (the class, the groups)."""
    found: dict[str, tuple[str | None, tuple[str, ...]]] = {}
    for entry in root.iterfind("DONNEES/STRUCTURES/STRUCTURES_ELEVE"):
        eleve_id = (entry.get("ELEVE_ID") or "").strip()
        klass: str | None = None
        groups: list[str] = []
        for structure in entry.iterfind("STRUCTURE"):
            # Our column holds 100 characters; SIECLE's codes are far shorter.
            code = " ".join((structure.findtext("CODE_STRUCTURE") or "").split())[:100]
            kind = (structure.findtext("TYPE_STRUCTURE") or "").strip().upper()
            if not code or code.lower() == INACTIVE:
                continue
            if kind == CLASS:
                klass = code
            elif code not in groups:
                groups.append(code)
        found[eleve_id] = (klass, tuple(groups))
    return found


def _pupil(
    element: ElementTree.Element,
    eleve_id: str,
    structure: tuple[str | None, tuple[str, ...]],
) -> Pupil:
    def text(tag: str) -> str:
        return " ".join((element.findtext(tag) or "").split())

    first_name = names.clean(text("PRENOM"), "Prénom")
    birth_name = names.clean(text("NOM_DE_FAMILLE"), "Nom")
    in_use = text("NOM_USAGE")
    last_name = names.clean(in_use, "Nom d'usage") if in_use else birth_name
    birth_date = _date(text("DATE_NAISS"))
    if birth_date is None:
        raise InvalidInput(N_("Date de naissance illisible (jj/mm/aaaa attendu)"))
    leaving = text("DATE_SORTIE")
    left_on = _date(leaving) if leaving else None
    if leaving and left_on is None:
        raise InvalidInput(N_("Date de sortie illisible (jj/mm/aaaa attendu)"))
    klass, groups = structure
    ine = text("ID_NATIONAL").upper() or None
    if ine is not None and not _INE.fullmatch(ine):
        raise InvalidInput(N_("INE illisible (11 caractères attendus)"))
    return Pupil(
        eleve_id=eleve_id,
        ine=ine,
        first_name=first_name,
        last_name=last_name,
        birth_name=birth_name,
        birth_date=birth_date,
        mef=text("CODE_MEF") or None,
        left_on=left_on,
        class_code=klass,
        groups=groups,
    )


def _date(value: str) -> date | None:
    if not _DATE.fullmatch(value):
        return None
    try:
        return datetime.strptime(value, "%d/%m/%Y").date()
    except ValueError:
        return None
