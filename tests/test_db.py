"""idp/db.py: how many connections a process keeps, and reads that end their own\ntransaction."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import anyio
import pytest
from sqlalchemy import func, select, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from idp.db import read
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
