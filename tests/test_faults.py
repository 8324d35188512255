"""Faults of the database, in process: PostgreSQL that stops answering (through a proxy the
test controls), a statement or a lock wait that runs too long, SQLite's write lock held by
another connection. Each ends in a 503 within the configured time, and the next request
after the fault is served. The same with a real server process: tests/e2e/test_faults.py."""

from __future__ import annotations

import logging
import shutil
import sqlite3
import threading
import time
from collections.abc import Iterator
from dataclasses import replace

import anyio
import pytest
from fault_support import Proxy
from sqlalchemy import event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, OperationalError
from starlette.testclient import TestClient

from conftest import TEST_SECRET
from helpers import UAI_A, csrf_from
from idp import db
from idp.app import create_app
from idp.db import Database
from idp.errors import ConfigurationError
from idp.mail import FileMailer
from idp.oauth.backchannel import Sender
from idp.purge import purge
from idp.runtime import build_runtime
from idp.security.outbound import Outbound
from idp.settings import Settings

SCHOOL = "lp-a"
# What a loaded machine may add to a bound (process scheduling, a slow first query).
SLACK = 1.5


def elapsed(call, *args, **kwargs):  # type: ignore[no-untyped-def]
    started = time.monotonic()
    result = call(*args, **kwargs)
    return result, time.monotonic() - started


# -- settings ------------------------------------------------------------------------------


def test_the_database_timeouts_are_settings() -> None:
    settings = Settings.from_env(
        {"IDP_DATABASE_TIMEOUT": "3", "IDP_DATABASE_BUSY_TIMEOUT": "0.5"}, env_file=None
    )
    assert (settings.database_timeout, settings.database_busy_timeout) == (3.0, 0.5)
    defaults = Settings.from_env({}, env_file=None)
    assert (defaults.database_timeout, defaults.database_busy_timeout) == (5.0, 30.0)
    # psycopg waits 2 s at least to connect: a shorter promise could not be kept.
    with pytest.raises(ConfigurationError, match="IDP_DATABASE_TIMEOUT"):
        Settings.from_env({"IDP_DATABASE_TIMEOUT": "1"}, env_file=None)
    with pytest.raises(ConfigurationError, match="IDP_DATABASE_BUSY_TIMEOUT"):
        Settings.from_env({"IDP_DATABASE_BUSY_TIMEOUT": "0"}, env_file=None)


# -- PostgreSQL ----------------------------------------------------------------------------


@pytest.fixture
def proxy(postgres_url: str) -> Iterator[Proxy]:
    url = make_url(postgres_url)
    proxy = Proxy((url.host or "127.0.0.1", url.port or 5432))
    try:
        yield proxy
    finally:
        proxy.close()


def _through(postgres_url: str, proxy: Proxy) -> str:
    return (
        make_url(postgres_url)
        .set(host="127.0.0.1", port=proxy.port)
        .render_as_string(hide_password=False)
    )


def _select_one(database: Database) -> int:
    with database.session() as session:
        return int(session.execute(text("SELECT 1")).scalar_one())


@pytest.mark.postgres
def test_each_wait_for_a_silent_postgresql_is_bounded(postgres_url: str, proxy: Proxy) -> None:
    timeout = 2.0
    database = Database(_through(postgres_url, proxy), timeout=timeout)
    try:
        assert _select_one(database) == 1
        uow = database.unit_of_work()
        uow.session.execute(text("SELECT 1"))
        proxy.hang()
        started = time.monotonic()
        with pytest.raises(OperationalError) as silent:
            uow.session.execute(text("SELECT 2"))
        mid_transaction = time.monotonic() - started
        uow.close()
        assert db.unavailable(silent.value)
        assert timeout - 0.1 < mid_transaction < timeout + SLACK

        started = time.monotonic()
        with pytest.raises(OperationalError) as refused:
            _select_one(database)
        new_request = time.monotonic() - started
        assert db.unavailable(refused.value)
        # The check of a pooled connection (1 s) and a new connection (psycopg: 2 s at least).
        assert new_request < max(timeout, 1 + 2) + SLACK

        proxy.cut()
        started = time.monotonic()
        with pytest.raises(OperationalError) as cut:
            _select_one(database)
        assert db.unavailable(cut.value)
        assert time.monotonic() - started < 1.0  # refused: nothing to wait for

        proxy.restore()
        assert _select_one(database) == 1
    finally:
        database.dispose()


@pytest.mark.postgres
def test_a_long_statement_or_lock_wait_is_cancelled_at_the_timeout(postgres_url: str) -> None:
    database = Database(postgres_url, timeout=2.0)
    holder = Database(postgres_url)  # a command's engine: no timeout
    try:
        with database.session() as session:
            started = time.monotonic()
            with pytest.raises(OperationalError) as slow:
                session.execute(text("SELECT pg_sleep(10)"))
            assert db.unavailable(slow.value)
            assert type(slow.value.orig).__name__ == "QueryCanceled"
            assert time.monotonic() - started < 2.0 - 0.5 + 0.3
            session.rollback()
        other = holder.unit_of_work()
        try:
            other.session.execute(text("LOCK TABLE alembic_version IN ACCESS EXCLUSIVE MODE"))
            with database.session() as session:
                started = time.monotonic()
                with pytest.raises(OperationalError) as locked:
                    session.execute(text("SELECT * FROM alembic_version"))
                assert db.unavailable(locked.value)
                assert type(locked.value.orig).__name__ in {"LockNotAvailable", "QueryCanceled"}
                assert time.monotonic() - started < 2.0 - 0.5 + 0.3
                session.rollback()
        finally:
            other.rollback()
            other.close()
        assert _select_one(database) == 1  # the connection was not lost
    finally:
        database.dispose()
        holder.dispose()


@pytest.mark.postgres
def test_commands_keep_no_statement_timeout(postgres_url: str) -> None:
    """A migration or an import may run longer than a request may wait."""
    database = Database(postgres_url)
    try:
        with database.session() as session:
            assert session.execute(text("SHOW statement_timeout")).scalar_one() == "0"
    finally:
        database.dispose()


def test_the_servers_purge_is_not_cut_short_by_the_request_timeout(postgres_url: str) -> None:
    """The server's own runtime has the requests' statement timeout (1.5 s with 2 s here):
    a purge of a large backlog, every DELETE slower than that, still clears it."""
    settings = Settings(database_url=postgres_url, secret_key=TEST_SECRET, database_timeout=2.0)
    rt = build_runtime(settings, server=True)
    slow: list[str] = []

    def slowly(conn, cursor, statement, parameters, context, executemany):  # type: ignore[no-untyped-def]
        if statement.startswith("DELETE FROM audit_events"):
            slow.append(statement)
            cursor.execute("SELECT pg_sleep(1.7)")

    event.listen(rt.database.engine, "before_cursor_execute", slowly)
    try:
        purged = purge(rt)
    finally:
        rt.database.dispose()
    assert slow and purged.counts["audit events"] == 0


def test_an_error_that_is_ours_is_no_unavailability(postgres_url: str, tmp_path) -> None:  # type: ignore[no-untyped-def]
    for url in (postgres_url, f"sqlite:///{tmp_path / 'idp.db'}"):
        database = Database(url)
        try:
            with pytest.raises(DBAPIError) as raised, database.session() as session:
                session.execute(text("SELECT * FROM no_such_table"))
        finally:
            database.dispose()
        assert not db.unavailable(raised.value), url


# The tests below hold SQLite's write lock from another connection: SQLite only (the
# PostgreSQL faults go through the proxy above).
@pytest.fixture
def database_url(tmp_path, sqlite_template) -> str:  # type: ignore[no-untyped-def]
    path = tmp_path / "idp.db"
    shutil.copy(sqlite_template, path)
    return f"sqlite:///{path}"


# -- SQLite: a write lock held elsewhere ---------------------------------------------------


BUSY = 0.5


@pytest.fixture
def busy_app(settings: Settings, clock, tmp_path):  # type: ignore[no-untyped-def]
    settings = replace(settings, database_busy_timeout=BUSY)
    rt = build_runtime(settings, clock=clock, mailer=FileMailer(settings.mail_dir))
    app = create_app(settings, runtime=rt)
    with TestClient(app, base_url="http://127.0.0.1:8000", follow_redirects=False) as client:
        yield rt, client
    rt.close()


class Locker:
    """Another process's connection holding SQLite's write lock (BEGIN IMMEDIATE)."""

    def __init__(self, url: str) -> None:
        self.connection = sqlite3.connect(make_url(url).database or "", isolation_level=None)

    def __enter__(self) -> Locker:
        self.connection.execute("BEGIN IMMEDIATE")
        return self

    def __exit__(self, *exc: object) -> None:
        self.connection.execute("ROLLBACK")
        self.connection.close()


def test_a_locked_sqlite_answers_503_within_the_busy_timeout(busy_app, idp) -> None:  # type: ignore[no-untyped-def]
    rt, client = busy_app
    assert idp(
        "establishment", "create", SCHOOL, "--name", "Lycée professionnel A", "--uai", UAI_A,
        "--email", "secretariat@lp-a.example",
    ).exit_code == 0  # fmt: skip
    page = client.get(f"/{SCHOOL}/login")
    assert page.status_code == 200
    form = {"csrf_token": csrf_from(page.text), "login": "lea.martin", "password": "x" * 12}
    time.sleep(rt.settings.cache_seconds + 0.1)  # the establishment is read again
    with Locker(rt.settings.database_url):
        token, took_token = elapsed(
            client.post,
            f"/{SCHOOL}/oidc/token",
            data={"grant_type": "client_credentials"},
            auth=("nobody", "secret"),
        )
        login, took_login = elapsed(client.post, f"/{SCHOOL}/login", data=form)
    assert token.status_code == 503, token.text
    assert token.json() == {"error": "temporarily_unavailable"}
    assert token.headers["retry-after"]
    assert login.status_code == 503
    assert "momentanément indisponible" in login.text
    assert "<html" in login.text.lower()
    for took in (took_token, took_login):
        assert BUSY - 0.05 < took < BUSY + SLACK
    # The lock released, the same requests are served.
    assert client.post(f"/{SCHOOL}/login", data=form).status_code == 200
    assert (
        client.post(
            f"/{SCHOOL}/oidc/token",
            data={"grant_type": "client_credentials"},
            auth=("nobody", "secret"),
        ).json()["error"]
        == "invalid_client"
    )


def test_writers_of_this_process_share_the_busy_timeout(settings: Settings) -> None:
    """A writer queued behind another of this process, then behind another process's lock,
    gives up within the busy timeout, not twice it."""
    busy = 1.0
    database = Database(settings.database_url, busy_timeout=busy)
    took: dict[str, float] = {}

    def write(name: str) -> None:
        started = time.monotonic()
        with pytest.raises(OperationalError) as raised:
            _select_one(database)
        assert db.unavailable(raised.value)
        took[name] = time.monotonic() - started

    try:
        with Locker(settings.database_url):
            first = threading.Thread(target=write, args=("first",))
            first.start()  # holds this process's writer lock while SQLite says busy
            time.sleep(busy / 2)
            write("second")  # waits for the first, then for the other process
            first.join(timeout=10)
        assert busy - 0.05 < took["first"] < busy + 0.3
        assert busy - 0.05 < took["second"] < busy + 0.3
    finally:
        database.dispose()


def test_the_back_channel_sender_says_once_that_the_database_is_away(
    settings: Settings, clock, caplog
) -> None:  # type: ignore[no-untyped-def]
    """The sender polls every interval: while the database is away, one warning line, not
    a stack trace a pass."""
    database = Database(settings.database_url, busy_timeout=0.05)
    sender = Sender(
        database,
        clock,
        sign=lambda notice, now: "",
        issuer=settings.issuer,
        poll_interval=0.05,
        outbound=Outbound(allow_loopback=True),
    )

    async def run_a_while() -> None:
        with anyio.move_on_after(1.0):
            await sender.run()

    try:
        with (
            caplog.at_level(logging.WARNING, logger="idp.oauth.backchannel"),
            Locker(settings.database_url),
        ):
            anyio.run(run_a_while)
    finally:
        database.dispose()
    records = [r for r in caplog.records if r.name == "idp.oauth.backchannel"]
    assert [r.levelname for r in records] == ["WARNING"], [r.getMessage() for r in records]
    assert "database unavailable" in records[0].getMessage()
