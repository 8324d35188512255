"""The hottest prepared statements on SQLite, run on the DBAPI cursor itself.

A statement built once (`tenancy.prepared` and the module-level statements of the stores)
is compiled once per set of parameter names into a plan: its SQL, the order of its
parameters with their bind processors, and its columns' result processors, all taken from
SQLAlchemy's dialect so that the values sent and read are the ones SQLAlchemy would send
and read. SQLAlchemy's execution layer, which has nothing to decide for such a statement,
cost 25–50 µs a statement, two to four times SQLite's own work (an SSO flow runs six).

A statement gets no plan, and goes through SQLAlchemy, when anything is left to decide at
execution: a value computed by a column default, an INSERT's RETURNING, an expanding IN, a
parameter neither given nor fixed in the statement (a literal's), an INSERT into a table
not keyed by one integer column (SQLite's rowid). An UPDATE's or DELETE's RETURNING is
read as a query's rows. On PostgreSQL every statement goes through SQLAlchemy: there each
is a round trip, and SQLAlchemy handles a lost connection. Errors are SQLAlchemy's own
exception classes, made as SQLAlchemy makes them.
"""

from __future__ import annotations

import sqlite3
from collections import namedtuple
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from sqlalchemy import exc
from sqlalchemy.engine import Connection, Dialect
from sqlalchemy.sql import Delete, Executable, Insert, Select, Update

Processor = Callable[[Any], Any] | None


class Rows:
    """What the stores ask of a result: its rows, one or none of them, the first, the
    number of rows a write touched, and the id of the row an INSERT made."""

    __slots__ = ("_rows", "inserted_primary_key", "rowcount")

    def __init__(self, rows: list[Any], rowcount: int, lastrowid: int | None = None) -> None:
        self._rows, self.rowcount = rows, rowcount
        self.inserted_primary_key = (lastrowid,)

    def __iter__(self) -> Iterator[Any]:
        return iter(self._rows)

    def all(self) -> list[Any]:
        return list(self._rows)

    def first(self) -> Any:
        return self._rows[0] if self._rows else None

    def one_or_none(self) -> Any:
        if len(self._rows) > 1:
            raise exc.MultipleResultsFound("Multiple rows were found when one or none was required")
        return self.first()


class Plan:
    __slots__ = ("_dialect", "_hide", "binds", "fixed", "processors", "row", "sql")

    def __init__(
        self,
        sql: str,
        binds: Sequence[tuple[str, Processor]],
        processors: Sequence[Processor] | None,
        keys: Sequence[str] | None,
        dialect: Dialect,
        hide: bool,
        fixed: dict[str, Any] | None = None,
    ) -> None:
        self.sql, self.binds, self._dialect = sql, tuple(binds), dialect
        # The values the statement holds itself (`values(failures=0)`, a CASE's 1), which
        # the caller does not give: sent with the others, through the same processors.
        self.fixed = fixed or None
        # As the engine's `hide_parameters`: an error's message shows no values (hashes).
        self._hide = hide
        # None: a write, which returns no rows. A tuple: a query, the processor of each
        # column (None where a value is read as SQLite gives it).
        self.processors = tuple(processors) if processors is not None else None
        self.row = namedtuple("Row", keys, rename=True) if keys is not None else None  # type: ignore[misc]

    def run(self, dbapi: sqlite3.Connection, params: dict[str, Any]) -> Rows:
        args: tuple[Any, ...] | dict[str, Any] = params
        if self.fixed is not None:
            params = {**self.fixed, **params}
        try:
            args = tuple(params[n] if bind is None else bind(params[n]) for n, bind in self.binds)
            cursor = dbapi.execute(self.sql, args)
            raw = cursor.fetchall() if self.row is not None else ()
        except Exception as error:
            # As SQLAlchemy raises them: the DBAPI's errors as DBAPIError's subclasses
            # (IntegrityError, OperationalError…), a value refused on its way in as a
            # StatementError.
            raise exc.DBAPIError.instance(
                self.sql, args, error, sqlite3.Error, hide_parameters=self._hide,
                dialect=self._dialect,
            ) from error  # fmt: skip
        if self.row is None:
            return Rows([], cursor.rowcount, cursor.lastrowid)
        # A query's rowcount is SQLite's -1; an UPDATE's RETURNING, the rows it touched.
        make, processors, count = self.row._make, self.processors, cursor.rowcount
        if not any(processors):  # type: ignore[arg-type]
            return Rows([make(values) for values in raw], count)
        return Rows(
            [
                make([v if p is None else p(v) for p, v in zip(processors, values, strict=True)])  # type: ignore[arg-type]
                for values in raw
            ],
            count,
        )


def run(connection: Connection, statement: Executable, params: dict[str, Any]) -> Any:
    """Run a statement in the connection's transaction: on its plan where it has one, else
    through SQLAlchemy. The plans are kept with the DBAPI connection (its pool record's
    `info`), by statement and parameter names (an INSERT's columns are the names given);
    the statements are module-level constants, kept beside their plans so that `id`
    names each one for as long as the plan lives."""
    fairy = connection.connection
    plans = fairy.info.get(_PLANS)
    if plans is None:
        plans = fairy.info[_PLANS] = {}
    key = (id(statement), tuple(params))
    found = plans.get(key)
    if found is None:
        if len(plans) >= _MOST:
            # Statements built afresh at each call, not constants: nothing more is kept.
            return connection.execute(statement, params)
        chosen = plan(statement, params, connection.dialect, hide=connection.engine.hide_parameters)
        found = plans[key] = (statement, chosen)
    if found[1] is None:
        return connection.execute(statement, params)
    return found[1].run(fairy.dbapi_connection, params)  # type: ignore[arg-type]


_PLANS = "idp.plans"
# The stores have about thirty such statements.
_MOST = 256


def plan(
    statement: Executable, params: dict[str, Any], dialect: Dialect, *, hide: bool = True
) -> Plan | None:
    """The plan of a statement for these parameter names, or None where SQLAlchemy has
    something to decide at execution."""
    if dialect.name != "sqlite":
        return None
    compiled = statement.compile(dialect=dialect, column_keys=list(params))  # type: ignore[attr-defined]
    names = compiled.positiontup
    returning = getattr(compiled, "effective_returning", None)
    if (
        names is None
        or compiled.insert_prefetch
        or compiled.update_prefetch
        or compiled.post_compile_params
        or compiled.literal_execute_params
        or (returning and not isinstance(statement, Update | Delete))
    ):
        return None
    fixed = {}
    for name in names:
        if name not in params:
            bind = compiled.binds[name]
            if bind.required or bind.callable is not None:
                return None  # a parameter not given
            fixed[name] = bind.value
    if isinstance(statement, Insert) and not _one_rowid(statement, params):
        return None
    binds = [(name, _bind_processor(compiled.binds[name], dialect)) for name in names]
    if isinstance(statement, Select):
        columns = list(statement.selected_columns)
        # As SQLAlchemy's rows: by position, and by name (a second `id` is `id_1` in both).
        keys = list(statement.selected_columns.keys())
    elif returning:
        columns, keys = list(returning), list(statement.exported_columns.keys())
    else:
        return Plan(compiled.string, binds, None, None, dialect, hide, fixed)
    if len(keys) != len(columns):
        return None
    processors = [
        column.type.dialect_impl(dialect).result_processor(dialect, None) for column in columns
    ]
    return Plan(compiled.string, binds, processors, keys, dialect, hide, fixed)


def _one_rowid(statement: Insert, params: dict[str, Any]) -> bool:
    """An INSERT into a table keyed by one integer column it leaves to SQLite: the row's
    id, as `inserted_primary_key` gives it, is the cursor's `lastrowid`."""
    key = list(statement.table.primary_key)  # type: ignore[attr-defined]
    return len(key) == 1 and key[0].key not in params and key[0].type.python_type is int


def _bind_processor(bind: Any, dialect: Dialect) -> Processor:
    return bind.type.dialect_impl(dialect).bind_processor(dialect)  # type: ignore[no-any-return]
