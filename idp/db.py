"""Engine, session factory and unit of work; the declarative Base and its naming convention.

Work against the database is synchronous SQLAlchemy; web handlers run it in worker threads
so that the event loop never waits on a lock or on the network. A short unit of work on
SQLite that can start at once runs on the event loop itself (`quick`).
"""

from __future__ import annotations

import functools
import logging
import math
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TypeVar

import anyio
from sqlalchemy import DateTime, Engine, MetaData, create_engine, event, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import DBAPIError, InvalidatePoolError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.orm import DeclarativeBase, Session, make_transient_to_detached, sessionmaker
from sqlalchemy.types import TypeDecorator

if TYPE_CHECKING:
    from idp.metrics import Metrics

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


# SQLite: as many kept connections as worker threads may use at once (anyio's default
# limiter, 40). Overflow connections are closed at every checkin and opened again at the
# next request; the overflow covers the few transactions that hold one across an await.
# Last in, first out: the event loop's calls come one at a time and so take the same
# connection again, whose page cache is still current. In turn (first in, first out),
# each found the pages that the 39 others changed meanwhile stale, and read them again
# from the WAL: 44 reads per SSO flow, 11 now.
_POOL = {"pool_size": 40, "max_overflow": 10, "pool_use_lifo": True}
# PostgreSQL: connections are the server's to ration (max_connections, 100 by default, for
# every worker of every instance), so each process keeps IDP_DATABASE_POOL_SIZE (20 by
# default) for writers, who may open as many again in a burst (as many as worker threads:
# a write never waits for a connection), and half as many for readers: two and a half
# times the setting at most. A single busy worker churns connections
# beyond that (32 clients on one worker with 20 kept: 25 new connections a second).
POSTGRES_POOL_SIZE = 20

# How long a SQLite writer waits for the write lock before "database is locked", unless
# IDP_DATABASE_BUSY_TIMEOUT says otherwise.
BUSY_SECONDS = 30.0

# How long a pooled PostgreSQL connection has to answer its check before it is given up:
# a live server answers an empty statement in a millisecond.
PING_SECONDS = 1.0
# The server cancels a statement this much before we would give up on its connection: its
# answer (QueryCanceled) comes first, and the connection is kept.
CANCEL_MARGIN = 0.5


def make_engine(
    url: str,
    *,
    read_only: bool = False,
    pool_size: int | None = None,
    timeout: float | None = None,
    busy_timeout: float = BUSY_SECONDS,
    **kwargs: Any,
) -> Engine:
    """An engine. On SQLite, `read_only` gives connections that begin deferred transactions
    (WAL readers never wait for the write lock) and refuse any write (PRAGMA query_only),
    and the default gives connections whose transactions take the write lock at BEGIN; a
    writer waits `busy_timeout` seconds for it at most. On PostgreSQL, `timeout` bounds every
    wait (see _postgres_timeouts); None, for commands, waits as long as the server works."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        connect_args: dict[str, Any] = {"check_same_thread": False, "timeout": busy_timeout}
        writers = None if read_only else _Writers(busy_timeout)
        if writers is not None:
            connect_args["factory"] = writers.connection_class
        engine = create_engine(
            url, connect_args=connect_args, hide_parameters=True, **_POOL, **kwargs
        )
        event.listen(engine, "connect", _sqlite_pragmas(read_only=read_only, busy=busy_timeout))
        # pysqlite's own transaction handling is turned off (isolation_level=None) and BEGIN
        # is ours. A writer takes the write lock at BEGIN (IMMEDIATE): in WAL mode a deferred
        # transaction that read and then writes after another connection's write fails at
        # once ("database is locked", no busy wait), while an immediate one waits its turn.
        # BEGIN is sent at the unit of work's first statement, not when it is opened.
        if writers is None:
            event.listen(engine, "begin", lambda conn: _begin(conn.connection.dbapi_connection))
        else:
            event.listen(engine, "begin", writers.begin)
        return engine
    # hide_parameters: a failing statement's values (a password hash, a token hash) must
    # never reach a log line through the exception text.
    kept = pool_size or POSTGRES_POOL_SIZE
    readers = max(1, kept // 2)
    pool: dict[str, Any] = {"pool_size": kept, "max_overflow": kept}
    connect_args = {} if timeout is None else _postgres_timeouts(parsed, timeout)
    if read_only:
        # Readers run each statement on its own (autocommit): one round trip where BEGIN,
        # the statement and COMMIT made three. Under READ COMMITTED a statement sees its
        # own snapshot in a transaction too, so nothing a reader sees changes. The server
        # refuses any write on these connections (default_transaction_read_only).
        given = connect_args.get("options") or parsed.query.get("options")
        ours = "-c default_transaction_read_only=on"
        connect_args["options"] = f"{given} {ours}" if isinstance(given, str) else ours
        pool = {"pool_size": readers, "max_overflow": 0}
        kwargs = {"isolation_level": "AUTOCOMMIT", **kwargs}
    if timeout is None:
        return create_engine(
            url,
            pool_pre_ping=True,
            hide_parameters=True,
            connect_args=connect_args,
            **pool,
            **kwargs,
        )
    engine = create_engine(
        url,
        hide_parameters=True,
        pool_timeout=timeout,
        connect_args=connect_args,
        **pool,
        **kwargs,
    )
    _bound_postgres_waits(engine, timeout)
    return engine


def _postgres_timeouts(url: URL, timeout: float) -> dict[str, Any]:
    """A request waits for PostgreSQL `timeout` seconds at most, whatever breaks:
    - a statement that runs or waits for a lock that long (less CANCEL_MARGIN) is cancelled
      by the server (statement_timeout, lock_timeout): QueryCanceled or LockNotAvailable;
    - a connection that says nothing that long (a hung network, a stopped host) is closed by
      us (_bound_postgres_waits);
    - a pooled connection gets PING_SECONDS to answer its check, a new one the rest of
      `timeout` to connect (psycopg's connect_timeout: whole seconds, 2 at least).
    Values in the URL (connect_timeout, options) are kept; ours are added to its options."""
    ms = round((timeout - CANCEL_MARGIN) * 1000)
    ours = f"-c statement_timeout={ms} -c lock_timeout={ms}"
    given = url.query.get("options")
    args: dict[str, Any] = {"options": f"{given} {ours}" if isinstance(given, str) else ours}
    if "connect_timeout" not in url.query:
        args["connect_timeout"] = max(2, math.ceil(timeout - PING_SECONDS))
    return args


def _bound_postgres_waits(engine: Engine, timeout: float) -> None:
    """Connections whose every wait for the server ends after `timeout` seconds (then closed:
    their state is unknown), checked with PING_SECONDS when taken from the pool unless
    returned to it within RECENT_SECONDS. SQLAlchemy's pool_pre_ping would wait `timeout`
    for the check, then as long again to reconnect."""
    connection_class = _timed_psycopg_connection()

    @event.listens_for(engine, "do_connect")
    def connect(dialect: Any, record: Any, cargs: Any, cparams: Any) -> Any:
        connection = connection_class.connect(*cargs, **cparams)
        connection.answer_timeout = timeout
        return connection

    @event.listens_for(engine, "connect")
    def fresh(dbapi_connection: Any, record: Any) -> None:
        record.info[_FRESH] = True

    @event.listens_for(engine, "checkin")
    def returned(dbapi_connection: Any, record: Any) -> None:
        record.info[_RETURNED] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def ping(dbapi_connection: Any, record: Any, proxy: Any) -> None:
        if record.info.pop(_FRESH, False):
            return  # just connected: it answered
        if time.monotonic() - record.info.get(_RETURNED, -math.inf) < RECENT_SECONDS:
            # It answered a moment ago: the check would be one more round trip per request.
            # Should the server have gone since, the first statement fails instead, and the
            # pool starts again all the same (a lost connection invalidates it).
            return
        try:
            dbapi_connection.ping(PING_SECONDS)
        except dbapi_connection.Error as exc:
            # Every pooled connection is suspect (a restarted server): the pool reconnects.
            raise InvalidatePoolError(f"PostgreSQL did not answer: {type(exc).__name__}") from None


_FRESH = "idp_fresh"
_RETURNED = "idp_returned"
# A pooled PostgreSQL connection returned this recently is used without its check.
RECENT_SECONDS = 1.0


@functools.cache
def _timed_psycopg_connection() -> Any:
    """psycopg's connection class with a deadline on every wait for the server (imported here:
    psycopg is only needed with PostgreSQL)."""
    import psycopg
    from psycopg import errors

    class TimedConnection(psycopg.Connection):  # type: ignore[type-arg]
        answer_timeout: float | None = None

        def wait(self, gen: Any, *args: Any, timeout: float | None = None, **kwargs: Any) -> Any:
            limit = self.answer_timeout if timeout is None else timeout
            try:
                return super().wait(gen, *args, timeout=limit, **kwargs)
            except errors._WaitTimeout:  # psycopg's own "no answer in time"
                # Mid-exchange with the server: the connection cannot be used again.
                self.close()
                raise NoAnswer(f"no answer from PostgreSQL within {limit:g} s") from None

        def ping(self, seconds: float) -> None:
            """SQLAlchemy's check (an empty statement outside any transaction), with its own
            deadline."""
            kept, self.answer_timeout = self.answer_timeout, seconds
            autocommit = self.autocommit
            try:
                self.autocommit = True
                self.execute(";")
            finally:
                self.answer_timeout = kept
                if not self.closed:
                    self.autocommit = autocommit

    class NoAnswer(psycopg.OperationalError):
        pass

    return TimedConnection


class _Writers:
    """One SQLite write transaction at a time in this process, queued on a lock: SQLite's
    own busy handler sleeps between its tries (up to 100 ms each), so under contention the
    write lock would sit free while every waiter sleeps. The lock is taken before BEGIN
    IMMEDIATE and released once COMMIT or ROLLBACK has run (or the connection closes).
    Other processes (several workers, the CLI) still meet SQLite's busy timeout."""

    def __init__(self, busy_timeout: float) -> None:
        lock = threading.Lock()
        self.lock = lock
        self.busy_timeout = busy_timeout
        self.busy_ms = round(busy_timeout * 1000)

        class Connection(sqlite3.Connection):
            holds = False
            busy_ms = self.busy_ms  # as set when it connected (_sqlite_pragmas)

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
        attempt = _on_loop.get()
        if attempt is not None:
            self._begin_on_loop(dbapi, attempt)
            return
        started = time.monotonic()
        if not self.lock.acquire(timeout=self.busy_timeout):
            # As SQLite itself says it, and wrapped as it wraps it: one family to map to 503.
            raise OperationalError("BEGIN IMMEDIATE", None, sqlite3.OperationalError(LOCKED))
        dbapi.holds = True
        waited = time.monotonic() - started
        try:
            # The wait for another process's lock gets what is left of the busy timeout.
            left = self.busy_ms
            if waited > 0.001:
                left = max(1, round((self.busy_timeout - waited) * 1000))
            _busy(dbapi, left)
            try:
                _begin(dbapi, "BEGIN IMMEDIATE")
            finally:
                _busy(dbapi, self.busy_ms)
        except BaseException:
            dbapi.release()
            raise

    def _begin_on_loop(self, dbapi: Any, attempt: _OnLoop) -> None:
        """BEGIN IMMEDIATE for a quick call on the event loop: only if this process's lock
        and SQLite's are both free at once, else `WouldWait` (the call goes to a thread)."""
        if attempt.committed:
            # Its first transaction is committed: the call could not be run again.
            raise RuntimeError("a quick call runs one write transaction")
        if not self.lock.acquire(blocking=False):
            raise WouldWait
        dbapi.holds = True
        try:
            _busy(dbapi, 0)
            try:
                dbapi.execute("BEGIN IMMEDIATE")
            except sqlite3.OperationalError as exc:
                if exc.sqlite_errorcode & 0xFF == sqlite3.SQLITE_BUSY:  # another process
                    raise WouldWait from None
                raise OperationalError("BEGIN IMMEDIATE", None, exc) from exc
        except BaseException:
            dbapi.release()
            raise


def _busy(dbapi: Any, ms: int) -> None:
    """The connection's busy timeout, set only when it changes (a statement of its own)."""
    if dbapi.busy_ms != ms:
        dbapi.execute(f"PRAGMA busy_timeout={ms}")
        dbapi.busy_ms = ms


LOCKED = "database is locked"


def _begin(dbapi: sqlite3.Connection, statement: str = "BEGIN") -> None:
    """BEGIN on the driver's connection: through SQLAlchemy's execute it cost a sixth of a
    token request's database time. Its errors are wrapped as SQLAlchemy wraps them (the
    begin event runs outside its wrapping), so callers see one family."""
    try:
        dbapi.execute(statement)
    except sqlite3.Error as exc:
        raise OperationalError(statement, None, exc) from exc


def _sqlite_pragmas(*, read_only: bool, busy: float):  # type: ignore[no-untyped-def]
    def on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={round(busy * 1000)}")
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


class WouldWait(BaseException):
    """Raised inside a quick call running on the event loop where it would have to wait:
    for the write lock, or on something outside the database (`off_loop`). The call is
    rolled back and run again from the start in a worker thread. A BaseException, like a
    cancellation, so that no `except Exception` on the way takes it for a failure."""


class _OnLoop:
    """A quick call under way on the event loop."""

    __slots__ = ("committed",)

    def __init__(self) -> None:
        self.committed = False


# Set while a quick call runs on the event loop, and only then (worker threads copy the
# context when they are handed a call, never during one).
_on_loop: ContextVar[_OnLoop | None] = ContextVar("quick_on_loop", default=None)


def off_loop() -> None:
    """Say that what follows waits on something other than the database (a module's keys
    fetched over the network): a quick call running on the event loop is given up here, to
    run again in a worker thread. Call it before anything is committed."""
    attempt = _on_loop.get()
    if attempt is not None:
        if attempt.committed:
            raise RuntimeError("off_loop() after a quick call committed")
        raise WouldWait


METRICS = "metrics"


def metrics_of(session: Session) -> Metrics | None:
    """The runtime's metrics, for store code that counts what it records."""
    found: Metrics | None = session.info.get(METRICS)
    return found


_COUNTED = "idp_counted"


def _count_connections(engine: Engine, metrics: Metrics, pool: str) -> None:
    """Connections checked out, by pool. SQLAlchemy also checks in a connection whose
    checkout failed (a reconnection refused): only one that was counted is uncounted."""
    gauge = metrics.connections.labels(pool)

    def checkout(_dbapi: Any, record: Any, _proxy: Any) -> None:
        record.info[_COUNTED] = True
        gauge.inc()

    def checkin(_dbapi: Any, record: Any) -> None:
        if record is not None and record.info.pop(_COUNTED, False):
            gauge.dec()

    event.listen(engine, "checkout", checkout)
    event.listen(engine, "checkin", checkin)


def after_commit(session: Session, callback: Callable[[], None]) -> None:
    """Run `callback` once the session's transaction has committed, forgotten if it (or
    the savepoint it was registered in) rolls back. For what must follow a change, never
    precede it (waking the outbox sender, counting an audited event)."""
    tag = session.get_nested_transaction()
    session.info.setdefault(_AFTER_COMMIT, []).append((tag, callback))


_AFTER_COMMIT = "after_commit"


def _run_after_commit(session: Session) -> None:
    if session.in_nested_transaction():
        return  # a savepoint released: its callbacks wait for the transaction's commit
    if (attempt := _on_loop.get()) is not None:
        attempt.committed = True  # a savepoint's release would still roll back with it
    for _, callback in session.info.pop(_AFTER_COMMIT, []):
        try:
            callback()
        except Exception:  # the change is committed; a failed follow-up must not undo it
            log.exception("after-commit callback failed")


def _forget_after_commit(session: Session, rolled_back: Any) -> None:
    """A rollback: the whole transaction's callbacks go, or a savepoint's own (those
    registered inside it), the others staying for the commit."""
    pending = session.info.get(_AFTER_COMMIT)
    if not pending:
        return
    if not rolled_back.nested:
        session.info.pop(_AFTER_COMMIT, None)
        return
    session.info[_AFTER_COMMIT] = [
        (tag, callback) for tag, callback in pending if not _inside(tag, rolled_back)
    ]


def _inside(tag: Any, transaction: Any) -> bool:
    while tag is not None:
        if tag is transaction:
            return True
        tag = tag.parent
    return False


_THREADS = "threads"


@dataclass(frozen=True)
class _Threads:
    """The worker threads of a server's database work. `starting` bounds the calls of
    sessions not in a transaction: under load requests queue on the event loop rather than
    take turns on the interpreter (40 threads on one core made 32 clients slower than 8).
    A session already in a transaction may hold SQLite's write lock or PostgreSQL's row
    locks, which calls waiting in `starting` may be waiting for: its calls go to `holding`,
    which they share with nothing else, so a holder never waits behind its own waiters."""

    starting: anyio.CapacityLimiter
    holding: anyio.CapacityLimiter
    # SQLite: quick calls may run on the event loop (see `quick`).
    on_loop: bool = False


async def in_thread(session: Session, call: Callable[..., T], *args: Any) -> T:
    """Run `call(*args)`, database work on `session`, in a worker thread (see `_Threads`).
    Sessions of commands and tests, which have no bound, use anyio's default pool."""
    threads: _Threads | None = session.info.get(_THREADS)
    limiter = None
    if threads is not None:
        limiter = threads.holding if session.in_transaction() else threads.starting
    return await anyio.to_thread.run_sync(call, *args, limiter=limiter)


async def quick(session: Session, call: Callable[..., T], *args: Any) -> T:
    """Run `call(*args)`, a short unit of work that ends the transaction it begins (a read,
    a request's last work and its commit), on the event loop where nothing makes it wait:
    a server's session on SQLite, not in a transaction, with a connection free in its pool.
    Handing a call to a worker thread and back, and the two threads taking turns on the
    interpreter while SQLite works, cost more than the work itself (a third of the CPU of
    a single sign-on, code and token). A writer's BEGIN there takes the write lock only if
    it is free at once; where the call would wait (the lock is held by another request or
    process, a module's keys are to be fetched: `off_loop`), it is rolled back and run
    again from the start in a worker thread. Anywhere else, as `in_thread`.

    The call must not block otherwise (no password hash, no network), and may commit once:
    a second write transaction after a commit could not be run again (RuntimeError)."""
    threads: _Threads | None = session.info.get(_THREADS)
    if (
        threads is None
        or not threads.on_loop
        or session.in_transaction()
        or not _connection_free(session)
    ):
        return await in_thread(session, call, *args)
    token = _on_loop.set(_OnLoop())
    try:
        return call(*args)
    except WouldWait:
        session.rollback()
    finally:
        _on_loop.reset(token)
    return await in_thread(session, call, *args)


def _connection_free(session: Session) -> bool:
    """A connection can be had from the session's pool without waiting for one."""
    pool: Any = session.get_bind().pool
    return bool(pool.checkedin() > 0 or pool.overflow() < pool._max_overflow)


async def release(session: Session) -> None:
    """End the session's transaction before slow work that needs no database (a password
    hash takes tens of milliseconds): no lock or snapshot is held meanwhile. The next
    statement begins a new transaction. Only where a flow needs it, and says why."""
    await in_thread(session, session.commit)


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

    return await quick(session, run)


class UnitOfWork:
    """One database session for one request or command: created at first use, committed
    once by whoever opened the unit of work, rolled back on any error. Services and store
    functions receive its session; they never commit, roll back or open their own."""

    def __init__(
        self, sessions: sessionmaker[Session], readers: sessionmaker[Session] | None = None
    ) -> None:
        self._sessions = sessions
        self._readers = readers
        self._session: Session | None = None

    def reads_only(self) -> None:
        """From now on this unit of work only reads, as one opened with `write=False` (on
        SQLite it then never waits for the write lock): for a handler that learns so from
        the request, such as introspection without a client assertion. Within a
        transaction, it stays a writer."""
        if self._readers is None:
            return  # already a reader
        if self._session is not None:
            if self._session.in_transaction():
                return  # stays a writer: what it began is its to commit
            self._session.close()
            self._session = None
        self._sessions, self._readers = self._readers, None

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
        # Only a transaction under way: a session's commit() would begin one to commit it.
        # (Any change begins one, a change to an object of an ended transaction included.)
        if self._session is not None and self._session.in_transaction():
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

    def __init__(
        self,
        url: str,
        *,
        pool_size: int | None = None,
        timeout: float | None = None,
        busy_timeout: float = BUSY_SECONDS,
        metrics: Metrics | None = None,
        threads: int | None = None,
        **engine_kwargs: Any,
    ) -> None:
        """`threads`: a server's bound on worker threads beginning database work at once
        (IDP_DATABASE_THREADS, see `_Threads`); without it, anyio's default pool."""
        self.url = url
        self.engine = make_engine(
            url, pool_size=pool_size, timeout=timeout, busy_timeout=busy_timeout, **engine_kwargs
        )
        self.dialect = self.engine.dialect.name
        if self.dialect == "sqlite":
            self.read_engine = make_engine(
                url, read_only=True, busy_timeout=busy_timeout, **engine_kwargs
            )
        elif self.dialect == "postgresql":
            self.read_engine = make_engine(
                url, read_only=True, pool_size=pool_size, timeout=timeout, **engine_kwargs
            )
        else:
            self.read_engine = self.engine
        # Store code counts what it records (idp.store.audit) through its session.
        info: dict[str, Any] = {METRICS: metrics} if metrics is not None else {}
        if threads is not None:
            # Holders need no bound of their own: each holds one of the pools' connections.
            info[_THREADS] = _Threads(
                starting=anyio.CapacityLimiter(threads),
                holding=anyio.CapacityLimiter(math.inf),
                on_loop=self.dialect == "sqlite",
            )
        self._writer = sessionmaker(self.engine, expire_on_commit=False, info=info)
        self._reader = sessionmaker(self.read_engine, expire_on_commit=False, info=info)
        if metrics is not None:
            _count_connections(self.engine, metrics, "writers")
            if self.read_engine is not self.engine:
                _count_connections(self.read_engine, metrics, "readers")
        for sessions in (self._writer, self._reader):
            event.listen(sessions, "after_commit", _run_after_commit)
            event.listen(sessions, "after_soft_rollback", _forget_after_commit)

    def unit_of_work(self, *, write: bool = True) -> UnitOfWork:
        return UnitOfWork(self._writer, self._reader) if write else UnitOfWork(self._reader)

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


def unavailable(exc: BaseException) -> bool:
    """Whether `exc` says the database is away or saturated for now (worth a 503 and a retry),
    rather than a fault of ours: no connection, a connection lost or silent, a statement or
    lock wait cancelled at the timeout, no pooled connection free in time, SQLite locked."""
    if isinstance(exc, PoolTimeout):
        return True
    if not isinstance(exc, DBAPIError):
        return False
    if exc.connection_invalidated:
        return True
    orig = exc.orig
    if isinstance(orig, sqlite3.Error):
        # Not "no such table" and its kind: those are ours to fix, a 500.
        return isinstance(orig, sqlite3.OperationalError) and "locked" in str(orig)
    # psycopg's OperationalError is the server's or the network's: connection failures,
    # QueryCanceled, LockNotAvailable, AdminShutdown, serialization failures.
    return isinstance(exc, OperationalError)


def holds_nul(exc: BaseException) -> bool:
    """PostgreSQL's refusal of a NUL character in a text value (psycopg's DataError)."""
    return isinstance(exc, DBAPIError) and "NUL (0x00)" in str(exc.orig)


def detached_copy(row: M) -> M:
    """A detached copy of a row's columns, to merge into later sessions without a query
    (`session.merge(copy, load=False)`): for rows cached per process, kept fresh by
    idp.caches."""
    model = type(row)
    copy = model(**{c.key: getattr(row, c.key) for c in model.__table__.columns})  # type: ignore[attr-defined]
    make_transient_to_detached(copy)
    return copy
