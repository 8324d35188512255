"""idp/store/plans.py: on SQLite, the stores' prepared statements run on the DBAPI cursor;
each must read and write exactly what SQLAlchemy would. Every statement a real flow runs
(sign-in, authorization, code, userinfo, introspection, refresh) is recorded, then run
again both ways on the same data and compared."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime

import httpx
import pytest
from sqlalchemy import Insert, Select, insert, literal, select
from sqlalchemy.exc import IntegrityError, StatementError

from idp.models import AuditEvent
from idp.store import codes, plans, sessions, tenancy, throttles, tokens, users
from oauth_support import authorize, callback_params, redeem


@pytest.fixture
def recorded(provider, school_a, module, browser, monkeypatch):  # type: ignore[no-untyped-def]
    calls: list[tuple[object, dict]] = []  # type: ignore[type-arg]
    run = plans.run

    def recording(connection, statement, params):  # type: ignore[no-untyped-def]
        calls.append((statement, dict(params)))
        return run(connection, statement, params)

    monkeypatch.setattr(tenancy.plans, "run", recording)
    answer, verifier = authorize(browser, provider, school_a, module.client_id,
                                 scope="openid profile offline_access")  # fmt: skip
    issued = redeem(provider, school_a, module, callback_params(answer)["code"], verifier)
    issuer = provider.issuer(school_a)
    bearer = {"Authorization": f"Bearer {issued['access_token']}"}
    secret = (module.client_id, module.client_secret)
    with httpx.Client() as http:
        assert http.get(f"{issuer}/oidc/userinfo", headers=bearer).status_code == 200
        seen = http.post(f"{issuer}/oidc/introspect", data={"token": issued["access_token"]},
                         auth=secret).json()  # fmt: skip
        assert seen["active"] is True
        refreshed = http.post(f"{issuer}/oidc/token", auth=secret, data={
            "grant_type": "refresh_token", "refresh_token": issued["refresh_token"]})  # fmt: skip
        assert refreshed.status_code == 200, refreshed.text
    monkeypatch.undo()
    return calls


def test_every_statement_reads_and_writes_as_through_sqlalchemy(provider, recorded):  # type: ignore[no-untyped-def]
    statements = {id(statement): statement for statement, _ in recorded}
    dialect = provider.rt.database.engine.dialect
    if not provider.rt.settings.is_sqlite:
        # PostgreSQL: every statement goes through SQLAlchemy.
        assert len(recorded) >= 8
        assert all(plans.plan(s, p, dialect) is None for s, p in recorded)
        return
    # The flow's hottest statements each have a plan (not all sent back to SQLAlchemy).
    hot = (sessions._LIVE_VIEW, codes._INSERT, codes._CLAIM, codes._REDEEMED, tokens._INSERT,
           tokens._BEARER, tokens._INTROSPECTED_BY_JTI, tokens._REFRESHING,
           # the sign-in's
           users._SIGN_IN_BY_LOGIN, users._SIGN_IN_BY_ID, users._SIGNED_IN, sessions._ADD,
           throttles._BLOCKED_UNTIL, throttles._RESET)  # fmt: skip
    for statement in hot:
        assert id(statement) in statements
        params = next(p for s, p in recorded if s is statement)
        assert plans.plan(statement, params, dialect) is not None, statement

    compared = wrote = returned = 0
    for statement, params in recorded:
        chosen = plans.plan(statement, params, dialect)
        if chosen is None:
            continue
        inserts = isinstance(statement, Insert)
        if inserts:  # again, with fresh values where a column is unique (hashes, jti)
            params = {k: fresh(v) for k, v in params.items()}
        # Each way in its own transaction, rolled back: the same data for both. A write is
        # compared by its row count and, for an INSERT, the row as stored.
        with provider.rt.database.session() as session:
            dbapi = session.connection().connection.dbapi_connection
            ours = chosen.run(dbapi, params)
            # A query's rows, or an UPDATE's RETURNING.
            returns = chosen.row is not None
            rows = list(ours) if returns else []
            mine = [tuple(row) for row in rows] if returns else None
            stored = last_row(dbapi, statement) if inserts else None
            session.rollback()
        with provider.rt.database.session() as session:
            theirs = session.connection().execute(statement, params)
            if returns:
                their_rows = list(theirs)
                its = [tuple(row) for row in their_rows]
                assert mine == its, statement
                # The same names: what the stores read by name (`row.client_id`).
                assert [r._fields for r in rows] == [r._fields for r in their_rows]
                # The same types too: aware datetimes, booleans, decoded JSON.
                for a, b in zip(mine, its, strict=True):
                    assert [type(v) for v in a] == [type(v) for v in b]
                    assert all(v.tzinfo is UTC for v in a if isinstance(v, datetime))
                returned += not isinstance(statement, Select)
            else:
                # A claim already made touches nothing again, either way.
                assert ours.rowcount == theirs.rowcount, statement
                wrote += ours.rowcount
            if inserts:
                dbapi = session.connection().connection.dbapi_connection
                assert stored == last_row(dbapi, statement)
                assert ours.inserted_primary_key == theirs.inserted_primary_key
            session.rollback()
        compared += 1
    assert compared >= len(hot) and wrote >= 3  # the INSERTs at least
    assert returned >= 1  # the sign-in's count of an attempt (throttles)


def fresh(value):  # type: ignore[no-untyped-def]
    if isinstance(value, str) and len(value) >= 20 and value.isalnum():
        return secrets.token_hex(len(value))[: len(value)]
    return value


def last_row(dbapi, statement) -> tuple:  # type: ignore[no-untyped-def,type-arg]
    table = statement.table.name
    row = dbapi.execute(f"SELECT * FROM {table} WHERE rowid = last_insert_rowid()").fetchone()
    return tuple(row)[1:]  # without the id it was given


def test_a_read_by_name_and_a_second_column_of_the_same_name(provider, recorded):  # type: ignore[no-untyped-def]
    statement, params = next((s, p) for s, p in recorded if s is tokens._INTROSPECTED_BY_JTI)
    with provider.rt.database.session() as session:
        row = tenancy.core(session, statement, params).one_or_none()
        assert row.client_id and row.enabled is True and row.active is True
        # The session's `id` after the user's: by position, as SQLAlchemy's rows.
        live = next((s, p) for s, p in recorded if s is sessions._LIVE_VIEW)
        first = tenancy.core(session, *live).one_or_none()
        assert isinstance(first[0], int) and isinstance(first[9], int) and first.id == first[0]


def test_a_write_refused_by_the_database_is_sqlalchemys_error(provider, recorded):  # type: ignore[no-untyped-def]
    """The stores catch IntegrityError (a code hash taken twice, say): a plan raises it,
    and, as SQLAlchemy's engines here, without the values in its message (a server error
    is logged with it)."""
    statement, params = next((s, p) for s, p in recorded if s is codes._INSERT)
    with provider.rt.database.session() as session:
        with pytest.raises(IntegrityError) as refused:
            tenancy.core(session, statement, params)  # the same code_hash again
        session.rollback()
        assert "parameters hidden" in str(refused.value)
        if provider.rt.settings.is_sqlite:  # PostgreSQL's own DETAIL names the key's value
            assert params["code_hash"] not in str(refused.value)
        # A value refused before it reaches the database (a datetime without its zone).
        live, values = next((s, p) for s, p in recorded if s is sessions._LIVE_VIEW)
        naive = {**values, "now": datetime(2026, 9, 1, 8, 0)}
        with pytest.raises(StatementError) as wrong:
            tenancy.core(session, live, naive)
        assert values["token_hash"] not in str(wrong.value)


def test_a_statement_with_a_value_left_to_compute_goes_through_sqlalchemy(provider):  # type: ignore[no-untyped-def]
    dialect = provider.rt.database.engine.dialect
    values = {"establishment_id": 1, "at": datetime.now(UTC), "type": "x"}
    # AuditEvent's `details` comes from its column default when not given: no plan.
    assert plans.plan(insert(AuditEvent), values, dialect) is None
    # Given, nothing is left to compute: a plan (on SQLite).
    planned = plans.plan(insert(AuditEvent), {**values, "details": {}}, dialect)
    assert (planned is not None) == provider.rt.settings.is_sqlite


def test_statements_built_at_each_call_are_not_kept_without_end(provider):  # type: ignore[no-untyped-def]
    with provider.rt.database.session() as session:
        for n in range(plans._MOST + 50):
            built = select(literal(n))  # a new statement each time, as a careless caller would
            assert tenancy.core(session, built, {}).first()[0] == n
        kept = session.connection().connection.info[plans._PLANS]
        assert len(kept) == plans._MOST
