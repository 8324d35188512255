"""Alembic environment: run by idp.schema, which passes the connection in."""

from __future__ import annotations

from alembic import context

import idp.models  # noqa: F401 - registers the tables on Base.metadata
from idp.db import Base

connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    # SQLite cannot ALTER most things; batch mode rebuilds the table instead.
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
