"""idp/db.py: how many connections a process keeps, and reads that end their own\ntransaction."""

from __future__ import annotations

import itertools
import shutil
import sqlite3
import threading
import time
from dataclasses import replace
from datetime import UTC, datetime

import anyio
import pytest
from sqlalchemy import func, select, text, update
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from idp.db import after_commit, in_thread, off_loop, quick, read
from idp.models import Establishment
from idp.runtime import Runtime, build_runtime
from idp.settings import Settings


def test_postgresql_keeps_the_configured_number_of_connections(
    postgres_url: str, settings: Settings
) -> None:
    rt = build_runtime(replace(settings, database_url=postgres_url, database_pool_size=7))
    try:
        writers, readers = rt.database.engine.pool, rt.database.read_engine.pool
        # Writers: kept, and as many again in a burst; readers: half as many, no burst. Two
        # and a half times the setting in all, within PostgreSQL's own limit.
        assert (writers.size(), writers._max_overflow) == (7, 7)  # type: ignore[attr-defined]
        assert (readers.size(), readers._max_overflow) == (3, 0)  # type: ignore[attr-defined]
        with rt.database.session() as session:
            assert session.execute(text("SELECT 1")).scalar() == 1
        with rt.database.session(write=False) as session:
            assert session.execute(text("SELECT 1")).scalar() == 1
    finally:
        rt.close()


def _establishment_count(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(Establishment)) or 0


def test_a_read_that_began_the_transaction_ends_it(rt: Runtime) -> None:
    uow = rt.database.unit_of_work()
    try:
        with rt.database.opened(uow):
            session = uow.session
            assert anyio.run(read, session, _establishment_count, session) == 0
            # Ended in the worker thread: on SQLite no write lock is held any more, so
            # another writer gets in at once.
            assert not session.in_transaction()
        with rt.database.session() as other:
            other.add(_school("lp-b"))
    finally:
        uow.close()


def test_a_read_inside_a_transaction_under_way_leaves_it_open(rt: Runtime) -> None:
    uow = rt.database.unit_of_work()
    try:
        with rt.database.opened(uow):
            session = uow.session
            session.add(_school("lp-c"))
            session.flush()
            assert anyio.run(read, session, _establishment_count, session) == 1
            assert session.in_transaction()  # the write is the unit of work's to commit
            uow.rollback()
        with rt.database.session() as other:
            assert _establishment_count(other) == 0
    finally:
        uow.close()


def _school(code: str) -> Establishment:
    now = datetime.now(UTC)
    return Establishment(
        code=code, name=code, uai=f"07506{len(code)}5E", email=f"{code}@x.example", created_at=now
    )


def test_a_change_to_an_object_of_an_ended_transaction_is_still_committed(rt: Runtime) -> None:
    with rt.database.session() as setup:
        setup.add(_school("lp-d"))
    uow = rt.database.unit_of_work()
    try:
        session = uow.session
        school = session.scalars(select(Establishment)).one()
        session.commit()  # as `read` and `release` end a transaction mid-request
        school.name = "Lycée renommé"
        uow.commit()
    finally:
        uow.close()
    with rt.database.session() as other:
        assert other.scalars(select(Establishment.name)).one() == "Lycée renommé"


def test_a_unit_of_work_turns_reader_only_between_transactions(rt: Runtime) -> None:
    uow = rt.database.unit_of_work()
    try:
        session = uow.session
        session.add(_school("lp-e"))
        session.flush()
        uow.reads_only()  # a transaction under way: it stays a writer and keeps its work
        assert uow.session is session
        uow.commit()
        uow.reads_only()
        reader = uow.session
        assert reader is not session
        assert _establishment_count(reader) == 1
        reader.add(_school("lp-f"))
        # A write by mistake fails (SQLite: query_only; PostgreSQL: a READ ONLY transaction).
        with pytest.raises(DBAPIError):
            reader.flush()
    finally:
        uow.close()


def test_a_postgresql_reader_sends_each_statement_alone(
    postgres_url: str, settings: Settings
) -> None:
    rt = build_runtime(replace(settings, database_url=postgres_url))
    same_start = text("SELECT statement_timestamp() = transaction_timestamp()")
    try:
        # No BEGIN before it nor COMMIT after it: the statement is its own transaction (one
        # round trip where a transaction made three).
        with rt.database.session(write=False) as reader:
            assert reader.execute(same_start).scalar() is True
            assert reader.execute(same_start).scalar() is True
        with rt.database.session() as writer:
            assert writer.execute(same_start).scalar() is False  # BEGIN came first
    finally:
        rt.close()


def test_what_follows_a_commit_waits_for_the_transaction_not_a_savepoint(rt: Runtime) -> None:
    """after_commit: a savepoint released is not the commit; a savepoint rolled back takes
    its own callbacks with it and leaves the others; a rollback takes them all."""
    ran: list[str] = []
    with rt.database.session() as session:
        session.execute(text("SELECT 1"))
        after_commit(session, lambda: ran.append("outside"))
        with session.begin_nested():
            after_commit(session, lambda: ran.append("kept savepoint"))
        assert ran == []  # released, not committed
        try:
            with session.begin_nested():
                after_commit(session, lambda: ran.append("rolled-back savepoint"))
                with session.begin_nested():
                    after_commit(session, lambda: ran.append("inner of rolled-back"))
                raise RuntimeError("undo the savepoint")
        except RuntimeError:
            pass
        assert ran == []
    assert ran == ["outside", "kept savepoint"]

    ran.clear()
    with pytest.raises(RuntimeError), rt.database.session() as session:
        session.execute(text("SELECT 1"))
        after_commit(session, lambda: ran.append("never"))
        raise RuntimeError("roll back")
    assert ran == []


def test_a_failed_checkout_is_not_uncounted(settings: Settings, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """The connections gauge: a checkout that fails (SQLAlchemy checks such a connection in
    again) leaves it where it was, never below zero."""
    from sqlalchemy import event

    broken = build_runtime(replace(settings, database_url=f"sqlite:///{tmp_path / 'x.db'}"))
    gauge = broken.metrics.connections.labels("writers")
    try:
        engine = broken.database.engine
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
            assert gauge._value.get() == 1
        assert gauge._value.get() == 0

        def refuse(*_: object) -> None:
            raise RuntimeError("the database went away")

        # Refused before the gauge's own listener has counted it.
        event.listen(engine, "checkout", refuse, insert=True)
        with pytest.raises(RuntimeError), engine.connect():
            pass
        event.remove(engine, "checkout", refuse)
        assert gauge._value.get() == 0
        with engine.connect():
            assert gauge._value.get() == 1
        assert gauge._value.get() == 0
    finally:
        broken.close()


def _server(settings: Settings, **changes: object) -> Runtime:
    return build_runtime(replace(settings, **changes), server=True)  # type: ignore[arg-type]


def test_database_threads_bound_the_work_that_begins(settings: Settings, school: str) -> None:
    """IDP_DATABASE_THREADS: requests beyond the bound wait on the event loop for a thread,
    rather than all taking turns on the interpreter."""
    rt = _server(settings, database_threads=2)
    busy = most = 0
    lock = threading.Lock()

    def work() -> None:
        nonlocal busy, most
        with lock:
            busy += 1
            most = max(most, busy)
        time.sleep(0.05)
        with lock:
            busy -= 1

    async def six_at_once() -> None:
        async with anyio.create_task_group() as tasks:
            for _ in range(6):
                session = rt.database.unit_of_work(write=False).session
                tasks.start_soon(in_thread, session, work)

    try:
        anyio.run(six_at_once)
        assert most == 2
    finally:
        rt.close()


def test_a_transaction_under_way_never_waits_for_a_thread(settings: Settings, school: str) -> None:
    """One thread for work that begins: it is taken by a request waiting for a lock that
    another request holds (SQLite's write lock, a PostgreSQL row lock). The holder's commit
    must still get a thread, or the waiter would fail at its timeout."""
    rt = _server(settings, database_threads=1, database_busy_timeout=3.0, database_timeout=3.0)
    holder = rt.database.unit_of_work().session
    waiter = rt.database.unit_of_work().session
    rename = update(Establishment).where(Establishment.code == school)
    waiting = threading.Event()

    def hold() -> None:
        holder.execute(rename.values(name="A"))

    def wait_then_write() -> None:
        waiting.set()
        waiter.execute(rename.values(name="B"))
        waiter.commit()

    async def scenario() -> None:
        await in_thread(holder, hold)
        assert holder.in_transaction()
        async with anyio.create_task_group() as tasks:
            tasks.start_soon(in_thread, waiter, wait_then_write)
            while not waiting.is_set():
                await anyio.sleep(0.01)
            await anyio.sleep(0.2)  # the waiter now holds the only thread, blocked
            await in_thread(holder, holder.commit)

    try:
        anyio.run(scenario)  # without `holding`, the waiter fails at its timeout
        with rt.database.session() as session:
            name = session.scalar(select(Establishment.name).where(Establishment.code == school))
        assert name == "B"
    finally:
        holder.close()
        waiter.close()
        rt.close()


# -- quick: short units of work on the event loop (SQLite), in a worker thread elsewhere -----


_UAIS = itertools.count(10_000)


def _new_school(code: str) -> Establishment:
    school = _school(code)
    school.uai = f"07{next(_UAIS):05d}E"  # one of its own: several are added here
    return school


def _on_sqlite(rt: Runtime) -> bool:
    return rt.database.dialect == "sqlite"


@pytest.fixture
def sqlite_settings(settings: Settings, tmp_path, sqlite_template) -> Settings:  # type: ignore[no-untyped-def]
    """For what only SQLite does (a file lock, quick calls on the event loop): `settings`
    on a SQLite copy of its own, whichever database `settings` is on."""
    path = tmp_path / "only-sqlite.db"
    shutil.copy(sqlite_template, path)
    return replace(settings, database_url=f"sqlite:///{path}")


def test_a_quick_call_runs_on_the_event_loop_on_sqlite(settings: Settings, school: str) -> None:
    """Where nothing makes it wait it runs in the event loop's own thread (on SQLite), and
    what it writes is committed; on PostgreSQL every statement is a round trip, during
    which the event loop would stand still: a worker thread."""
    rt = _server(settings)
    session = rt.database.unit_of_work().session
    threads: list[threading.Thread] = []

    def add_and_commit() -> None:
        threads.append(threading.current_thread())
        session.add(_new_school("lp-q"))
        session.commit()

    async def scenario() -> threading.Thread:
        await quick(session, add_and_commit)
        return threading.current_thread()

    try:
        loop_thread = anyio.run(scenario)
        assert (threads == [loop_thread]) is _on_sqlite(rt)
        assert len(threads) == 1
        with rt.database.session() as other:
            assert other.scalar(select(func.count()).where(Establishment.code == "lp-q")) == 1
    finally:
        session.close()
        rt.close()


def test_a_quick_call_that_would_wait_for_the_write_lock_runs_in_a_thread(
    settings: Settings, school: str
) -> None:
    """Another request of this process holds the write lock across an await: the quick
    call gives up on the event loop (nothing done), runs again in a worker thread, and
    waits there for the holder, which gets on meanwhile; both writes land."""
    rt = _server(settings, database_busy_timeout=5.0, database_timeout=5.0)
    holder = rt.database.unit_of_work().session
    writer = rt.database.unit_of_work().session
    runs: list[threading.Thread] = []

    def write() -> None:
        runs.append(threading.current_thread())
        writer.add(_new_school("lp-w"))
        writer.flush()  # its BEGIN: the write lock
        writer.commit()

    async def scenario() -> threading.Thread:
        await in_thread(holder, holder.execute, text("UPDATE establishments SET name = 'H'"))
        assert holder.in_transaction()
        async with anyio.create_task_group() as tasks:
            tasks.start_soon(quick, writer, write)
            await anyio.sleep(0.2)  # the writer waits in its thread; the loop is free
            await in_thread(holder, holder.commit)
        return threading.current_thread()

    try:
        loop_thread = anyio.run(scenario)
        if _on_sqlite(rt):
            assert runs[0] is loop_thread and len(runs) == 2 and runs[1] is not loop_thread
        else:
            assert len(runs) == 1 and runs[0] is not loop_thread
        with rt.database.session() as other:
            assert other.scalar(select(func.count()).where(Establishment.code == "lp-w")) == 1
            assert other.scalar(select(Establishment.name).where(Establishment.code == school)) == "H"
    finally:
        holder.close()
        writer.close()
        rt.close()


def test_a_quick_call_waits_in_a_thread_for_another_process(sqlite_settings: Settings) -> None:
    """SQLite's lock held by another process (another instance, a command): never waited
    for on the event loop; in a thread the call waits with the whole busy timeout, even on
    a connection the event loop used before (whose busy timeout it had set to nothing)."""
    rt = _server(sqlite_settings, database_busy_timeout=5.0)
    path = rt.database.engine.url.database
    other = sqlite3.connect(path, isolation_level=None, timeout=5.0, check_same_thread=False)
    seen: list[threading.Thread] = []
    ticks = {"on_loop": 0}

    def first() -> None:  # leaves the pool's one connection with busy_timeout = 0
        session = rt.database.unit_of_work().session
        try:
            async def go() -> None:
                await quick(session, lambda: (session.add(_new_school("lp-1")), session.commit()))

            anyio.run(go)
        finally:
            session.close()

    def write(session: Session) -> None:
        seen.append(threading.current_thread())
        if threading.current_thread() is threading.main_thread():
            ticks["on_loop"] += 1
        session.add(_new_school("lp-2"))
        session.commit()

    try:
        first()
        other.execute("BEGIN IMMEDIATE")
        threading.Timer(0.3, other.execute, ["COMMIT"]).start()
        session = rt.database.unit_of_work().session
        started = time.monotonic()
        try:
            anyio.run(quick, session, write, session)
        finally:
            session.close()
        assert time.monotonic() - started >= 0.25  # it waited for the other process
        assert ticks["on_loop"] == 1 and len(seen) == 2
        with rt.database.session() as check:
            assert check.scalar(select(func.count()).where(Establishment.code == "lp-2")) == 1
    finally:
        other.close()
        rt.close()


def test_a_quick_call_leaves_the_event_loop_before_the_network(sqlite_settings: Settings) -> None:
    """`off_loop`: what follows would wait on something other than the database; the call
    is rolled back (its write undone) and run again in a worker thread. After a commit it
    could not be run again: refused, loudly."""
    rt = _server(sqlite_settings)
    session = rt.database.unit_of_work().session
    runs: list[threading.Thread] = []

    def write_then_fetch() -> str:
        runs.append(threading.current_thread())
        session.add(_new_school(f"lp-n{len(runs)}"))
        session.flush()
        off_loop()
        session.commit()
        return "fetched"

    def commit_then_fetch() -> None:
        session.add(_new_school("lp-late"))
        session.commit()
        off_loop()

    def commit_then_write_again() -> None:
        session.add(_new_school("lp-a1"))
        session.commit()
        session.add(_new_school("lp-a2"))
        session.commit()

    try:
        assert anyio.run(quick, session, write_then_fetch) == "fetched"
        assert len(runs) == 2 and runs[1] is not threading.main_thread()
        with pytest.raises(RuntimeError):
            anyio.run(quick, session, commit_then_fetch)
        session.rollback()
        with pytest.raises(RuntimeError):
            anyio.run(quick, session, commit_then_write_again)
        session.rollback()
        with rt.database.session() as check:
            codes = set(check.scalars(select(Establishment.code)))
        # The first run's write was undone; the second's landed.
        assert "lp-n1" not in codes and "lp-n2" in codes
        assert "lp-a2" not in codes
    finally:
        session.close()
        rt.close()


def test_a_quick_call_inside_a_transaction_or_from_a_command_goes_to_a_thread(
    settings: Settings, school: str
) -> None:
    """A session already in a transaction (which may hold the write lock) is a holder: its
    calls are never run again, they go to a worker thread as they always did; so do those
    of a command's runtime, which has no bound on threads."""
    server = _server(settings)
    command = build_runtime(settings)
    where: list[threading.Thread] = []

    def note() -> int:
        where.append(threading.current_thread())
        return len(where)

    async def holder_then_command() -> threading.Thread:
        holder = server.database.unit_of_work().session
        try:
            await in_thread(holder, holder.execute, text("UPDATE establishments SET name = 'H'"))
            await quick(holder, note)
        finally:
            await in_thread(holder, holder.rollback)
            holder.close()
        session = command.database.unit_of_work().session
        try:
            await quick(session, note)
        finally:
            session.close()
        return threading.current_thread()

    try:
        loop_thread = anyio.run(holder_then_command)
        assert len(where) == 2 and loop_thread not in where
    finally:
        server.close()
        command.close()


def test_quick_calls_one_after_another_take_the_same_sqlite_connection(
    sqlite_settings: Settings,
) -> None:
    """The event loop's calls come one at a time: each takes the connection the last one
    gave back (last in, first out), whose page cache holds what that call changed. Taken
    in turn, each would find the pages the others changed stale and read them again."""
    rt = _server(sqlite_settings)
    used: list[object] = []

    def note_and_read(session: Session) -> None:
        used.append(session.connection().connection.dbapi_connection)
        session.execute(text("SELECT count(*) FROM establishments"))
        session.commit()

    async def scenario() -> None:
        # Three connections in the pool, given back one after the other.
        # (Readers: writers would wait for each other's lock.)
        held = [rt.database.unit_of_work(write=False).session for _ in range(3)]
        for session in held:
            await in_thread(session, session.execute, text("SELECT 1"))
        for session in held:
            await in_thread(session, session.close)
        for _ in range(3):
            session = rt.database.unit_of_work(write=False).session
            try:
                await quick(session, note_and_read, session)
            finally:
                session.close()

    try:
        anyio.run(scenario)
        assert len(used) == 3
        assert used[0] is used[1] is used[2]
    finally:
        rt.close()
