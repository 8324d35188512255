"""`idp demo`: a demonstration establishment with an account of each role. Idempotent."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sqlalchemy.orm import Session

from idp import provisioning
from idp.accounts.initial_passwords import initial_password
from idp.accounts.logins import base_login
from idp.accounts.roles import Role
from idp.models import Establishment
from idp.runtime import Runtime
from idp.store import establishments, users

CODE = "demo"
NAME = "Lycée professionnel de démonstration"
UAI = "0999999F"
EMAIL = "secretariat@demo.cpro.example"
# Known so that `make run` can print it; the first sign-in forces a change anyway.
ADMIN_PASSWORD = "demo-admin-2026"  # noqa: S105 - a demo credential, printed on purpose


@dataclass(frozen=True)
class DemoPerson:
    first_name: str
    last_name: str
    birth_date: date
    role: Role
    email: str | None = None
    group: str | None = None


PEOPLE = (
    DemoPerson("Léa", "Martin", date(2009, 3, 14), Role.STUDENT, group="CAP-MELEC-1"),
    DemoPerson("Hugo", "Bernard", date(2008, 11, 2), Role.STUDENT, group="CAP-MELEC-1"),
    DemoPerson(
        "Paul", "Durand", date(1985, 9, 2), Role.TEACHER, email="paul.durand@demo.cpro.example"
    ),
    DemoPerson("Nadia", "Petit", date(1979, 5, 23), Role.STAFF),
)


@dataclass(frozen=True)
class Credential:
    login: str
    password: str
    role: str
    note: str


def seed(rt: Runtime) -> list[Credential]:
    """Create what is missing; change nothing that exists. Returns the credentials to show."""
    with rt.database.session() as session:
        existing = establishments.by_code(session, CODE)
    if existing is None:
        created = provisioning.create_establishment(
            rt, code=CODE, name=NAME, uai_code=UAI, email=EMAIL, send_welcome=False
        )
        provisioning.set_password(rt, CODE, created.admin_login, ADMIN_PASSWORD, temporary=True)
    credentials = [
        Credential(
            UAI.lower(), ADMIN_PASSWORD, Role.ADMIN.value, "à changer à la première connexion"
        )
    ]
    for person in PEOPLE:
        with rt.database.session() as session:
            establishment = provisioning.get_establishment(session, CODE)
            user = _find(session, establishment, person)
        if user is None:
            login = provisioning.add_user(
                rt,
                CODE,
                first_name=person.first_name,
                last_name=person.last_name,
                birth_date=person.birth_date,
                role=person.role,
                email=person.email,
                groups=[person.group] if person.group else [],
            ).login
        else:
            login = user
        credentials.append(
            Credential(
                login,
                initial_password(person.role, person.birth_date),
                person.role.value,
                "date de naissance, à changer à la première connexion",
            )
        )
    return credentials


def _find(session: Session, establishment: Establishment, person: DemoPerson) -> str | None:
    user = users.by_login(session, establishment, base_login(person.first_name, person.last_name))
    return user.login if user else None
