"""The cache generation: one number that every change to cached data moves (idp.caches)."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from idp.models import CacheGeneration

_ROW = 1


def current(session: Session) -> int:
    return session.scalar(select(CacheGeneration.value).where(CacheGeneration.id == _ROW)) or 0


def bump(session: Session) -> None:
    # An upsert: the row is made by the migration, but a restored or truncated table must
    # not silently stop every instance from seeing changes.
    dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    statement = dialect.insert(CacheGeneration).values(id=_ROW, value=1)
    session.execute(
        statement.on_conflict_do_update(
            index_elements=[CacheGeneration.id], set_={"value": CacheGeneration.value + 1}
        )
    )
