"""One unit of work per HTTP request: opened when the route's handler starts, carried on
the request, committed once when the handler has returned (before the response is sent, so
a module never receives a code or token that is not yet stored), rolled back if it raises."""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import anyio
from sqlalchemy.orm import Session
from starlette.requests import Request
from starlette.responses import Response

from idp.db import UnitOfWork, in_thread, quick

Endpoint = Callable[[Request], Awaitable[Response]]
T = TypeVar("T")


def work_of(request: Request) -> UnitOfWork:
    """The request's unit of work, whose session is opened at first use."""
    uow: UnitOfWork = request.state.uow
    return uow


def db(request: Request) -> Session:
    """The request's database session (its transaction begins at the first statement)."""
    return work_of(request).session


async def run_and_commit(request: Request, call: Callable[..., T], *args: Any) -> T:
    """Run the handler's last database work and commit it in the same call (`quick`: on the
    event loop where it can, else in a worker thread): on SQLite the write lock is then
    held for that call alone, not also while the event loop gets round to committing.
    Nothing may be written through the request after this."""
    uow: UnitOfWork = request.state.uow

    def call_and_commit() -> T:
        result = call(*args)
        uow.commit()
        return result

    return await quick(uow.session, call_and_commit)


def _finish(uow: UnitOfWork, *, commit: bool) -> None:
    try:
        if commit:
            uow.commit()
        else:
            uow.rollback()
    finally:
        uow.close()


def _read_form(request: Request) -> bool:
    # Starlette keeps a parsed form in `_form` (what `Request.close` looks at).
    return getattr(request, "_form", None) is not None


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
                await in_thread(uow.session, functools.partial(_finish, uow, commit=False))
            raise
        finally:
            # Files of a multipart form, whether the handler used them or not (Starlette
            # leaves a parsed form open; its temporary files would wait for the collector).
            # Only a request whose form was read has any (the shielded scope costs a
            # twentieth of a cheap request).
            if _read_form(request):
                with anyio.CancelScope(shield=True):
                    await request.close()
        if uow.in_transaction:
            await in_thread(uow.session, functools.partial(_finish, uow, commit=True))
        else:
            uow.close()  # nothing left to commit (run_and_commit did): no worker thread
        return response

    return handle
