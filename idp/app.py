"""create_app: the one place where the provider is assembled."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Any

import anyio
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.types import ASGIApp

from idp.clock import Clock
from idp.errors import IdpError
from idp.mail import Mailer
from idp.metrics import Metrics
from idp.oauth.registry import Servers
from idp.purge import purge
from idp.runtime import Runtime, build_runtime
from idp.security.cookies import Cookies
from idp.security.csrf import Csrf
from idp.security.encryption import Cipher
from idp.security.signing import Signer
from idp.services.signin import SignIn
from idp.settings import Settings
from idp.web import errors
from idp.web.body_limit import BodyLimit
from idp.web.middleware import SecurityHeaders
from idp.web.request_context import RequestContext
from idp.web.routes import routes

log = logging.getLogger(__name__)


async def _purge_periodically(rt: Runtime, seconds: float) -> None:
    while True:
        await anyio.sleep(seconds)
        try:
            purged = await anyio.to_thread.run_sync(purge, rt)
            log.info("purge: %s", purged)
        except Exception:  # a failed purge must not stop the server; the next one retries
            log.exception("purge failed")


class Provider(Starlette):
    """The application, inside `RequestContext`: Starlette puts its own error handling
    outermost, and the line an unhandled error writes must carry the request's id too."""

    def __init__(self, settings: Settings, metrics: Metrics, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._settings = settings
        self._metrics = metrics

    def build_middleware_stack(self) -> ASGIApp:
        settings = self._settings
        return RequestContext(
            super().build_middleware_stack(),
            trusted=settings.trusted_proxies,
            metrics=self._metrics,
            security=SecurityHeaders(hsts=settings.https),
            https_base=settings.base_url if settings.https else None,
        )


def create_app(
    settings: Settings,
    *,
    clock: Clock | None = None,
    mailer: Mailer | None = None,
    runtime: Runtime | None = None,
) -> Starlette:
    """The ASGI app. `clock` and `mailer` are for tests; `runtime` shares one with a caller."""
    rt = runtime or build_runtime(settings, clock=clock, mailer=mailer, server=True)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async with anyio.create_task_group() as tasks:
            if settings.purge_interval_minutes:
                tasks.start_soon(_purge_periodically, rt, settings.purge_interval_minutes * 60)
            # Back-channel logout notices: this instance's and, by polling, any other's.
            tasks.start_soon(rt.logout.sender.run)
            yield
            # Stopping: the notice being sent finishes, the others go back to the outbox.
            rt.logout.sender.stop()
            tasks.cancel_scope.cancel()
        if runtime is None:
            rt.close()

    app = Provider(
        settings,
        rt.metrics,
        routes=routes(),
        middleware=[Middleware(BodyLimit)],
        exception_handlers={
            HTTPException: errors.http_error,
            IdpError: errors.idp_error,
            # The database away or saturated: a 503 (errors.database_error).
            DBAPIError: errors.database_error,
            PoolTimeout: errors.database_error,
            Exception: errors.server_error,
        },
        lifespan=lifespan,
    )
    app.state.runtime = rt
    app.state.settings = settings
    app.state.directory = rt.directory
    app.state.signin = SignIn(rt)
    app.state.servers = Servers(rt)
    app.state.cookies = Cookies(https=settings.https)
    app.state.csrf = Csrf(settings.secret_key, clock=rt.clock)
    app.state.device_signer = Signer(settings.secret_key, "known-device", rt.clock)
    app.state.session_signer = Signer(settings.secret_key, "session", rt.clock)
    app.state.reveal_cipher = Cipher(settings.secret_key, "reveal-once")
    app.state.ticket_signer = Signer(settings.secret_key, "password-change", rt.clock)
    app.state.flash_signer = Signer(settings.secret_key, "flash", rt.clock)
    return app
