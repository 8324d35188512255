"""idp/db.py: how many connections a process keeps."""

from __future__ import annotations

from dataclasses import replace

from sqlalchemy import text

from idp.runtime import build_runtime
from idp.settings import Settings


def test_postgresql_keeps_the_configured_number_of_connections(
    postgres_url: str, settings: Settings
) -> None:
    rt = build_runtime(replace(settings, database_url=postgres_url, database_pool_size=7))
    try:
        pool = rt.database.engine.pool
        # Kept, and as many again in a burst: within PostgreSQL's own limit for every worker.
        assert (pool.size(), pool._max_overflow) == (7, 7)  # type: ignore[attr-defined]
        with rt.database.session() as session:
            assert session.execute(text("SELECT 1")).scalar() == 1
    finally:
        rt.close()
