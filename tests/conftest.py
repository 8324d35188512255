"""Fixtures chain settings → runtime → app → client → data.

Database tests run on SQLite always and on PostgreSQL when IDP_TEST_DATABASE_URL is set.
A missing service skips with the reason, except under IDP_TEST_REQUIRE_ALL=1 (CI), where
it fails.
"""

from __future__ import annotations

import os
import secrets
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from sqlalchemy import text
from sqlalchemy.engine import make_url
from starlette.testclient import TestClient

from helpers import UAI_A, UAI_B, Mailbox
from idp import schema
from idp.app import create_app
from idp.cli import cli
from idp.clock import FrozenClock
from idp.db import Base, make_engine
from idp.mail import FileMailer
from idp.runtime import Runtime, build_runtime
from idp.settings import Settings
from smtp_support import smtp_server  # noqa: F401 - a shared fixture

REQUIRE_ALL = os.environ.get("IDP_TEST_REQUIRE_ALL") == "1"
PG_URL = os.environ.get("IDP_TEST_DATABASE_URL")
TEST_SECRET = "test-secret-key-0123456789abcdef-0123456789"


def missing_service(reason: str) -> None:
    """Skip for a service this machine lacks; in CI (IDP_TEST_REQUIRE_ALL=1), fail."""
    if REQUIRE_ALL:
        pytest.fail(f"required service missing: {reason}")
    pytest.skip(reason)


# -- databases -----------------------------------------------------------------------------


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One migrated SQLite file; each test gets a copy."""
    path = tmp_path_factory.mktemp("template") / "idp.db"
    engine = make_engine(f"sqlite:///{path}")
    schema.upgrade(engine)
    engine.dispose()
    return path


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A schema of our own in the test database, so that test runs sharing one PostgreSQL
    (a developer's and CI's, or two at once) never see each other's rows; the real
    migrations run once into it, and it is dropped at the end."""
    if not PG_URL:
        missing_service("PostgreSQL: set IDP_TEST_DATABASE_URL to run the PostgreSQL tests")
    name = f"idp_test_{os.getpid()}_{secrets.token_hex(4)}"
    url = make_url(PG_URL).update_query_dict({"options": f"-csearch_path={name}"})
    admin = make_engine(PG_URL)
    try:
        with admin.begin() as connection:
            connection.execute(text(f'CREATE SCHEMA "{name}"'))
        engine = make_engine(url.render_as_string(hide_password=False))
        schema.upgrade(engine)
        engine.dispose()
    except Exception as exc:
        admin.dispose()
        missing_service(f"PostgreSQL at IDP_TEST_DATABASE_URL is not usable: {exc}")
    try:
        yield url.render_as_string(hide_password=False)
    finally:
        with admin.begin() as connection:
            connection.execute(text(f'DROP SCHEMA IF EXISTS "{name}" CASCADE'))
        admin.dispose()


def _truncate_postgres(url: str) -> None:
    engine = make_engine(url)
    tables = ", ".join(t.name for t in Base.metadata.sorted_tables)
    with engine.begin() as connection:
        connection.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
    engine.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path, sqlite_template: Path) -> str:
    if request.param == "sqlite":
        path = tmp_path / "idp.db"
        shutil.copy(sqlite_template, path)
        return f"sqlite:///{path}"
    url = request.getfixturevalue("postgres_url")
    _truncate_postgres(url)
    return url


# -- the provider --------------------------------------------------------------------------


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock()


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    # Cheap argon2 parameters keep the suite fast; the real ones are tested on their own.
    return Settings(
        database_url=database_url,
        secret_key=TEST_SECRET,
        argon2_memory_kib=256,
        argon2_time_cost=1,
        mail_backend="file",
        mail_dir=tmp_path / "mail",
    )


@pytest.fixture
def mailbox(settings: Settings) -> Mailbox:
    return Mailbox(settings.mail_dir)


@pytest.fixture
def rt(settings: Settings, clock: FrozenClock) -> Iterator[Runtime]:
    # As the web server builds it (server=True): its database threads, its quick calls on
    # the event loop (SQLite), its timeouts on PostgreSQL. Commands build theirs apart.
    runtime = build_runtime(
        settings, clock=clock, mailer=FileMailer(settings.mail_dir), server=True
    )
    yield runtime
    runtime.close()


@pytest.fixture
def app(settings: Settings, rt: Runtime):  # type: ignore[no-untyped-def]
    return create_app(settings, runtime=rt)


@pytest.fixture
def client(app) -> Iterator[TestClient]:  # type: ignore[no-untyped-def]
    with TestClient(
        app,
        base_url="http://127.0.0.1:8000",
        follow_redirects=False,
        client=("198.51.100.7", 50000),
    ) as c:
        yield c


# -- the CLI -------------------------------------------------------------------------------


class Cli:
    def __init__(self, rt: Runtime) -> None:
        self.rt = rt

    def __call__(self, *args: str, input: str | None = None) -> Result:
        return CliRunner().invoke(cli, list(args), obj=self.rt, input=input)


@pytest.fixture
def idp(rt: Runtime) -> Cli:
    """Run `idp …` in-process against the test runtime."""
    return Cli(rt)


# -- data ----------------------------------------------------------------------------------


@pytest.fixture
def school(idp: Cli) -> str:
    """An establishment `lp-a` with its admin; returns its code."""
    result = idp(
        "establishment",
        "create",
        "lp-a",
        "--name",
        "Lycée professionnel A",
        "--uai",
        UAI_A,
        "--email",
        "secretariat@lp-a.example",
    )
    assert result.exit_code == 0, result.output
    return "lp-a"


@pytest.fixture
def other_school(idp: Cli) -> str:
    result = idp(
        "establishment",
        "create",
        "lp-b",
        "--name",
        "Lycée professionnel B",
        "--uai",
        UAI_B,
        "--email",
        "secretariat@lp-b.example",
    )
    assert result.exit_code == 0, result.output
    return "lp-b"
