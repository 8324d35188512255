"""Entry point for ASGI servers: `uvicorn --factory idp.asgi:app`."""

from __future__ import annotations

import logging

from starlette.applications import Starlette

from idp.app import create_app
from idp.settings import Settings


def app() -> Starlette:
    settings = Settings.from_env()
    logging.basicConfig(level=settings.log_level, format="%(levelname)s %(name)s: %(message)s")
    return create_app(settings)
