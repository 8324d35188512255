"""The helpers that scope a query to an establishment: `owned` builds the query for one
call; `prepared` builds it once, for the hottest queries, with the establishment's id (and
whatever else varies) as bound parameters, so that SQLAlchemy neither rebuilds the
statement nor recomputes its cache key at every request."""

from __future__ import annotations

import weakref
from collections.abc import Callable
from typing import Any, TypeVar

from sqlalchemy import Connection, CursorResult, Executable, Select, bindparam, select
from sqlalchemy.orm import Session, SessionTransaction

from idp.models import Establishment
from idp.store import plans

M = TypeVar("M")


def owned(model: type[M], establishment: Establishment, *criteria: Any) -> Select[tuple[M]]:
    """`SELECT model WHERE establishment_id = :id AND criteria…`"""
    column = model.establishment_id  # type: ignore[attr-defined]
    return select(model).where(column == establishment.id, *criteria)


def prepared(model: type[M], *criteria: Any) -> Select[tuple[M]]:
    """`SELECT model WHERE establishment_id = :tenant AND criteria…`, the criteria
    naming their values with `bindparam`; run it with `scope(establishment, …)`."""
    column = model.establishment_id  # type: ignore[attr-defined]
    return select(model).where(column == bindparam("tenant"), *criteria)


def scope(establishment: Establishment, **values: Any) -> dict[str, Any]:
    """The parameters of a `prepared` statement: the establishment's id and the values."""
    # Not named after the column: UPDATE statements reserve column names for their SET.
    return {"tenant": establishment.id, **values}


def core(
    session: Session, statement: Executable, params: dict[str, Any]
) -> CursorResult[Any] | plans.Rows:
    """Run a statement that builds no objects (plain columns, or a write by primary key
    or into one table) on the session's connection, in its transaction: the ORM's
    execution layer, which has nothing to do for it, cost a twentieth of an introspection
    request; on SQLite, on its plan (`store/plans.py`), without SQLAlchemy's execution
    layer either. Pending changes are not flushed first: for statements that need none of
    them (they are flushed at the commit)."""
    return plans.run(_connection(session), statement, params)


def _connection(session: Session) -> Connection:
    """`session.connection()`, kept while the session's transaction and its innermost
    SAVEPOINT are the same: asked again at every statement, the session's checks of its
    state cost as much as a planned statement. A new SAVEPOINT (`begin_nested`) asks the
    session again, which is what emits it. Weak references: a strong one to a transaction,
    which refers to its session, would make a cycle through `session.info`."""
    root, nested = session.get_transaction(), session.get_nested_transaction()
    kept = session.info.get(_CONNECTION)
    if (
        kept is not None
        and root is not None
        and kept[0]() is root
        and kept[1]() is nested
        and (nested or root).is_active
    ):
        return kept[2]  # type: ignore[no-any-return]
    connection = session.connection()  # begins the transaction, or the SAVEPOINT
    root, nested = session.get_transaction(), session.get_nested_transaction()
    session.info[_CONNECTION] = (weakref.ref(root), _ref(nested), connection)  # type: ignore[arg-type]
    return connection


def _ref(transaction: SessionTransaction | None) -> Callable[[], SessionTransaction | None]:
    return weakref.ref(transaction) if transaction is not None else _none


def _none() -> None:
    return None


_CONNECTION = "idp.connection"
