"""Engine, session factory and unit of work; the declarative Base and its naming convention.

Work against the database is synchronous SQLAlchemy; web handlers run it in the thread pool
so that the event loop never waits on a query.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any, TypeVar

import anyio
from sqlalchemy import DateTime, Engine, MetaData, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import DeclarativeBase, Session, make_transient_to_detached, sessionmaker
from sqlalchemy.types import TypeDecorator

log = logging.getLogger(__name__)
M = TypeVar("M")
T = TypeVar("T")

# Stable constraint names, so that Alembic migrations name the same thing on every database.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes in Python; naive UTC in the database (SQLite keeps no zone)."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTCDateTime column")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        return None if value is None else value.replace(tzinfo=UTC)


def make_engine(
    url: str, *, read_only: bool = False, pool_size: int | None = None, **kwargs: Any
) -> Engine:
    """An engine. On SQLite, `read_only` gives connections that begin deferred transactions
    (WAL readers never wait for the write lock) and refuse any write (PRAGMA query_only),
    and the default gives connections whose transactions take the write lock at BEGIN."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        connect_args: dict[str, Any] = {"check_same_thread": False, "timeout": BUSY_SECONDS}
        writers = None if read_only else _Writers()
        if writers is not None:
            connect_args["factory"] = writers.connection_class
        engine = create_engine(
            url, connect_args=connect_args, hide_parameters=True, **_POOL, **kwargs
        )
        event.listen(engine, "connect", _sqlite_pragmas(read_only=read_only))
        # pysqlite's own transaction handling is turned off (isolation_level=None) and BEGIN
        # is ours. A writer takes the write lock at BEGIN (IMMEDIATE): in WAL mode a deferred
        # transaction that read and then writes after another connection's write fails at
        # once ("database is locked", no busy wait), while an immediate one waits its turn.
        # BEGIN is sent at the unit of work's first statement, not when it is opened.
        if writers is None:
            event.listen(engine, "begin", lambda conn: conn.exec_driver_sql("BEGIN"))
        else:
            event.listen(engine, "begin", writers.begin)
        return engine
    # hide_parameters: a failing statement's values (a password hash, a token hash) must
    # never reach a log line through the exception text.
    kept = pool_size or POSTGRES_POOL_SIZE
    return create_engine(
        url,
        pool_pre_ping=True,
        hide_parameters=True,
        pool_size=kept,
        max_overflow=kept,
        **kwargs,
    )


# SQLite: as many kept connections as worker threads may use at once (anyio's default
# limiter, 40). Overflow connections are closed at every checkin and opened again at the
# next request; the overflow covers the few transactions that hold one across an await.
_POOL = {"pool_size": 40, "max_overflow": 10}
# PostgreSQL: connections are the server's to ration (max_connections, 100 by default, for
# every worker of every instance), so each process keeps IDP_DATABASE_POOL_SIZE (20 by
# default) and may open as many again in a burst. A single busy worker churns connections
# beyond that (32 clients on one worker with 20 kept: 25 new connections a second).
POSTGRES_POOL_SIZE = 20

# How long a SQLite writer waits for the write lock before "database is locked".
BUSY_SECONDS = 30.0


class _Writers:
    """One SQLite write transaction at a time in this process, queued on a lock: SQLite's
    own busy handler sleeps between its tries (up to 100 ms each), so under contention the
    write lock would sit free while every waiter sleeps. The lock is taken before BEGIN
    IMMEDIATE and released once COMMIT or ROLLBACK has run (or the connection closes).
    Other processes (several workers, the CLI) still meet SQLite's busy timeout."""

    def __init__(self) -> None:
        lock = threading.Lock()
        self.lock = lock

        class Connection(sqlite3.Connection):
            holds = False

            def release(self) -> None:
                if self.holds:
                    self.holds = False
                    lock.release()

            def commit(self) -> None:
                try:
                    super().commit()
                finally:
                    self.release()

            def rollback(self) -> None:
                try:
                    super().rollback()
                finally:
                    self.release()

            def close(self) -> None:
                try:
                    super().close()
                finally:
                    self.release()

        self.connection_class = Connection

    def begin(self, conn: Any) -> None:
        dbapi = conn.connection.dbapi_connection
        if not self.lock.acquire(timeout=BUSY_SECONDS):
            raise sqlite3.OperationalError("database is locked")
        dbapi.holds = True
        try:
            conn.exec_driver_sql("BEGIN IMMEDIATE")
        except BaseException:
            dbapi.release()
            raise


def _sqlite_pragmas(*, read_only: bool):  # type: ignore[no-untyped-def]
    def on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        if read_only:
            cursor.execute("PRAGMA query_only=ON")
        cursor.close()

    return on_connect


# Set while a request's or a command's unit of work is open, in its task and in the worker
# threads it starts (anyio copies the context): a second one opened inside it would, on
# SQLite, wait for the first one's write lock until the busy timeout.
_open: ContextVar[bool] = ContextVar("unit_of_work_open", default=False)


def after_commit(session: Session, callback: Callable[[], None]) -> None:
    """Run `callback` once the session's current transaction has committed; forgotten if it
    rolls back. For what must follow a change, never precede it (waking the outbox sender)."""
    session.info.setdefault(_AFTER_COMMIT, []).append(callback)


_AFTER_COMMIT = "after_commit"


def _run_after_commit(session: Session) -> None:
    for callback in session.info.pop(_AFTER_COMMIT, []):
        try:
            callback()
        except Exception:  # the change is committed; a failed follow-up must not undo it
            log.exception("after-commit callback failed")


def _forget_after_commit(session: Session, *_: Any) -> None:
    session.info.pop(_AFTER_COMMIT, None)


async def release(session: Session) -> None:
    """End the session's transaction before slow work that needs no database (a password
    hash takes tens of milliseconds): no lock or snapshot is held meanwhile. The next
    statement begins a new transaction. Only where a flow needs it, and says why."""
    await anyio.to_thread.run_sync(session.commit)


async def read(session: Session, call: Callable[..., T], *args: Any) -> T:
    """Run a read in a worker thread and, if it began the session's transaction, end that
    transaction in the same call: on SQLite a writer's first statement takes the write
    lock, which a read must not keep while the handler goes on across awaits (other
    writers would queue behind it, and with every worker thread waiting, stall). A
    transaction already under way is left as it is."""

    def run() -> T:
        began = not session.in_transaction()
        try:
            result = call(*args)
        except BaseException:
            if began:
                session.rollback()
            raise
        if began:
            session.commit()
        return result

    return await anyio.to_thread.run_sync(run)


class UnitOfWork:
    """One database session for one request or command: created at first use, committed
    once by whoever opened the unit of work, rolled back on any error. Services and store
    functions receive its session; they never commit, roll back or open their own."""

    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self._sessions = sessions
        self._session: Session | None = None

    @property
    def session(self) -> Session:
        if self._session is None:
            self._session = self._sessions()
        return self._session

    @property
    def started(self) -> bool:
        return self._session is not None

    @property
    def in_transaction(self) -> bool:
        return self._session is not None and self._session.in_transaction()

    def commit(self) -> None:
        if self._session is not None:
            self._session.commit()

    def rollback(self) -> None:
        if self._session is not None:
            self._session.rollback()

    def close(self) -> None:
        if self._session is not None:
            self._session.close()
            self._session = None


class Database:
    """The engines and their sessions. One per app or CLI invocation, never a global."""

    def __init__(self, url: str, *, pool_size: int | None = None, **engine_kwargs: Any) -> None:
        self.url = url
        self.engine = make_engine(url, pool_size=pool_size, **engine_kwargs)
        self.dialect = self.engine.dialect.name
        if self.dialect == "sqlite":
            self.read_engine = make_engine(url, read_only=True, **engine_kwargs)
        elif self.dialect == "postgresql":
            # READ ONLY transactions on the same pool: a write by mistake fails at once.
            self.read_engine = self.engine.execution_options(postgresql_readonly=True)
        else:
            self.read_engine = self.engine
        self._writer = sessionmaker(self.engine, expire_on_commit=False)
        self._reader = sessionmaker(self.read_engine, expire_on_commit=False)
        for sessions in (self._writer, self._reader):
            event.listen(sessions, "after_commit", _run_after_commit)
            event.listen(sessions, "after_rollback", _forget_after_commit)

    def unit_of_work(self, *, write: bool = True) -> UnitOfWork:
        return UnitOfWork(self._writer if write else self._reader)

    @contextmanager
    def session(self, *, write: bool = True) -> Iterator[Session]:
        """A unit of work as a block: committed when it ends, rolled back if it raises. For
        commands, background work and tests; a request gets its own from the web layer."""
        if _open.get():
            raise RuntimeError("a unit of work is already open here")
        token = _open.set(True)
        uow = self.unit_of_work(write=write)
        try:
            yield uow.session
            uow.commit()
        except BaseException:
            uow.rollback()
            raise
        finally:
            uow.close()
            _open.reset(token)

    @contextmanager
    def opened(self, uow: UnitOfWork) -> Iterator[UnitOfWork]:
        """Marks `uow` as the open unit of work of this context (see `session`)."""
        if _open.get():
            raise RuntimeError("a unit of work is already open here")
        token = _open.set(True)
        try:
            yield uow
        finally:
            _open.reset(token)

    def ping(self) -> None:
        with self.read_engine.connect() as connection:
            connection.execute(text("SELECT 1"))

    def dispose(self) -> None:
        self.engine.dispose()
        if self.read_engine is not self.engine:
            self.read_engine.dispose()


def detached_copy(row: M) -> M:
    """A detached copy of a row's columns, to merge into later sessions without a query
    (`session.merge(copy, load=False)`): for rows cached per process, kept fresh by
    idp.caches."""
    model = type(row)
    copy = model(**{c.key: getattr(row, c.key) for c in model.__table__.columns})  # type: ignore[attr-defined]
    make_transient_to_detached(copy)
    return copy
