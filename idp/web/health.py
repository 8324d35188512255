"""Probes for the load balancer and the orchestrator."""

from __future__ import annotations

import logging

from sqlalchemy.exc import SQLAlchemyError
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from idp import schema
from idp.web.rendering import runtime

log = logging.getLogger(__name__)
_NO_STORE = {"Cache-Control": "no-store"}


async def healthz(request: Request) -> Response:
    """The process is up and serving."""
    return JSONResponse({"status": "ok"}, headers=_NO_STORE)


async def readyz(request: Request) -> Response:
    """The database answers and its schema is the one this code expects."""
    database = runtime(request).database
    try:
        up_to_date = await run_in_threadpool(schema.is_up_to_date, database.engine)
    except SQLAlchemyError as exc:
        log.warning("readyz: database unreachable: %s", type(exc).__name__)
        return JSONResponse(
            {"status": "unavailable", "database": "unreachable"}, 503, headers=_NO_STORE
        )
    if not up_to_date:
        return JSONResponse(
            {"status": "unavailable", "database": "schema not up to date: run `idp db upgrade`"},
            503,
            headers=_NO_STORE,
        )
    if not await run_in_threadpool(_keys_open, request):
        log.error("readyz: the signing keys do not decrypt with this instance's IDP_SECRET_KEY")
        return JSONResponse(
            {
                "status": "unavailable",
                "database": "ok",
                "keys": "the signing keys do not decrypt with this IDP_SECRET_KEY",
            },
            503,
            headers=_NO_STORE,
        )
    return JSONResponse({"status": "ok", "database": "ok", "keys": "ok"}, headers=_NO_STORE)


def _keys_open(request: Request) -> bool:
    rt = runtime(request)
    with rt.database.session(write=False) as session:
        return bool(rt.keys.decrypts(session))
