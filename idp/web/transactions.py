"""One unit of work per HTTP request: opened when the route's handler starts, carried on
the request, committed once when the handler has returned (before the response is sent, so
a module never receives a code or token that is not yet stored), rolled back if it raises."""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable

import anyio
from sqlalchemy.orm import Session
from starlette.requests import Request
from starlette.responses import Response

from idp.db import UnitOfWork

Endpoint = Callable[[Request], Awaitable[Response]]


def db(request: Request) -> Session:
    """The request's database session (its transaction begins at the first statement)."""
    uow: UnitOfWork = request.state.uow
    return uow.session


def _finish(uow: UnitOfWork, *, commit: bool) -> None:
    try:
        if commit:
            uow.commit()
        else:
            uow.rollback()
    finally:
        uow.close()


def unit_of_work(endpoint: Endpoint, *, write: bool = True) -> Endpoint:
    """Wrap a handler. `write=False` for handlers that only read: on SQLite they never wait
    for the write lock, and a write by mistake fails at once on both databases."""

    @functools.wraps(endpoint)
    async def handle(request: Request) -> Response:
        database = request.app.state.runtime.database
        uow = database.unit_of_work(write=write)
        request.state.uow = uow
        try:
            with database.opened(uow):
                response = await endpoint(request)
        except BaseException:
            if not uow.started:
                raise
            with anyio.CancelScope(shield=True):
                await anyio.to_thread.run_sync(functools.partial(_finish, uow, commit=False))
            raise
        if uow.started:
            await anyio.to_thread.run_sync(functools.partial(_finish, uow, commit=True))
        return response

    return handle
