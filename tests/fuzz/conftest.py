"""One provider per fuzz module, in-process (SQLite), with an establishment, people, a
module of each client authentication method, and browsers signed in as each role.

Hypothesis runs many examples in one test call, so the fixtures here live for the module
(function-scoped ones would be shared across examples anyway, which Hypothesis refuses)."""

from __future__ import annotations

import logging
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import pytest
from joserfc.jwk import ECKey, RSAKey
from sqlalchemy import select
from starlette.testclient import TestClient

from conftest import TEST_SECRET, _truncate_postgres
from helpers import UAI_A, csrf_from, sign_in
from idp.accounts.roles import Role
from idp.app import create_app
from idp.models import User
from idp.runtime import Runtime, build_runtime
from idp.services import accounts, clients, establishments
from idp.settings import Settings

SCHOOL = "lp-a"
REDIRECT = "https://sti.cpro.example/callback"
PASSWORD = "ma tortue verte lit le journal"
ADMIN_PASSWORD = "un admin bien gardé ici"
TEACHER_PASSWORD = "la mer est calme ce matin"
BASE = "http://127.0.0.1:8000"


class Traces(logging.Handler):
    """Every log record at ERROR or above, or carrying a stack trace."""

    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.levelno >= logging.ERROR or record.exc_info:
            self.records.append(record)

    def take(self) -> list[str]:
        taken = [self.format(r) for r in self.records]
        self.records.clear()
        return taken


@dataclass
class Module:
    client_id: str
    secret: str | None = None
    key: ECKey | None = None


@dataclass(repr=False)
class World:
    rt: Runtime
    app: object
    anonymous: TestClient
    student: TestClient
    admin: TestClient
    traces: Traces
    basic: Module
    post: Module
    public: Module
    jwt: Module
    server_key: RSAKey
    student_sub: str
    csrf: dict[str, str] = field(default_factory=dict)

    def browser(self, who: str) -> TestClient:
        return {"anonymous": self.anonymous, "student": self.student, "admin": self.admin}[who]

    def signed_in(self, who: str) -> TestClient:
        """The browser of `who`, signed in again if a fuzzed request ended its session."""
        browser = self.browser(who)
        if who == "anonymous":
            return browser
        if "/login" in browser.get(f"/{SCHOOL}").headers.get("location", ""):
            login, password = (
                ("lea.martin", PASSWORD) if who == "student" else (UAI_A, ADMIN_PASSWORD)
            )
            assert sign_in(browser, SCHOOL, login, password).status_code == 303
        return browser

    def __repr__(self) -> str:  # Hypothesis prints it with every failing example
        return "World()"

    def _repr_pretty_(self, printer, cycle: bool) -> None:  # type: ignore[no-untyped-def]
        printer.text("World()")

    @property
    def issuer(self) -> str:
        return f"{BASE}/{SCHOOL}"


def _client(app: object) -> TestClient:
    # Server errors become 500 answers (as behind uvicorn), which the tests then refuse.
    return TestClient(
        app,  # type: ignore[arg-type]
        base_url=BASE,
        follow_redirects=False,
        raise_server_exceptions=False,
        client=("198.51.100.7", 50000),
    )


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def world(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, sqlite_template: Path
) -> Iterator[World]:
    """On both databases: PostgreSQL refuses what SQLite stores (a NUL in text), so some
    hostile input fails only there."""
    tmp = tmp_path_factory.mktemp("fuzz")
    if request.param == "sqlite":
        shutil.copy(sqlite_template, tmp / "idp.db")
        database_url = f"sqlite:///{tmp / 'idp.db'}"
    else:
        database_url = request.getfixturevalue("postgres_url")
        _truncate_postgres(database_url)
    settings = Settings(
        database_url=database_url,
        secret_key=TEST_SECRET,
        argon2_memory_kib=256,
        argon2_time_cost=1,
        mail_backend="file",
        mail_dir=tmp / "mail",
        base_url=BASE,
    )
    rt = build_runtime(settings)
    rt.run(
        establishments.create,
        code=SCHOOL,
        name="Lycée professionnel A",
        uai_code=UAI_A,
        email="secretariat@lp-a.example",
        send_welcome=False,
    )
    rt.run(
        accounts.add,
        SCHOOL,
        first_name="Léa",
        last_name="Martin",
        birth_date=date(2009, 3, 14),
        role=Role.STUDENT,
        groups=["CAP1"],
    )
    rt.run(accounts.set_password, SCHOOL, "lea.martin", PASSWORD, temporary=False)
    rt.run(
        accounts.add,
        SCHOOL,
        first_name="Paul",
        last_name="Durand",
        birth_date=date(1985, 9, 2),
        role=Role.TEACHER,
        email="paul@lp-a.example",
    )
    rt.run(accounts.set_password, SCHOOL, "paul.durand", TEACHER_PASSWORD, temporary=False)
    rt.run(accounts.set_password, SCHOOL, UAI_A.lower(), ADMIN_PASSWORD, temporary=False)

    def register(name: str, **options: object) -> Module:
        created = rt.run(clients.add, SCHOOL, name=name, redirect_uris_=[REDIRECT], **options)
        return Module(created.client.client_id, created.secret)

    key = ECKey.generate_key("P-256", parameters={"kid": "fuzz-1"}, private=True)
    jwt_module = register(
        "Module JWT", auth_method="private_key_jwt", jwks={"keys": [key.as_dict(private=False)]}
    )
    jwt_module.key = key

    def server_key(rt: Runtime, session) -> RSAKey:  # type: ignore[no-untyped-def]
        view = rt.directory.get(session, SCHOOL)
        assert view is not None
        return rt.keys.signing_key(session, view.id, "RS256")  # type: ignore[return-value]

    def student_sub(rt: Runtime, session) -> str:  # type: ignore[no-untyped-def]
        return session.scalar(select(User.sub).where(User.login == "lea.martin"))

    app = create_app(settings, runtime=rt)
    traces = Traces()
    root = logging.getLogger()
    root.addHandler(traces)
    anonymous, student, admin = _client(app), _client(app), _client(app)
    try:
        assert sign_in(student, SCHOOL, "lea.martin", PASSWORD).status_code == 303
        assert sign_in(admin, SCHOOL, UAI_A, ADMIN_PASSWORD).status_code == 303
        world = World(
            rt=rt,
            app=app,
            anonymous=anonymous,
            student=student,
            admin=admin,
            traces=traces,
            basic=register("Module Basic"),
            post=register("Module Post", auth_method="client_secret_post"),
            public=register("Module public", public=True),
            jwt=jwt_module,
            server_key=rt.run(server_key),
            student_sub=rt.run(student_sub),
        )
        # Each browser's CSRF token (bound to its pre-session cookie), from a page with a form.
        for who, page in (
            ("anonymous", "login"),
            ("student", "password/change"),
            ("admin", "admin/users/new"),
        ):
            world.csrf[who] = csrf_from(world.browser(who).get(f"/{SCHOOL}/{page}").text)
        traces.take()
        yield world
    finally:
        root.removeHandler(traces)
        for c in (anonymous, student, admin):
            c.close()
        rt.close()
