"""Entry point for ASGI servers: `uvicorn --factory idp.asgi:app`."""

from __future__ import annotations

from starlette.applications import Starlette

from idp import logs
from idp.app import create_app
from idp.settings import Settings


def app() -> Starlette:
    settings = Settings.from_env()
    logs.configure(settings.log_level, settings.log_format)
    return create_app(settings)
