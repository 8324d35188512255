"""`idp demo`: a demonstration establishment with an account of each role. Idempotent."""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from sqlalchemy.orm import Session

from idp.accounts.initial_passwords import initial_password
from idp.accounts.logins import base_login
from idp.accounts.roles import Role
from idp.models import Establishment, User
from idp.runtime import Runtime
from idp.services import accounts, clients, establishments
from idp.store import audit, users
from idp.store import clients as client_store
from idp.store import establishments as establishment_store

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
class DemoModule:
    key: str
    name: str
    port: int

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


MODULES = (
    DemoModule("STI", "C Pro STI", 8001),
    DemoModule("PASSEPORT", "Passeport professionnel", 8002),
)
CLIENTS_ENV = Path(".demo/clients.env")


@dataclass(frozen=True)
class Credential:
    login: str
    password: str
    role: str
    note: str


def seed(rt: Runtime, session: Session) -> list[Credential]:
    """Create what is missing; change nothing that exists. Returns the credentials to show."""
    existing = establishment_store.by_code(session, CODE)
    if existing is None:
        created = establishments.create(
            rt, session, code=CODE, name=NAME, uai_code=UAI, email=EMAIL, send_welcome=False
        )
        accounts.set_password(
            rt, session, CODE, created.admin_login, ADMIN_PASSWORD, temporary=True
        )
    establishment = establishments.get(session, CODE)
    admin = users.by_login(session, establishment, UAI.lower())
    credentials = [
        _credential(admin, Role.ADMIN, ADMIN_PASSWORD, "à changer à la première connexion")
    ]
    for person in PEOPLE:
        establishment = establishments.get(session, CODE)
        user = _find(session, establishment, person)
        if user is None:
            login = accounts.add(
                rt,
                session,
                CODE,
                first_name=person.first_name,
                last_name=person.last_name,
                birth_date=person.birth_date,
                role=person.role,
                email=person.email,
                groups=[person.group] if person.group else [],
            ).user.login
        else:
            login = user
        credentials.append(
            _credential(
                users.by_login(session, establishment, login),
                person.role,
                initial_password(person.role, person.birth_date),
                "date de naissance, à changer à la première connexion",
            )
        )
    return credentials


def _credential(user: User | None, role: Role, password: str, note: str) -> Credential:
    """What to print for an account: its demo password, unless it was changed since (then
    the demo password no longer works, and saying it would only mislead)."""
    assert user is not None
    state = user.password_state
    if state == "personal":
        return Credential(user.login, "—", role.value, "mot de passe déjà choisi : le vôtre")
    if role is not Role.ADMIN and state == "temporary":
        return Credential(user.login, "—", role.value, "mot de passe temporaire envoyé")
    return Credential(user.login, password, role.value, note)


def _find(session: Session, establishment: Establishment, person: DemoPerson) -> str | None:
    user = users.by_login(session, establishment, base_login(person.first_name, person.last_name))
    return user.login if user else None


def register_modules(rt: Runtime, session: Session, env_file: Path = CLIENTS_ENV) -> Path:
    """The two demo modules as clients of the demo establishment. Secrets are stored hashed
    and shown once, so their settings go to a git-ignored file when the clients are created;
    if that file is missing, the secrets are rotated so that `make run` works every time."""
    known = _read_env(env_file)
    values = {"DEMO_ISSUER": rt.settings.issuer(CODE)}
    for module in MODULES:
        establishment = establishments.get(session, CODE)
        existing = next(
            (c for c in client_store.all_of(session, establishment) if c.name == module.name), None
        )
        client_id = existing.client_id if existing else None
        if client_id is None:
            created = clients.add(
                rt,
                session,
                CODE,
                name=module.name,
                redirect_uris_=[f"{module.base_url}/callback"],
                post_logout_redirect_uris=[f"{module.base_url}/"],
                backchannel_logout_uri=f"{module.base_url}/backchannel-logout",
            )
            client_id, secret = created.client.client_id, created.secret
        elif known.get(f"{module.key}_CLIENT_ID") == client_id and known.get(
            f"{module.key}_CLIENT_SECRET"
        ):
            secret = known[f"{module.key}_CLIENT_SECRET"]
        else:
            secret = clients.rotate_secret(rt, session, CODE, client_id, actor=audit.OPERATOR)
        values |= {
            f"{module.key}_NAME": module.name,
            f"{module.key}_BASE_URL": module.base_url,
            f"{module.key}_CLIENT_ID": client_id,
            f"{module.key}_CLIENT_SECRET": secret or "",
        }
    env_file.parent.mkdir(parents=True, exist_ok=True)
    (env_file.parent / ".gitignore").write_text("*\n")
    fd = os.open(env_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(
            "# Written by `idp demo`: the demo modules' settings (secrets: keep private).\n"
        )
        handle.writelines(f"{key}={value}\n" for key, value in values.items())
    return env_file


def _read_env(path: Path) -> dict[str, str]:
    if not path.is_file():
        return {}
    pairs = (
        line.split("=", 1)
        for line in path.read_text().splitlines()
        if "=" in line and not line.startswith("#")
    )
    return {key.strip(): value.strip() for key, value in pairs}
